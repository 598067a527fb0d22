"""Bare repositories for tests, built and inspected with the ``git`` CLI.

The adapter under test talks to these through pygit2; the tests observe them through
the real ``git`` so that a bug in how we use pygit2 cannot hide itself. Every command
runs with an isolated environment (own HOME, no system or global config) so that the
developer's gitconfig never changes an outcome.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

GIT_USER = "Test Human"
GIT_EMAIL = "human@example.com"


def git_env(home: Path) -> dict[str, str]:
    """An environment for ``git`` that ignores every config file outside the test."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") and key not in {"HOME", "XDG_CONFIG_HOME"}
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        LC_ALL="C",
    )
    return env


def run_git(
    *args: str,
    cwd: Path,
    home: Path,
    input: bytes | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> bytes:
    """Run ``git`` with a fixed identity; return stdout, raise with stderr on failure."""
    env = git_env(home)
    if extra_env:
        env.update(extra_env)
    cmd = ["git", "-c", f"user.name={GIT_USER}", "-c", f"user.email={GIT_EMAIL}", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, input=input, capture_output=True,
                          check=False, timeout=60)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}"
        )
    return proc.stdout


@dataclass
class BareRepo:
    """A bare repository on disk standing in for the remote (GitHub, Gitea, ...)."""

    path: Path
    home: Path
    branch: str = "main"

    def git(self, *args: str, input: bytes | None = None,
            extra_env: Mapping[str, str] | None = None) -> bytes:
        return run_git(*args, cwd=self.path, home=self.home, input=input, extra_env=extra_env)

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def head(self, branch: str | None = None) -> str:
        return self.git("rev-parse", f"refs/heads/{branch or self.branch}").decode().strip()

    def show(self, rev: str, path: str) -> bytes:
        return self.git("cat-file", "blob", f"{rev}:{path}")

    def subjects(self, rev: str | None = None) -> list[str]:
        out = self.git("log", "--format=%s", rev or f"refs/heads/{self.branch}")
        return out.decode().splitlines()

    def has_object(self, sha: str) -> bool:
        proc = subprocess.run(["git", "cat-file", "-e", sha], cwd=self.path,
                              env=git_env(self.home), capture_output=True, check=False)
        return proc.returncode == 0

    def commit(
        self,
        files: Mapping[str, bytes | str],
        message: str,
        *,
        branch: str | None = None,
        symlinks: Mapping[str, str] | None = None,
        executables: Mapping[str, bytes | str] | None = None,
        gitlinks: Mapping[str, str] | None = None,
        delete: tuple[str, ...] = (),
        when: datetime | None = None,
    ) -> str:
        """What a human pushing to the remote does: a new commit on ``branch``.

        Built with plumbing straight into the bare repository (no clone, no push), so
        no server hook runs: this is the other writer racing the reconciler.
        ``when``: the commit's author and committer time (default: now).
        """
        ref = f"refs/heads/{branch or self.branch}"
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            parent = self.git("rev-parse", ref).decode().strip() if self._has_ref(ref) else ""
            if parent:
                self.git("read-tree", parent, extra_env=env)
            entries = [("100644", name, data) for name, data in files.items()]
            entries += [("100755", name, data) for name, data in (executables or {}).items()]
            entries += [("120000", name, target) for name, target in (symlinks or {}).items()]
            for mode, name, content in entries:
                data = content.encode() if isinstance(content, str) else content
                blob = self.git("hash-object", "-w", "--stdin", input=data).decode().strip()
                self.git("update-index", "--add", "--cacheinfo", f"{mode},{blob},{name}",
                         extra_env=env)
            for name, sha in (gitlinks or {}).items():
                self.git("update-index", "--add", "--cacheinfo", f"160000,{sha},{name}",
                         extra_env=env)
            if delete:
                # --force-remove needs a work tree; --index-info with mode 0 does not.
                removals = "".join(f"0 {'0' * 40}\t{name}\n" for name in delete)
                self.git("update-index", "--index-info", input=removals.encode(),
                         extra_env=env)
            tree = self.git("write-tree", extra_env=env).decode().strip()
            parents = ["-p", parent] if parent else []
            dated = {} if when is None else {
                "GIT_AUTHOR_DATE": f"@{int(when.timestamp())} +0000",
                "GIT_COMMITTER_DATE": f"@{int(when.timestamp())} +0000"}
            sha = self.git("commit-tree", tree, *parents, "-m", message,
                           extra_env=dated).decode().strip()
            old = parent or "0" * 40
            self.git("update-ref", ref, sha, old)
        return sha

    def _has_ref(self, ref: str) -> bool:
        proc = subprocess.run(["git", "show-ref", "--verify", "--quiet", ref], cwd=self.path,
                              env=git_env(self.home), capture_output=True, check=False)
        return proc.returncode == 0

    def install_hook(self, name: str, script: str) -> Path:
        """Install a server-side hook (``pre-receive``, ``update``...), executable."""
        hook = self.path / "hooks" / name
        hook.parent.mkdir(exist_ok=True)
        hook.write_text(script)
        hook.chmod(0o755)
        return hook


def make_bare_repo(
    path: Path,
    files: Mapping[str, bytes | str],
    *,
    home: Path,
    branch: str = "main",
    message: str = "initial",
    symlinks: Mapping[str, str] | None = None,
) -> BareRepo:
    """A bare repository whose ``branch`` holds one commit with ``files``.

    ``receive.denyNonFastForwards`` is on, as on any protected branch, so a force push
    fails loudly instead of silently rewriting history.
    """
    path.mkdir(parents=True)
    run_git("init", "--quiet", "--bare", f"--initial-branch={branch}", ".", cwd=path, home=home)
    repo = BareRepo(path=path, home=home, branch=branch)
    repo.git("config", "receive.denyNonFastForwards", "true")
    repo.git("config", "receive.denyDeletes", "true")
    # http-backend refuses pushes unless told otherwise when REMOTE_USER is unset;
    # the test server always authenticates, but be explicit.
    repo.git("config", "http.receivepack", "true")
    repo.commit(files, message, symlinks=symlinks)
    return repo
