"""A bare repository's branch and trees, read with the git CLI, for the Flux stand-in.

Where it fits: ``emulator.flux`` plays source-controller fetching a GitRepository,
and kustomize-controller unpacking the artifact; this module is that fetch. The
emulator must not import pygit2 (an import-linter contract keeps it out), so the
``git`` command does the reading. Only regular files are listed: a symlink or a
submodule is not part of what the stand-in builds from.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from functools import partial
from pathlib import Path

__all__ = ["head_of", "tree_of"]

_TIMEOUT = 30


def head_of(repo: Path, branch: str = "main") -> str:
    """The commit ``branch`` points at in the bare repository ``repo`` (git CLI)."""
    out = subprocess.run(["git", "--git-dir", str(repo), "rev-parse", f"refs/heads/{branch}"],
                         capture_output=True, text=True, check=True, timeout=10)
    return out.stdout.strip()


def tree_of(repo: Path, commit: str, *, blobs: dict[str, bytes] | None = None,
            ) -> dict[str, Callable[[], bytes]]:
    """Every regular file of ``commit``: path -> a reader of its content (read on
    demand, since a build touches only the files under its path; ``blobs`` caches
    contents by object id across commits)."""
    out = subprocess.run(["git", "--git-dir", str(repo), "ls-tree", "-r", "-z", "--full-tree",
                          commit], capture_output=True, check=True, timeout=_TIMEOUT)
    files: dict[str, Callable[[], bytes]] = {}
    for entry in out.stdout.split(b"\0"):
        if not entry:
            continue
        info, _, raw_path = entry.partition(b"\t")
        mode, kind, sha = info.split(b" ")
        if kind != b"blob" or mode not in (b"100644", b"100755"):
            continue
        path = raw_path.decode("utf-8", errors="replace")
        files[path] = partial(_blob, repo, sha.decode(), blobs if blobs is not None else {})
    return files


def _blob(repo: Path, sha: str, cache: dict[str, bytes]) -> bytes:
    if sha not in cache:
        out = subprocess.run(["git", "--git-dir", str(repo), "cat-file", "blob", sha],
                             capture_output=True, check=True, timeout=_TIMEOUT)
        if len(cache) > 2000:
            cache.clear()
        cache[sha] = out.stdout
    return cache[sha]
