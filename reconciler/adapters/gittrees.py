"""Large directory trees compared by their raw records, and reverts that need no merge.

Part of the git adapter (``gitobjects`` calls these under the mirror's lock). Both are
fast paths for a fleet kept in one large directory (10,000 manifests side by side,
docs/performance.md): the work of a release there should follow the change, not the
size of the directory.

* ``changed_names``: the names of the entries that differ between two versions of a
  directory, from the tree objects' bytes, without building a ``TreeEntry`` per
  entry. The records of the last few trees read are kept: the new tree of one
  snapshot's diff is the old tree of the next one.
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

import pygit2
from pygit2.enums import DeltaStatus, FileMode

from reconciler.adapters import gitnames

# One entry of a tree object as git stores it: ``<octal mode> <name>\0<20-byte id>``.
# The id is exactly 20 bytes, so matching record after record stays aligned even when
# an id holds a NUL or a space.
_RECORD = re.compile(rb"[0-7]+ [^\0]*\0.{20}", re.DOTALL)
_KEPT = 4  # trees whose records are kept (the two sides of a diff, and the next one)
_records_kept: OrderedDict[pygit2.Oid, set[bytes]] = OrderedDict()
_lock = threading.Lock()
_REGULAR = (FileMode.BLOB, FileMode.BLOB_EXECUTABLE)


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


def clean_revert(repo: pygit2.Repository, *, target: pygit2.Commit,
                 onto: pygit2.Commit) -> dict[str, bytes] | None:
    """``{path: bytes}`` reverting ``target`` (one parent) on ``onto`` changes, when every
    file ``target`` changed is a content change still held as ``target`` left it in
    ``onto``; None otherwise (the caller runs the three-way revert)."""
    parent = repo[target.parent_ids[0]]
    assert isinstance(parent, pygit2.Commit)
    changed: dict[str, bytes] = {}
    for delta in parent.tree.diff_to_tree(target.tree).deltas:
        if delta.status != DeltaStatus.MODIFIED or delta.old_file.mode != delta.new_file.mode \
                or delta.new_file.mode not in _REGULAR:
            return None
        path = delta.new_file.path
        try:
            held = onto.tree[gitnames.held(path)]
        except KeyError:
            return None
        if held.id != delta.new_file.id or held.filemode != delta.new_file.mode:
            return None
        blob = repo[delta.old_file.id]
        assert isinstance(blob, pygit2.Blob)
        changed[path] = blob.data
    return changed
