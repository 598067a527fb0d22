"""Which files of a whole tree can matter, found by ``git grep``.

Part of the git adapter (``git.Mirror.screen`` starts it). A snapshot parses only
the files whose bytes hold one of a few fixed strings (``manifests.screen``:
``kuberik.com`` or ``$imagepolicy``); everything else is passed over unparsed. On a
first snapshot of a 100,000-file repository that screen read 60,000 blobs one at a
time through libgit2, most of the snapshot's cost (docs/performance.md, "A
100,000-file repository"). ``git grep -l -F`` does the same substring test in C (on one
core: see ``start``), without handing the bytes to Python; it runs as a child process while
the snapshot lists the tree, and the snapshot then reads and parses only the files
it names.

Exactly what ``manifests.screen`` finds, never less: fixed strings (``-F``, case
kept), every blob searched whole (a NUL or a very long line does not stop git: a
file git calls binary is still listed by ``-l``), no textconv, no submodules, and
no configuration but the mirror's own (system and global files are not read). A
path git names that is not a file the snapshot wants costs one read of it, never a
wrong result. Every argument is the reconciler's own: the commit by its full id,
the patterns after ``-e``, the pathspecs after ``--``.

Where git is absent, or fails in any way (killed, an old git, a tree it refuses),
``Screen.paths`` answers None and the snapshot reads each blob as before.
"""

from __future__ import annotations

import logging
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

TIMEOUT = 600.0
"""Seconds the grep may take before the snapshot reads the blobs itself."""
_COMMIT = re.compile(r"[0-9a-f]{40}")
# git grep's exit status when nothing matched (anything else but 0 is a failure).
_NO_MATCH = 1


class Screen:
    """One ``git grep`` under way: ``named()`` gives the paths as git names them,
    ``paths()`` waits for the whole answer."""

    def __init__(self, process: subprocess.Popen[bytes] | None, *, commit: str,
                 errors: IO[bytes] | None = None) -> None:
        self._process = process
        self._commit = commit
        self._errors = errors  # git's stderr, a file: a full pipe would stall git
        self._answer: set[str] | None = None
        self._done = process is None
        self._found: set[str] = set()
        self._rest = b""  # the start of a path whose end has not come yet
        self._deadline = time.monotonic() + TIMEOUT

    def named(self) -> Iterator[str]:
        """The paths (as a tree listing decodes them) of the files that hold a
        pattern, each as soon as git names it, until git is done: the files named
        first can be read while git searches the rest. When git then fails,
        ``paths()`` says None (look at every file after all). Stopping early loses
        nothing: the next call goes on where this one stopped."""
        process = self._process
        if self._done or process is None:
            return
        assert process.stdout is not None
        prefix = self._commit.encode() + b":"
        fd = process.stdout.fileno()
        while True:
            if not select.select([fd], [], [], max(0.0, self._deadline - time.monotonic()))[0]:
                self._fail(f"took over {TIMEOUT:.0f} s")
                return
            chunk = os.read(fd, 1 << 16)
            *records, self._rest = (self._rest + chunk).split(b"\0")
            if not chunk and self._rest:  # the end, without a last NUL
                records, self._rest = [self._rest], b""
            for record in records:
                if not record.startswith(prefix):
                    self._fail(f"printed {record[:200]!r}")
                    return
                path = os.fsdecode(record[len(prefix):])
                self._found.add(path)
                yield path
            if not chunk:
                break
        self._finish()

    def paths(self) -> set[str] | None:
        """The paths of every file that holds a pattern, or None when git could not
        say (read the blobs instead)."""
        for _ in self.named():
            pass
        return self._answer

    def _finish(self) -> None:
        process = self._process
        assert process is not None
        try:
            process.wait(max(0.0, self._deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._fail(f"took over {TIMEOUT:.0f} s")
            return
        if process.returncode not in (0, _NO_MATCH):
            err = b""
            if self._errors is not None:
                self._errors.seek(0)
                err = self._errors.read(4096)
            self._fail(f"failed (exit {process.returncode}: "
                       f"{' '.join(err.decode('utf-8', 'replace').split())[:300]})")
            return
        self._close()
        self._answer = self._found

    def _fail(self, why: str) -> None:
        log.info("git grep over %s %s; reading the blobs", self._commit, why)
        self.cancel()

    def _close(self) -> None:
        self._done = True
        if self._process is not None and self._process.stdout is not None:
            self._process.stdout.close()
        if self._errors is not None:
            self._errors.close()

    def cancel(self) -> None:
        """Stop the grep (its answer is not needed)."""
        if not self._done and self._process is not None:
            self._process.kill()
            self._process.wait()
        self._close()
        self._answer = None


def start(git_dir: Path, commit: str, *, needles: tuple[bytes, ...],
          suffixes: tuple[str, ...]) -> Screen:
    """Start ``git grep`` over the files of ``commit`` (a full commit id) in the
    repository ``git_dir`` whose names end in a suffix, for any of ``needles``."""
    # git found as gitclone finds it, without importing gitclone: it brings gitauth
    # and pygit2, which a warm read-only command does without (adapters/gitmemo;
    # docs/performance.md, "A fast CLI").
    git = shutil.which("git")
    if git is None or not _COMMIT.fullmatch(commit) or not needles:
        return Screen(None, commit=commit)
    # One thread: grepping a tree, git's threads take turns at one lock to read each
    # object, and two of them took 0.6-0.7 s (both cores) where one takes 0.33-0.43 s
    # (one core) over 60,000 blobs, leaving the other core to the snapshot.
    command = [git, "grep", "--threads=1", "-l", "-z", "-F", "--no-color", "--no-textconv",
               "--no-recurse-submodules"]
    for needle in needles:
        command += ["-e", os.fsdecode(needle)]
    # Pathspec magic is never inferred from these: each starts with ``*``.
    command += [commit, "--", *(f"*{suffix}" for suffix in suffixes)]
    started = spawn(command, git_dir, instead="reading the blobs")
    if started is None:
        return Screen(None, commit=commit)
    return Screen(started[0], commit=commit, errors=started[1])


def spawn(command: list[str], git_dir: Path, *,
          instead: str) -> tuple[subprocess.Popen[bytes], IO[bytes]] | None:
    """Start ``command`` (git's, reading the repository ``git_dir`` and no other
    configuration) with its output on a pipe and its errors in a file (a full pipe
    would stall git; the caller closes it when git is done); None, logged with what
    is done ``instead``, when it cannot start."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_DIR": str(git_dir), "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"})
    errors = tempfile.TemporaryFile()  # noqa: SIM115 (the caller closes it)
    try:
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=errors)
    except OSError as exc:
        errors.close()
        log.info("cannot run git %s (%s); %s", command[1], exc, instead)
        return None
    return process, errors
