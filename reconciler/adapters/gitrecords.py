"""The plain records the git adapter hands out: tree entries, commits, an author.

Where it fits: ``gitobjects`` builds them from libgit2's objects and ``gitmemo``
from what it kept of an earlier run, so they live apart from both, in a module
that imports no pygit2 (a read-only command that never needs libgit2 must not
load it; docs/performance.md, "A fast CLI"). ``git`` and ``gitobjects`` re-export
them under their old names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

EntryKind = Literal["file", "symlink", "symlink-outside", "submodule", "invalid-name"]


class Entry(NamedTuple):
    """One path of a tree that a scan must know about (a tuple: the walk makes many).

    ``kind`` "file" is a regular (or executable) file ending in a wanted suffix: the
    only kind ever read or rewritten. The others are there so they can be reported,
    never followed: "symlink" (to a path inside the repository) and "symlink-outside"
    (absolute, or climbing out with ``..``), ``detail`` the link's target as written;
    "submodule"; "invalid-name", any entry (file or directory, whatever its suffix)
    whose name git itself refuses as a path component (``..``, ``.git``, or one with a
    ``/`` in it, which only a hand-crafted tree object can hold), ``detail`` the name;
    its ``path`` quotes that name (``apps/'..'``), so it never equals the path of a
    real file (an entry named ``clusters/apps.yaml`` cannot stand in for the file).
    In a diff, ``blob`` None means the path is gone.
    """

    path: str
    blob: str | None
    kind: EntryKind = "file"
    detail: str = ""


@dataclass(frozen=True)
class Author:
    """Author and committer of the reconciler's commits."""

    name: str = "reconciler"
    email: str = "reconciler@localhost"


DEFAULT_AUTHOR = Author()


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    message: str
    parents: tuple[str, ...]
    time: datetime  # commit time, aware, UTC
    author_name: str
    author_email: str
