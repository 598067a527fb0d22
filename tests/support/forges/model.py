"""What every forge stand-in keeps: repositories, pull requests, checks, and git itself.

The three stand-ins (``github.py``, ``gitlab.py``, ``gitea.py`` beside this module) differ
in URLs, JSON shapes and status codes; what a pull request *is* does not differ, so it
lives here once. The git side is real: each repository is a bare repository on disk
(``tests.support.gitrepo.BareRepo``), a pull request's head is whatever its branch
points to there (so a person's push shows up at once), mergeability is computed with
``git merge-tree``, and a merge is made with the ``git`` CLI in a temporary clone and
pushed to the base branch, so a test can fetch the result and look at its shape.

Mergeability is computed "in the background" as the forges do: after the head or the
base moves, the next ``compute_reads`` single reads of the pull request answer
"computing" (GitHub ``mergeable: null``, GitLab ``checking``, Gitea ``false``).
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tests.support.gitrepo import BareRepo, git_env

BOT = "reconciler-bot"
"""The login the stand-ins' one valid token belongs to."""
PASSED_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})


class Refused(Exception):
    """A merge the forge refuses; ``reason`` is one of the words below, each forge maps it
    to its own status code and message."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason  # not_open, stale, computing, conflict, unmergeable, checks,
        self.detail = detail  # method, need_rebase
        super().__init__(f"{reason}: {detail}")


@dataclass
class Check:
    """A commit status, a check run (``state`` = run status, plus ``conclusion``) or a
    GitLab pipeline, on ``sha``."""

    sha: str
    name: str
    kind: str
    state: str
    conclusion: str | None = None
    id: int = 0

    @property
    def passed(self) -> bool:
        if self.kind == "check-run":
            return self.state == "completed" and self.conclusion in PASSED_CONCLUSIONS
        return self.state == "success"


@dataclass
class Review:
    """A person's review of a pull request at one commit (GitHub ``state`` words:
    APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED; each stand-in spells its own)."""

    user: str
    state: str
    commit_id: str
    submitted_at: str
    id: int = 0
    dismissed: bool = False


@dataclass
class Pull:
    number: int
    title: str
    body: str
    head: str
    base: str
    author: str
    created_at: str
    updated_at: str
    state: str = "open"
    merged: bool = False
    merge_commit_sha: str | None = None
    squash_commit_sha: str | None = None
    merged_head_sha: str | None = None
    merged_by: str | None = None
    closed_by: str | None = None
    closed_at: str | None = None
    merged_at: str | None = None
    labels: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    unmergeable: bool = False
    computed_for: tuple[str, str] | None = None
    reads_left: int = 0
    conflict: bool = False
    reviews: list[Review] = field(default_factory=list)


@dataclass
class Repo:
    full_name: str
    bare: BareRepo
    pulls: dict[int, Pull] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    required_checks: list[str] = field(default_factory=list)
    merge_method: str = "merge"
    """GitLab's project setting: ``merge``, ``rebase_merge`` or ``ff``."""
    next_number: int = 1
    next_id: int = 100


class Model:
    """All repositories of one stand-in, behind one lock (the server is threaded)."""

    def __init__(self, *, token: str, compute_reads: int = 1,
                 clock: Callable[[], float] = time.time) -> None:
        self.token = token
        self.compute_reads = compute_reads
        self.clock = clock
        self.repos: dict[str, Repo] = {}
        self.lock = threading.RLock()
        # Told each change a webhook reports: (what, repo, pull request, by whom).
        self.on_change: Callable[[str, Repo, Pull, str], None] = lambda *args: None

    def now(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def add_repo(self, full_name: str, bare: BareRepo) -> Repo:
        repo = Repo(full_name=full_name, bare=bare)
        self.repos[full_name] = repo
        return repo

    def sha(self, repo: Repo, branch: str) -> str | None:
        proc = subprocess.run(["git", "rev-parse", "--verify", "--quiet",
                               f"refs/heads/{branch}"], cwd=repo.bare.path,
                              env=git_env(repo.bare.home), capture_output=True, check=False)
        return proc.stdout.decode().strip() or None

    def head_sha(self, repo: Repo, pull: Pull) -> str:
        if pull.merged and pull.merged_head_sha:
            return pull.merged_head_sha
        return self.sha(repo, pull.head) or ""

    def open_pull(self, repo: Repo, *, title: str, body: str, head: str, base: str) -> Pull:
        now = self.now()
        pull = Pull(number=repo.next_number, title=title, body=body, head=head, base=base,
                    author=BOT, created_at=now, updated_at=now)
        repo.next_number += 1
        repo.pulls[pull.number] = pull
        self.on_change("opened", repo, pull, BOT)
        return pull

    def mergeable(self, repo: Repo, pull: Pull, *, read: bool) -> bool | None:
        """``None`` while computing; a single read (``read``) moves the computation on."""
        if pull.state != "open":
            return False
        key = (self.head_sha(repo, pull), self.sha(repo, pull.base) or "")
        if key != pull.computed_for:
            pull.computed_for = key
            pull.reads_left = self.compute_reads
            pull.conflict = self._conflicts(repo, base=key[1], head=key[0])
        if pull.reads_left > 0:
            if read:
                pull.reads_left -= 1
            return None
        return not (pull.conflict or pull.unmergeable)

    def checks_passed(self, repo: Repo, sha: str) -> bool:
        latest = {check.name: check for check in repo.checks if check.sha == sha}
        return all(name in latest and latest[name].passed for name in repo.required_checks)

    def add_check(self, repo: Repo, *, sha: str, name: str, kind: str, state: str,
                  conclusion: str | None = None) -> Check:
        repo.next_id += 1
        check = Check(sha=sha, name=name, kind=kind, state=state, conclusion=conclusion,
                      id=repo.next_id)
        repo.checks = [c for c in repo.checks
                       if not (c.sha == sha and c.name == name and c.kind == kind)]
        repo.checks.append(check)
        return check

    def review(self, repo: Repo, pull: Pull, *, user: str, state: str = "APPROVED",
               commit_id: str | None = None) -> Review:
        """``user`` reviews ``pull`` at ``commit_id`` (default: its head now)."""
        with self.lock:
            repo.next_id += 1
            found = Review(user=user, state=state,
                           commit_id=commit_id or self.head_sha(repo, pull),
                           submitted_at=self.now(), id=repo.next_id)
            pull.reviews.append(found)
            return found

    def close(self, repo: Repo, pull: Pull, *, by: str) -> None:
        pull.state, pull.closed_by, pull.closed_at = "closed", by, self.now()
        pull.updated_at = pull.closed_at
        self.on_change("closed", repo, pull, by)

    def merge(self, repo: Repo, pull: Pull, *, head_sha: str | None, method: str,
              message: str, refuse_while_computing: bool, by: str = BOT) -> str:
        """Merge with git; ``method``: ``merge``, ``squash``, ``rebase`` (new commits, as
        GitHub), ``rebase-keep`` (plain ``git rebase``, as Gitea), ``ff``, or
        ``squash-merge`` (GitLab's squash on a merge-commit project)."""
        if pull.state != "open":
            raise Refused("not_open", f"pull request is {pull.state}")
        current = self.head_sha(repo, pull)
        if head_sha and head_sha != current:
            raise Refused("stale", current)
        mergeable = self.mergeable(repo, pull, read=False)
        if mergeable is None and refuse_while_computing:
            raise Refused("computing")
        if pull.unmergeable:
            raise Refused("unmergeable")
        if pull.conflict:
            raise Refused("conflict")
        if not self.checks_passed(repo, current):
            raise Refused("checks", ", ".join(repo.required_checks))
        merged, squashed = self._git_merge(repo, pull, method=method, message=message)
        pull.merged, pull.state, pull.merged_by = True, "merged", by
        pull.merge_commit_sha, pull.squash_commit_sha = merged, squashed
        pull.merged_head_sha = current
        pull.merged_at = pull.closed_at = pull.updated_at = self.now()
        self.on_change("merged", repo, pull, by)
        return merged

    def _conflicts(self, repo: Repo, *, base: str, head: str) -> bool:
        if not base or not head:
            return True
        proc = subprocess.run(["git", "merge-tree", "--write-tree", base, head],
                              cwd=repo.bare.path, env=git_env(repo.bare.home),
                              capture_output=True, check=False)
        return proc.returncode != 0

    def _git_merge(self, repo: Repo, pull: Pull, *, method: str,
                   message: str) -> tuple[str, str | None]:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp) / "work"
            git = _Git(work, repo.bare.home / "forge")
            git.run("clone", "--quiet", str(repo.bare.path), str(work), cwd=Path(tmp))
            git.run("checkout", "--quiet", "-B", "result", f"origin/{pull.base}")
            head = f"origin/{pull.head}"
            squashed = None
            if method == "merge":
                git.run("merge", "--quiet", "--no-ff", "-m", message, head)
            elif method in ("squash", "squash-merge"):
                git.run("merge", "--quiet", "--squash", head)
                git.run("commit", "--quiet", "-m", message)
                if method == "squash-merge":
                    squashed = git.out("rev-parse", "HEAD")
                    git.run("checkout", "--quiet", "-B", "squashed")
                    git.run("checkout", "--quiet", "result")
                    git.run("reset", "--quiet", "--hard", f"origin/{pull.base}")
                    git.run("merge", "--quiet", "--no-ff", "-m", message, "squashed")
            elif method in ("rebase", "rebase-keep"):
                git.run("checkout", "--quiet", "-B", "result", head)
                force = ["--force-rebase"] if method == "rebase" else []
                if git.status("rebase", "--quiet", *force, f"origin/{pull.base}") != 0:
                    raise Refused("conflict", "rebase does not apply")
            elif method == "ff":
                if git.status("merge-base", "--is-ancestor", f"origin/{pull.base}",
                              head) != 0:
                    raise Refused("need_rebase")
                git.run("reset", "--quiet", "--hard", head)
            else:
                raise Refused("method", method)
            git.run("push", "--quiet", "origin", f"HEAD:refs/heads/{pull.base}")
            return git.out("rev-parse", "HEAD"), squashed


class _Git:
    """``git`` as the forge's own merge machinery runs it, with the forge's identity."""

    def __init__(self, work: Path, home: Path) -> None:
        self.work = work
        self.env = git_env(home)
        self.env.update(GIT_AUTHOR_NAME="Forge", GIT_AUTHOR_EMAIL="noreply@forge.test",
                        GIT_COMMITTER_NAME="Forge", GIT_COMMITTER_EMAIL="noreply@forge.test",
                        # The clone shares the remote's packs (a local clone hardlinks
                        # them); past gc.autoPackLimit (50) a merge would start a detached
                        # gc that still writes to .git while the clone is removed.
                        GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="gc.auto",
                        GIT_CONFIG_VALUE_0="0")

    def status(self, *args: str, cwd: Path | None = None) -> int:
        proc = subprocess.run(["git", *args], cwd=cwd or self.work, env=self.env,
                              capture_output=True, check=False, timeout=60)
        return proc.returncode

    def run(self, *args: str, cwd: Path | None = None) -> None:
        proc = subprocess.run(["git", *args], cwd=cwd or self.work, env=self.env,
                              capture_output=True, check=False, timeout=60)
        if proc.returncode != 0:
            raise Refused("conflict", proc.stderr.decode(errors="replace")[:300])

    def out(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.work, env=self.env, check=True,
                              capture_output=True, timeout=60).stdout.decode().strip()
