"""Large directory trees compared by their raw records, and reverts that need no merge.

Part of the git adapter (``gitobjects`` calls these under the mirror's lock). Both are
fast paths for a fleet kept in one large directory (10,000 manifests side by side,
docs/performance.md): the work of a release there should follow the change, not the
size of the directory.

* ``changed_names``: the names of the entries that differ between two versions of a
  directory, from the tree objects' bytes, without building a ``TreeEntry`` per
  entry. The records of the last few trees read are kept: the new tree of one
  snapshot's diff is the old tree of the next one.
* ``changes``: every file, link or submodule entry that differs between two trees,
  descending only into directories whose ids differ. libgit2's tree diff
  (``Tree.diff_to_tree``) reads every directory of both trees, even the ones that
  are the same object on both sides: 3.0 ms for one changed file among 10,000 in
  10,000 directories, against 0.07 ms for the same diff of the one directory that
  changed. A push, a revert and the notes read this diff at every release.
* ``clean_revert``: the files a revert changes when no merge is needed: every file the
  reverted commit changed still holds what that commit wrote, so each one simply goes
  back to its content before the commit. That is the result of git's three-way
  revert in that case (base: the commit, ours: the branch, theirs: the commit's
  parent; a file where ours equals the base takes theirs), found without an index of
  the whole tree. Anything else (a later edit of one of those files, a file added,
  deleted or with its mode changed) returns None: the caller runs the full
  three-way revert, which reports conflicts and refusals.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import NamedTuple

import pygit2
from pygit2.enums import FileMode

from reconciler.adapters import gitnames

# One entry of a tree object as git stores it: ``<octal mode> <name>\0<20-byte id>``.
# The id is exactly 20 bytes, so matching record after record stays aligned even when
# an id holds a NUL or a space.
_RECORD = re.compile(rb"[0-7]+ [^\0]*\0.{20}", re.DOTALL)
_KEPT = 4  # trees whose records are kept (the two sides of a diff, and the next one)
_records_kept: OrderedDict[pygit2.Oid, set[bytes]] = OrderedDict()
_lock = threading.Lock()
_REGULAR = (FileMode.BLOB, FileMode.BLOB_EXECUTABLE)
_TREE = int(FileMode.TREE)

# Directories with more entries than this are compared by their raw records.
LARGE_TREE = 256


def records(repo: pygit2.Repository, tree: pygit2.Tree) -> set[bytes]:
    """The entries of ``tree`` as git stores them, one ``<mode> <name>\\0<id>`` record
    each (an entry's mode, name and id in one comparable value). Trees are immutable
    and named by their content, so the records of a tree id never change."""
    with _lock:
        found = _records_kept.get(tree.id)
        if found is not None:
            _records_kept.move_to_end(tree.id)
            return found
    raw = repo.odb.read(tree.id)[1]
    parts = _RECORD.findall(raw)
    if sum(map(len, parts)) != len(raw):  # pragma: no cover - git never writes such a tree
        raise ValueError(f"tree {tree.id} is malformed")
    found = set(parts)
    with _lock:
        _records_kept[tree.id] = found
        while len(_records_kept) > _KEPT:
            _records_kept.popitem(last=False)
    return found


def changed_names(repo: pygit2.Repository, old: pygit2.Tree, new: pygit2.Tree
                  ) -> set[str] | None:
    """The names of the entries that differ between two large trees, from their raw
    records: building a ``TreeEntry`` and its ``FileMode`` for every one of 10,000
    entries was most of a snapshot's cost in a fleet kept in one directory
    (docs/performance.md). None when a changed name is not UTF-8 (read the slow way)."""
    names = set()
    for record in records(repo, old) ^ records(repo, new):
        try:
            names.add(record[record.index(b" ") + 1:-21].decode("utf-8"))
        except UnicodeDecodeError:
            return None
    return names


def entries(tree: pygit2.Tree | None, names: set[str] | None = None
            ) -> dict[str, tuple[pygit2.Oid, int]]:
    """``{name: (id, mode)}`` of the entries of ``tree`` (only ``names``, if given)."""
    if tree is None:
        return {}
    if names is not None:
        found = (tree[n] for n in map(gitnames.held, names) if n in tree)
        return {e.name: (e.id, e.filemode) for e in found if e.name is not None}
    return {e.name: (e.id, e.filemode) for e in tree if e.name is not None}


def pair_names(repo: pygit2.Repository, old: pygit2.Tree | None, new: pygit2.Tree | None
               ) -> tuple[dict[str, tuple[pygit2.Oid, int]], dict[str, tuple[pygit2.Oid, int]]]:
    """The entries of two versions of a directory, only those that may differ when
    both are large (``changed_names``)."""
    names = None
    if old is not None and new is not None and max(len(old), len(new)) > LARGE_TREE:
        names = changed_names(repo, old, new)
    return entries(old, names), entries(new, names)


def subtree(repo: pygit2.Repository, entry: tuple[pygit2.Oid, int] | None
            ) -> pygit2.Tree | None:
    """The directory an ``(id, mode)`` entry names; None for None."""
    if entry is None:
        return None
    found = repo[entry[0]]
    assert isinstance(found, pygit2.Tree)
    return found


class Change(NamedTuple):
    """An entry that is not a directory, changed between two trees: ``(id, mode)`` on
    each side, None where it is absent (added, deleted, or a directory on that side)."""

    path: str
    old: tuple[pygit2.Oid, int] | None
    new: tuple[pygit2.Oid, int] | None


def changes(repo: pygit2.Repository, old: pygit2.Tree | None, new: pygit2.Tree | None,
            trees: list[pygit2.Oid] | None = None) -> list[Change]:
    """What differs between ``old`` and ``new`` below the directories, path by path
    (``a/b``), each directory's entries in name order; a directory whose id is the
    same on both sides is not read. A directory turned into a file (or back) is its
    files deleted (or added) and the file added (or deleted), as in git's diff.
    ``trees``, if given, receives the id of every directory of ``new`` that differs
    from ``old``'s, deeper ones before the directory that holds them (not ``new``
    itself)."""
    out: list[Change] = []
    _changes(repo, old, new, "", out, trees)
    return out


def _changes(repo: pygit2.Repository, old: pygit2.Tree | None, new: pygit2.Tree | None,
             prefix: str, out: list[Change], trees: list[pygit2.Oid] | None) -> None:
    if old is not None and new is not None and old.id == new.id:
        return
    before, after = pair_names(repo, old, new)
    for name in sorted(before.keys() | after.keys()):
        was, now = before.get(name), after.get(name)
        if was == now:
            continue
        was_tree = was is not None and was[1] == _TREE
        now_tree = now is not None and now[1] == _TREE
        if was_tree or now_tree:
            _changes(repo, subtree(repo, was if was_tree else None),
                     subtree(repo, now if now_tree else None), f"{prefix}{name}/", out, trees)
            if now is not None and now_tree and trees is not None:
                trees.append(now[0])
        was_file = None if was_tree else was
        now_file = None if now_tree else now
        if was_file is not None or now_file is not None:
            out.append(Change(prefix + name, was_file, now_file))


def clean_revert(repo: pygit2.Repository, *, target: pygit2.Commit,
                 onto: pygit2.Commit) -> dict[str, bytes] | None:
    """``{path: bytes}`` reverting ``target`` (one parent) on ``onto`` changes, when every
    file ``target`` changed is a content change still held as ``target`` left it in
    ``onto``; None otherwise (the caller runs the three-way revert)."""
    parent = repo[target.parent_ids[0]]
    assert isinstance(parent, pygit2.Commit)
    changed: dict[str, bytes] = {}
    for path, was, now in changes(repo, parent.tree, target.tree):
        if was is None or now is None or was[1] != now[1] or now[1] not in _REGULAR:
            return None
        try:
            held = onto.tree[gitnames.held(path)]
        except KeyError:
            return None
        if held.id != now[0] or held.filemode != now[1]:
            return None
        blob = repo[was[0]]
        assert isinstance(blob, pygit2.Blob)
        changed[path] = blob.data
    return changed
