"""A whole tree's files listed by ``git ls-tree``, for a first snapshot.

Part of the git adapter (``git.Mirror.listing`` starts it). A first snapshot needs
every listed file's ``path -> blob`` (``engine/snapshot``: 70,000 of them in a
100,000-file repository), and pygit2's walk builds them one Python object per tree
entry: 0.24-0.47 s at that size (docs/performance.md, "A 100,000-file repository").
``git ls-tree -r`` reads the same trees in C in a child process, beside the
``git grep`` of ``adapters/gitscreen`` (0.07-0.15 s), and its output is taken apart
here with whole-buffer operations only (split, join, decode, replace), never a
Python statement per entry.

Only for trees whose names git's own object check passed: ``ls-tree`` prints a path
as the names joined by ``/``, so an entry whose name holds a ``/`` (or is ``.``,
``..``, empty or ``.git``), which the pygit2 walk reports as an invalid name, would
look like an ordinary file here. ``git.Mirror`` asks for this listing only for the
commit its first fetch brought with every received object checked by git
(``gitclone``: those names are errors there). Anything else falls back to the walk:
a symlink or submodule among the listed suffixes (the walk reports them, with their
targets), a path listed twice, a listed record that does not parse, an output cut
short, git absent or failing (``whole`` answers None). A record whose name ends in no
listed suffix is passed over unread.

Every argument is the reconciler's own: the commit by its full id, no pathspec.
"""

from __future__ import annotations

import itertools
import logging
import operator
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import IO

from reconciler.adapters import gitscreen

log = logging.getLogger(__name__)

TIMEOUT = 600.0
"""Seconds the listing may take before the snapshot walks the tree itself."""
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# The mode of every regular file, as git prints it (canonical: 0644 or 0755).
_REGULAR = (b"100644 blob ", b"100755 blob ")
_CHUNK = 1 << 20


class Listing:
    """One ``git ls-tree`` under way; ``whole`` waits for it and takes it apart."""

    def __init__(self, process: subprocess.Popen[bytes] | None, *, commit: str,
                 errors: IO[bytes] | None = None) -> None:
        self._process = process
        self._commit = commit
        self._errors = errors  # git's stderr, a file: a full pipe would stall git

    def whole(self, suffixes: tuple[str, ...]) -> dict[str, str] | None:
        """``path -> blob id`` of the regular files whose names end in a suffix (what
        the pygit2 walk lists as files, the paths decoded alike), or None when git
        could not say or the tree holds a listed entry that is not a regular file.
        Taken apart as git prints it, a megabyte at a time, while it lists the rest."""
        if not all(map(str.isascii, suffixes)):
            self.cancel()  # chosen on the bytes (``_files``): only ASCII suffixes
            return None
        process, self._process = self._process, None
        if process is None:
            return None
        assert process.stdout is not None
        files: dict[str, str] | None = {}
        rest = b""
        deadline = time.monotonic() + TIMEOUT
        fd = process.stdout.fileno()
        try:
            while files is not None:
                if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                    raise subprocess.TimeoutExpired(self._commit, TIMEOUT)
                chunk = os.read(fd, _CHUNK)
                if not chunk:
                    break
                *records, rest = (rest + chunk).split(b"\0")
                if not _files(records, suffixes, into=files):
                    files = None
            process.wait(max(0.0, deadline - time.monotonic()) if files is not None else 0)
        except (OSError, subprocess.TimeoutExpired):
            files = None
        finally:
            process.stdout.close()
            if process.returncode is None:
                process.kill()  # not needed (or hung): its answer is not read
                process.wait()
        err = b""
        if self._errors is not None:
            self._errors.seek(0)
            err = self._errors.read(4096)
            self._errors.close()
        if files is None:
            return None
        if process.returncode != 0 or rest:
            log.info("git ls-tree %s failed (exit %s: %s); walking the tree", self._commit,
                     process.returncode, " ".join(err.decode("utf-8", "replace").split())[:300])
            return None
        return files

    def cancel(self) -> None:
        """Stop the listing (its answer is not needed)."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._errors is not None:
            self._errors.close()


def parse(out: bytes, suffixes: tuple[str, ...]) -> dict[str, str] | None:
    """``ls-tree -r -z`` output (``<mode> <type> <id>TAB<path>NUL`` each), taken
    apart as ``Listing.whole`` says (at once). Pure."""
    *records, rest = out.split(b"\0")
    files: dict[str, str] = {}
    return files if not rest and _files(records, suffixes, into=files) else None


def _files(records: list[bytes], suffixes: tuple[str, ...], *, into: dict[str, str]) -> bool:
    """Add the listed regular files of ``records`` (``<mode> <type> <id>TAB<path>``,
    the path as stored: ``-z`` quotes nothing) to ``into``, with whole-list
    operations only; False when a listed record does not parse, is not a regular
    file or its path comes twice (``into`` is then to be thrown away). A record
    whose name ends in none of ``suffixes`` is passed over unread, whatever it holds."""
    # The records whose path ends in a suffix, chosen on the bytes before anything is
    # taken apart (a third of the files of big_repo's fleet are not listed): the
    # suffixes are ASCII, and an ASCII byte decodes to itself whatever precedes it,
    # so a path's bytes end in one exactly when its decoded name does. The record's
    # end is its path's: a path comes last, and no suffix holds a TAB.
    ends = tuple(suffix.encode("ascii") for suffix in suffixes)
    chosen = list(itertools.compress(records, map(operator.methodcaller("endswith", ends),
                                                  records)))
    if not chosen:
        return True
    # The first TAB ends the mode, type and id (none holds one); a path may hold more.
    kinds, tabs, names = zip(*map(operator.methodcaller("partition", b"\t"), chosen),
                             strict=True)
    if b"" in tabs:
        return False
    # Decoded as pygit2 decodes a tree entry's name (the file system's encoding,
    # undecodable bytes kept as surrogates), all at once: a path holds no NUL.
    paths = b"\0".join(names).decode("utf-8", "surrogateescape").split("\0")
    ids = b"\0".join(kinds)
    # A mode and type are printed before each id once; an id is hex, so a count of
    # the two regular modes says whether every listed entry is a regular file.
    if sum(ids.count(mode) for mode in _REGULAR) != len(paths):
        return False  # a symlink or a submodule among them: the walk reports those
    for mode in _REGULAR:
        ids = ids.replace(mode, b"")
    before = len(into)
    into.update(zip(paths, ids.decode("ascii").split("\0"), strict=True))
    return len(into) == before + len(paths)  # else a path twice: a hand-made tree


def start(git_dir: Path, commit: str) -> Listing:
    """Start ``git ls-tree -r`` over ``commit`` (a full commit id) in the repository
    ``git_dir``."""
    git = shutil.which("git")
    if git is None or not _COMMIT.fullmatch(commit):
        return Listing(None, commit=commit)
    # The default format: git 2.39's --format quotes %(path) even with -z.
    command = [git, "ls-tree", "-r", "-z", "--full-tree", commit]
    started = gitscreen.spawn(command, git_dir, instead="walking the tree")
    if started is None:
        return Listing(None, commit=commit)
    return Listing(started[0], commit=commit, errors=started[1])
