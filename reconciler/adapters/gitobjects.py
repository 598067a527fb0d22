"""Reading and writing git objects in memory: trees, commits, reverts, history.

Part of the git adapter; ``git.Mirror`` calls these under its lock and owns the
repository and the network. Nothing here touches a ref, a working tree or the
network: reads walk tree objects directly, writes create blobs, trees and commits
that stay unreferenced until pushed.

Errors: pygit2's ``GitError``/``KeyError``/``ValueError`` become ``reconciler.errors``
``GitError`` (raised ``from`` the original); a revert that does not apply cleanly is
``RevertConflict``.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

import pygit2
from pygit2.enums import FileMode, ObjectType, SortMode

from reconciler.adapters import gitnames, gitsign, gittrees
from reconciler.adapters.gitrecords import DEFAULT_AUTHOR as DEFAULT_AUTHOR
from reconciler.adapters.gitrecords import Author as Author
from reconciler.adapters.gitrecords import CommitInfo as CommitInfo
from reconciler.adapters.gitrecords import Entry as Entry
from reconciler.adapters.gitrecords import EntryKind as EntryKind
from reconciler.adapters.signing import Signer
from reconciler.errors import GitError, RevertConflict

# Raw modes as ints: the tree walk is the hot loop of every scan.
_TREE, _BLOB, _BLOB_EXECUTABLE, _LINK, _GITLINK = 0o040000, 0o100644, 0o100755, 0o120000, 0o160000
_FILE_MODES = (_BLOB, _BLOB_EXECUTABLE)


# libgit2 caches trees up to 4 KiB only; a directory of a few hundred manifests is
# larger. Every push walks the parent's whole tree (libgit2's packbuilder marks it
# uninteresting), so keeping trees in the object cache makes the second push of a
# large repository markedly cheaper. Process-wide, set once.
_TREE_CACHE_LIMIT = 1 << 20
pygit2.settings.cache_object_limit(ObjectType.TREE, _TREE_CACHE_LIMIT)
# With every version of every tree cached, the cache fills up to libgit2's default
# 256 MiB (about 550 MiB of real memory): the soak (docs/reliability.md) saw a daemon
# grow ~7 KiB a commit from it. 32 MiB still holds the current trees of a
# 10,000-file repository, which is what the push needs.
_OBJECT_CACHE_MAX = 32 << 20
pygit2.settings.cache_max_size(_OBJECT_CACHE_MAX)
# libgit2 maps each pack in windows of 1 GiB and keeps up to 8 GiB of them mapped:
# every page of a pack read once stays in the process's resident memory (file pages,
# ``RssFile``) until the pack is closed. The soak's daemon held its mirror's packs
# almost whole, so its RSS grew with the packs (they grew ~3 MiB an hour at a release
# every 2.5 s) and fell at every whole ``git gc`` (which packs tighter). Windows of
# 1 MiB and at most 4 MiB mapped make that part a constant: libgit2 unmaps the least
# recently used window past the bound; its pages stay in the kernel's page cache, so
# mapping one again costs a system call, not a read (docs/performance.md, "The
# mirror's packs in resident memory"). Process-wide, set once.
PACK_WINDOW = 1 << 20
PACK_MAPPED_LIMIT = 4 << 20
pygit2.settings.mwindow_size = PACK_WINDOW
pygit2.settings.mwindow_mapped_limit = PACK_MAPPED_LIMIT
# libgit2 waits forever by default: a half-open connection would hang a fetch (and the
# daemon's git lock with it). Bound connecting and every read/write on the socket.
pygit2.settings.server_connect_timeout = 10_000  # ms
pygit2.settings.server_timeout = 60_000  # ms


def list_entries(repo: pygit2.Repository, tree: pygit2.Tree,
                 suffixes: tuple[str, ...]) -> list[Entry]:
    """Every ``Entry`` under ``tree``: regular files, symlinks and submodules ending
    in a suffix, and entries with invalid names (never descended into). Git's tree
    order."""
    found: list[Entry] = []
    try:
        _walk(repo, tree, "", suffixes, found)
    except (pygit2.GitError, KeyError) as exc:
        raise GitError(f"cannot read tree {tree.id}: {line(exc)}") from exc
    return found


def list_files(repo: pygit2.Repository, tree: pygit2.Tree,
               suffixes: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(path, blob_sha)`` of the regular files under ``tree`` ending in a suffix.

    Symlinks (120000), submodules (160000) and invalid names are skipped. Order:
    git's tree order.
    """
    return [(e.path, e.blob) for e in list_entries(repo, tree, suffixes)
            if e.kind == "file" and e.blob is not None]


def changed_entries(repo: pygit2.Repository, old: pygit2.Tree, new: pygit2.Tree,
                    suffixes: tuple[str, ...]) -> list[Entry]:
    """The entries (as ``list_entries`` sees them) that differ between two trees: the
    new ``Entry`` when added or changed, ``Entry(path, None)`` when gone. Subtrees
    with equal ids are never opened, so the cost follows the size of the change, not
    the size of the tree (libgit2's tree-to-tree diff walks every entry).
    """
    out: list[Entry] = []
    try:
        _diff(repo, old, new, "", suffixes, out)
    except (pygit2.GitError, KeyError) as exc:
        raise GitError(f"cannot diff trees {old.id} and {new.id}: {line(exc)}") from exc
    return out


def changed_files(repo: pygit2.Repository, old: pygit2.Tree, new: pygit2.Tree,
                  suffixes: tuple[str, ...]) -> list[tuple[str, str | None]]:
    """What differs between two trees, for files ending in a suffix.

    ``(path, blob_sha)`` for a regular file added or changed in ``new``;
    ``(path, None)`` for one deleted, or turned into a symlink or submodule (or
    anything else that is not a regular file).
    """
    return [(e.path, e.blob if e.kind == "file" else None)
            for e in changed_entries(repo, old, new, suffixes)]


_BAD_NAMES = frozenset(("", ".", ".."))


def _invalid(name: str) -> bool:
    # What git's verify_path refuses in a path component (case-insensitive ``.git``).
    return name in _BAD_NAMES or "/" in name or "\0" in name \
        or (name[0] == "." and name.lower() == ".git")


def _listed(name: str, mode: int, suffixes: tuple[str, ...]) -> bool:
    """Whether ``list_entries`` shows an entry of this name and mode."""
    if _invalid(name):
        return True
    return mode != _TREE and mode in (*_FILE_MODES, _LINK, _GITLINK) \
        and name.endswith(suffixes)


def _entry_for(repo: pygit2.Repository, path: str, name: str, oid: pygit2.Oid,
               mode: int) -> Entry:
    """The ``Entry`` of a listed tree entry (``_listed`` holds)."""
    if _invalid(name):
        return Entry(path, str(oid), "invalid-name", repr(name))
    if mode in _FILE_MODES:
        return Entry(path, str(oid))
    if mode == _GITLINK:
        return Entry(path, str(oid), "submodule")
    link = repo[oid]
    assert isinstance(link, pygit2.Blob)
    target = link.data.decode("utf-8", "replace")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    outside = target.startswith("/") or resolved == ".." or resolved.startswith("../")
    shown = repr(target if len(target) <= 200 else target[:200] + "...")
    return Entry(path, str(oid), "symlink-outside" if outside else "symlink", shown)


def _diff(repo: pygit2.Repository, old: pygit2.Tree | None, new: pygit2.Tree | None,
          prefix: str, suffixes: tuple[str, ...], out: list[Entry]) -> None:
    if old is not None and new is not None and old.id == new.id:
        return
    before, after = gittrees.pair_names(repo, old, new)
    for name in sorted(before.keys() | after.keys()):
        was, now = before.get(name), after.get(name)
        if was == now:
            continue
        invalid = _invalid(name)  # never descended into, as in _walk
        path = prefix + (repr(name) if invalid else name)
        was_tree = was is not None and was[1] == _TREE and not invalid
        now_tree = now is not None and now[1] == _TREE and not invalid
        if was_tree or now_tree:
            _diff(repo, gittrees.subtree(repo, was if was_tree else None),
                  gittrees.subtree(repo, now if now_tree else None), f"{path}/", suffixes, out)
        if now is not None and _listed(name, now[1], suffixes):
            out.append(_entry_for(repo, path, name, now[0], now[1]))
        elif was is not None and _listed(name, was[1], suffixes):
            out.append(Entry(path, None))


# Routing the walk on an entry's object type (an int) rather than its mode spares
# building pygit2's ``FileMode`` enum for every directory and for every file the
# suffixes leave out: that enum was 40 % of listing 100,000 entries. The mode is read
# only where it decides something (a listed blob: a file or a symlink).
_TREE_TYPE = int(ObjectType.TREE)
_tuple = tuple.__new__  # an Entry without NamedTuple's Python-level __new__


def _walk(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str, suffixes: tuple[str, ...],
          out: list[Entry]) -> None:
    lookup = repo.__getitem__
    append = out.append
    for entry in tree:
        name = entry.name or ""
        if name in _BAD_NAMES or "/" in name or "\0" in name or (name[0] == "." and _invalid(name)):
            append(_entry_for(repo, prefix + repr(name), name, entry.id, entry.filemode))
        elif entry.type == _TREE_TYPE:
            subtree = lookup(entry.id)
            assert isinstance(subtree, pygit2.Tree)
            _walk(repo, subtree, f"{prefix}{name}/", suffixes, out)
        elif name.endswith(suffixes):
            mode = entry.filemode
            if mode in _FILE_MODES:
                append(_tuple(Entry, (prefix + name, str(entry.id), "file", "")))
            elif mode in (_LINK, _GITLINK):
                append(_entry_for(repo, prefix + name, name, entry.id, mode))


def check_path(path: str) -> None:
    """Refuse paths git would not store as given (absolute, empty or dot parts)."""
    if not path or "\0" in path or any(p in ("", ".", "..") for p in path.split("/")):
        raise GitError(f"invalid path {path!r}: must be relative and '/'-separated, "
                       "without empty, '.' or '..' parts")


def create_commit(repo: pygit2.Repository, *, parent: pygit2.Commit, files: Mapping[str, bytes],
                  message: str, author: Author, allow_empty: bool = False,
                  first_parent: pygit2.Commit | None = None,
                  signer: Signer | None = None) -> str:
    """A commit on ``parent`` whose tree differs only in ``files``, signed by
    ``signer`` when given (``gitsign``); no ref moves. With ``first_parent``, a merge
    of ``parent`` into it: parents ``[first_parent, parent]``, the tree still
    ``parent``'s plus ``files``."""
    for path in files:
        check_path(path)
    try:
        blobs = {path: repo.create_blob(data) for path, data in files.items()}
        tree_id = _replace(repo, parent.tree, blobs, "")
        if tree_id == parent.tree.id and not allow_empty:
            raise GitError(f"commit on {parent.id} would not change anything")
        sig = pygit2.Signature(author.name, author.email, int(time.time()), 0)
        text = message if message.endswith("\n") else message + "\n"
        parents = [parent.id] if first_parent is None else [first_parent.id, parent.id]
        return str(gitsign.write(repo, tree=tree_id, parents=parents, message=text,
                                 author=sig, committer=sig, signer=signer))
    except (pygit2.GitError, ValueError) as exc:
        raise GitError(f"cannot create commit on {parent.id}: {line(exc)}") from exc


def _replace(repo: pygit2.Repository, tree: pygit2.Tree, blobs: Mapping[str, pygit2.Oid],
             prefix: str) -> pygit2.Oid:
    # Rebuild only the trees on the paths that change; every other subtree is reused.
    builder = repo.TreeBuilder(tree)
    nested: dict[str, dict[str, pygit2.Oid]] = {}
    for path, oid in blobs.items():
        head, slash, rest = path.partition("/")
        if slash:
            nested.setdefault(head, {})[rest] = oid
            continue
        entry = _entry(tree, head)
        if entry is None or entry.filemode not in (_BLOB, _BLOB_EXECUTABLE):
            kind = "missing" if entry is None else _kind(entry.filemode)
            raise GitError(f"{prefix}{path} is {kind} in the parent commit; only existing "
                           "regular files can be replaced")
        builder.insert(head, oid, entry.filemode)
    for name, inner in nested.items():
        entry = _entry(tree, name)
        if not isinstance(entry, pygit2.Tree):
            raise GitError(f"{prefix}{name}/ is not a directory in the parent commit")
        builder.insert(name, _replace(repo, entry, inner, f"{prefix}{name}/"), FileMode.TREE)
    return builder.write()


def _entry(tree: pygit2.Tree, name: str) -> pygit2.Tree | pygit2.Blob | None:
    try:
        return tree[gitnames.held(name)]
    except KeyError:
        return None


def _kind(mode: int) -> str:
    kinds: dict[int, str] = {FileMode.LINK: "a symlink", FileMode.COMMIT: "a submodule",
                             FileMode.TREE: "a directory"}
    return kinds.get(mode, f"mode {mode:o}")


def revert_changes(repo: pygit2.Repository, *, target: pygit2.Commit,
                   onto: pygit2.Commit) -> dict[str, bytes]:
    """``{path: bytes}`` that reverting ``target`` on ``onto`` changes (3-way, in memory)."""
    if len(target.parent_ids) != 1:
        raise GitError(f"cannot revert {target.id}: it has {len(target.parent_ids)} parents "
                       "(only ordinary commits can be reverted)")
    try:
        clean = gittrees.clean_revert(repo, target=target, onto=onto)
        if clean is not None:
            return clean
        index = repo.revert_commit(target, onto)
        if index.conflicts is not None:
            paths = sorted({entry.path for sides in index.conflicts for entry in sides
                            if entry is not None})
            raise RevertConflict(f"reverting {target.id} onto {onto.id} conflicts in "
                                 f"{', '.join(paths)}")
        new_tree = repo[index.write_tree(repo)]
        assert isinstance(new_tree, pygit2.Tree)
        changed: dict[str, bytes] = {}
        for path, was, now in gittrees.changes(repo, onto.tree, new_tree):
            if was is None or now is None or was[1] != now[1]:
                verb = ("add" if was is None else "delete" if now is None
                        else "change the type or mode of")
                raise GitError(f"reverting {target.id} would {verb} {path}; only content "
                               "changes can be reverted")
            blob = repo[now[0]]
            assert isinstance(blob, pygit2.Blob)
            changed[path] = blob.data
    except (pygit2.GitError, KeyError, ValueError) as exc:
        raise GitError(f"cannot revert {target.id} onto {onto.id}: {line(exc)}") from exc
    return changed


def history(repo: pygit2.Repository, start: pygit2.Oid,
            limit: int | None, stop: pygit2.Oid | None = None) -> Iterator[CommitInfo]:
    """Commits reachable from ``start`` but not from ``stop``, newest first
    (topological, then commit time)."""
    try:
        if limit == 1 or (stop is not None and (limit is None or limit > 0)):
            # The commit alone, or one commit on top of ``stop`` (a release pushed on
            # the head read before; a pull request's merge bringing one release on the
            # base it was opened from): read without a walker, which costs ~70 us to
            # set up (bench/merge_history.py).
            first = repo[start]
            alone = limit == 1 and stop is None
            if isinstance(first, pygit2.Commit) and (alone or first.parent_ids == [stop]):
                yield _info(first)
                return
        walker = repo.walk(start, SortMode.TOPOLOGICAL | SortMode.TIME)
        if stop is not None:
            walker.hide(stop)
        for count, commit in enumerate(walker):
            if limit is not None and count >= limit:
                return
            yield _info(commit)
    except (pygit2.GitError, KeyError) as exc:
        raise GitError(f"cannot walk history from {start}: {line(exc)}") from exc


def _info(commit: pygit2.Commit) -> CommitInfo:
    """What ``history`` tells of one commit."""
    return CommitInfo(
        sha=str(commit.id),
        message=commit.raw_message.decode("utf-8", "replace"),
        parents=tuple(str(p) for p in commit.parent_ids),
        time=datetime.fromtimestamp(commit.commit_time, UTC),
        author_name=commit.author.raw_name.decode("utf-8", "replace"),
        author_email=commit.author.raw_email.decode("utf-8", "replace"),
    )


def line(exc: BaseException) -> str:
    """An exception's text on one line (libgit2 messages can span several)."""
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())
