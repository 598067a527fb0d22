"""A push to a repository on this machine (``file://`` or a path), never forced.

Part of the git adapter (``git.Mirror``'s pushes). libgit2's local transport checks
fast-forward against the refs it listed when it connected, then writes the remote's
ref with force (``local_push_update_remote_ref`` in libgit2's
``src/libgit2/transports/local.c``): two processes pushing to one repository at once
overwrite each other's commits. Four mirrors pushing 100 commits each to one bare
repository lost 183 of the 400 that way (tests/integration/test_git_local_push.py).
A git server does not: ``git receive-pack`` locks the ref and checks its old value.

So a local push here does what receive-pack does, in two steps, without libgit2's
transport:

1. the objects the remote lacks are copied into its object database: for each new
   commit, oldest first, the blobs its diff against its first parent names and the
   trees on their paths (``gittrees.changes``: only directories that differ are read,
   and a directory of 10,000 files is not read entry by entry), those the remote
   lacks; a root commit's whole tree;
2. the ref moves by compare-and-swap in the remote repository: libgit2's
   ``git_reference_set_target`` updates a ref under its lock file only if it still
   holds the value read (``git_reference_create_matching``; the same ``.lock``
   files git itself takes), after checking the new commit descends from it.

A ref that moved or is locked by another writer at that moment is reported as a
rejection naming it, which the mirror turns into ``NonFastForward`` (fetch,
recompute, retry), as for a git server. No temporary ref is made: libgit2's local
fetch lists every ref and then looks each up, and fails on one deleted between.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zlib
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pygit2
from pygit2.enums import FileMode, ObjectType

from reconciler.adapters import gitauth, gitnames, gittrees


def path_of(url: str) -> Path:
    """The directory of a ``file://`` URL (``RemoteURL`` makes one of a local path)."""
    return Path(unquote(urlsplit(url).path))


def push_local(mirror: pygit2.Repository, path: Path, sha: str, ref: str,
               callbacks: gitauth.Callbacks) -> None:
    """Push commit ``sha`` of ``mirror`` to ``ref`` of the repository at ``path``,
    fast-forward only; a refusal lands in ``callbacks.rejections`` as libgit2's push
    reports a server's."""
    remote = pygit2.Repository(str(path))
    try:
        _copy_commits(mirror, remote, pygit2.Oid(hex=sha))
        refusal = _move(remote, ref, sha)
    finally:
        remote.free()
    if refusal is not None:
        callbacks.rejections.append((ref, refusal))


def _copy_commits(mirror: pygit2.Repository, remote: pygit2.Repository,
                  start: pygit2.Oid) -> None:
    """Copy the commits from ``start`` down to those ``remote`` has, oldest first, each
    after the objects of its tree that ``remote`` lacks."""
    target = remote.odb
    new: list[pygit2.Commit] = []
    pending, seen = [start], set()
    while pending:
        oid = pending.pop()
        if oid in seen or oid in target:
            continue
        seen.add(oid)
        found = mirror[oid]
        assert isinstance(found, pygit2.Commit)
        new.append(found)
        pending.extend(found.parent_ids)
    for commit in reversed(new):
        if not commit.parents:
            _copy_missing(mirror.odb, target, commit.tree_id)
        else:
            for oid in _changed(mirror, commit):
                if oid not in target:
                    _copy_object(mirror, remote, oid)
        _copy_object(mirror, remote, commit.id)


def _copy_object(source: pygit2.Repository, target: pygit2.Repository,
                 oid: pygit2.Oid) -> None:
    """Copy one object into ``target``. A loose one is copied as its file, once its
    inflated bytes are checked to hash to its id: deflating again the 400 KB tree of
    a 10,000-file directory cost more than the rest of the push. The file lands as
    git's own writes do (a temporary file in the fan-out directory, then a hard link
    to the object's name; an object already there is the same object). A packed one
    is read and written by libgit2."""
    name = str(oid)
    try:
        stored = (Path(source.path) / "objects" / name[:2] / name[2:]).read_bytes()
    except OSError:
        stored = None
    if stored is None or not _intact(stored, name):
        kind, data = source.odb.read(oid)
        target.odb.write(kind, data)
        return
    folder = Path(target.path) / "objects" / name[:2]
    folder.mkdir(exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix="tmp_obj_", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(stored)
        os.chmod(temporary, 0o444)
        try:
            os.link(temporary, folder / name[2:])
        except FileExistsError:
            pass
        except OSError:  # no hard links here: git renames then
            os.replace(temporary, folder / name[2:])
    finally:
        Path(temporary).unlink(missing_ok=True)


def _intact(stored: bytes, name: str) -> bool:
    """Does a loose object's file inflate to bytes whose SHA-1 is ``name``?"""
    try:
        raw = zlib.decompress(stored)
    except zlib.error:
        return False
    return hashlib.sha1(raw, usedforsecurity=False).hexdigest() == name


def _changed(repo: pygit2.Repository, commit: pygit2.Commit) -> list[pygit2.Oid]:
    """The blobs and trees of ``commit`` that differ from its first parent's (which
    the target has), children first: the files that changed and the directories on
    their paths, not every entry of every directory on the way
    (``gittrees.changes``: a release in a directory of 10,000 files would look at
    each, and libgit2's tree diff reads every directory of both trees)."""
    trees: list[pygit2.Oid] = []
    changed = gittrees.changes(repo, commit.parents[0].tree, commit.tree, trees)
    # A submodule's commit is another repository's.
    blobs = [now[0] for _, _, now in changed if now is not None and now[1] != FileMode.COMMIT]
    return [*blobs, *trees, commit.tree_id]


def _copy_missing(source: pygit2.Odb, target: pygit2.Odb, start: pygit2.Oid) -> None:
    """Write into ``target`` every object reachable from ``start`` that it lacks; an
    object it has is taken to have its whole closure (as git's connectivity holds).
    Children are written before the objects that name them."""
    pending: list[tuple[pygit2.Oid, bool]] = [(start, False)]
    seen: set[pygit2.Oid] = set()
    while pending:
        oid, expanded = pending.pop()
        if expanded:
            kind, data = source.read(oid)
            target.write(kind, data)
            continue
        if oid in seen or oid in target:
            continue
        seen.add(oid)
        pending.append((oid, True))
        pending.extend((child, False) for child in _children(source, oid))


def _children(odb: pygit2.Odb, oid: pygit2.Oid) -> list[pygit2.Oid]:
    kind, data = odb.read(oid)
    if kind == ObjectType.COMMIT:
        return [pygit2.Oid(hex=line.split()[1].decode())
                for line in data.split(b"\n\n", 1)[0].splitlines()
                if line.startswith((b"tree ", b"parent "))]
    if kind == ObjectType.TREE:
        return _tree_children(data)
    return []


def _tree_children(data: bytes) -> list[pygit2.Oid]:
    """The ids a raw tree names, submodule commits (mode 160000) left out: another
    repository's objects."""
    children = []
    at = 0
    while at < len(data):
        space = data.index(b" ", at)
        nul = data.index(b"\0", space)
        if data[at:space] != b"160000":
            children.append(pygit2.Oid(raw=data[nul + 1:nul + 21]))
        at = nul + 21
    return children


def _move(repo: pygit2.Repository, ref: str, sha: str) -> str | None:
    """Move ``ref`` to ``sha`` if that is a fast-forward of its value now, atomically;
    the reason when it is not."""
    target = pygit2.Oid(hex=sha)
    try:
        current = gitnames.reference(repo, ref)
        if current is None:
            repo.references.create(ref, target, force=False)
            return None
        old = current.target
        if old == target:
            return None
        if not isinstance(old, pygit2.Oid) or not repo.descendant_of(target, old):
            return f"non-fast-forward: {ref} is at {old} on the remote"
        current.set_target(target)
    except pygit2.AlreadyExistsError as exc:
        return f"non-fast-forward: {ref} was created meanwhile ({exc})"
    except (pygit2.GitError, OSError) as exc:
        # libgit2: "old reference value does not match" (another writer moved it
        # between our read and our lock), or "failed to lock file" (another holds the
        # lock: an OSError, libgit2's error class being the OS's).
        return f"cannot lock ref {ref}: {exc}"
    return None
