"""git notes: read and write the notes of one notes ref, in the notes' repository.

Where it fits: bake verdicts (``core/verdicts``) are notes on release commits under
``refs/notes/reconciler``; ``git.Mirror`` keeps them in a repository of their own
inside the mirror (``gitnotesrepo``), fetches them when the remote's moved and
pushes them fast-forward only (never forced), through these object-level helpers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pygit2

from reconciler.adapters import gitnames, gitsign, gittrees
from reconciler.adapters.gitobjects import Author
from reconciler.adapters.signing import Signer
from reconciler.errors import GitError

# Every notes ref of the remote, mirrored as is: forced, since the local copy never
# holds anything unpushed (``git.Mirror`` moves a notes ref once its push is accepted).
FETCH_REFSPEC = "+refs/notes/*:refs/notes/*"


def read(repo: pygit2.Repository, ref: str, commit: str) -> str | None:
    if gitnames.reference(repo, ref) is None:
        return None
    try:
        note = repo.lookup_note(commit, ref)
    except KeyError:
        return None
    except pygit2.GitError as exc:
        raise GitError(f"cannot read the note on {commit[:12]} in {ref}: {exc}") from exc
    return str(note.message)


def read_at(repo: pygit2.Repository, *, notes: str | None, commit: str) -> str | None:
    """The note on ``commit`` in the notes commit ``notes`` (None: no notes yet), at
    any fan-out, a subtree before a flat name as libgit2's ``lookup_note`` takes
    them; no ref is read, so a notes commit not pushed yet (``write``'s
    ``move_ref=False``) can be read. The trees are iterated: ``commit`` is a name new
    at every call, which pygit2's name lookups would keep (``gitnames``)."""
    if notes is None:
        return None
    try:
        tree = repo[notes].peel(pygit2.Tree)
        rest = commit
        while True:
            flat = sub = None
            for entry in tree:
                if entry.filemode == pygit2.GIT_FILEMODE_TREE:
                    if sub is None and len(rest) > 2 and entry.name == rest[:2]:
                        sub = entry
                elif flat is None and entry.name == rest:
                    flat = entry
            if sub is not None:
                tree, rest = repo[sub.id].peel(pygit2.Tree), rest[2:]
            elif flat is not None:
                return repo[flat.id].peel(pygit2.Blob).data.decode("utf-8", "replace")
            else:
                return None
    except (pygit2.GitError, KeyError, ValueError) as exc:
        raise GitError(f"cannot read the note on {commit[:12]} in {notes[:12]}: {exc}") from exc


def each(repo: pygit2.Repository, ref: str) -> Iterator[tuple[str, str]]:
    """Every note under ``ref``, ``(annotated commit sha, text)``, read one at a time
    (the caller holds the repository for each step: ``git.Mirror.notes``)."""
    if gitnames.reference(repo, ref) is None:
        return
    try:
        # The stubs omit ``notes(ref)``'s argument; the C API takes it.
        for note in repo.notes(ref):  # type: ignore[call-arg]
            yield str(note.annotated_id), str(note.message)
    except pygit2.GitError as exc:
        raise GitError(f"cannot read the notes in {ref}: {exc}") from exc


_SHA = re.compile(r"[0-9a-f]{40}")


Changed = list[tuple[str, str | None, str | None]]


def changed(repo: pygit2.Repository, old: str, new: str) -> Changed:
    """The notes that differ between two commits of a notes ref: ``(annotated commit
    sha, text before or None, text after or None)``. One tree diff that reads only the
    fan-out directories that differ, so the cost is that of the change, not of every
    note; a note moved between fan-out levels
    (``ab/cdef...`` and ``abcdef...``, as git re-fans a growing notes tree) with the
    same text is no change."""
    try:
        before = repo[old].peel(pygit2.Tree)
        after = repo[new].peel(pygit2.Tree)
        seen: dict[str, list[str | None]] = {}
        for path, *sides in gittrees.changes(repo, before, after):
            name = path.replace("/", "")
            if not _SHA.fullmatch(name):
                continue  # not a note (git notes trees hold only notes)
            for side, found in enumerate(sides):
                if found is not None:
                    blob = repo[found[0]].peel(pygit2.Blob)
                    seen.setdefault(name, [None, None])[side] = (
                        blob.data.decode("utf-8", errors="replace"))
    except (pygit2.GitError, KeyError, ValueError) as exc:
        raise GitError(f"cannot compare notes {old[:12]} and {new[:12]}: {exc}") from exc
    return [(sha, texts[0], texts[1]) for sha, texts in sorted(seen.items())
            if texts[0] != texts[1]]


NOTES_MESSAGE = "Notes added by 'git notes add'\n"
"""The notes commit's message, as ``git notes add`` writes it."""


def write(repo: pygit2.Repository, ref: str, *, commit: str, text: str,
          author: Author, signer: Signer | None = None, parent: str | None = None,
          move_ref: bool = True) -> str:
    """Set the note on ``commit`` (replacing any) with a new commit on ``ref``, signed
    by ``signer`` when given, built on what ``ref`` points at, which then moves to it.
    With ``move_ref=False`` the commit is built on ``parent`` instead (None: the
    first notes commit) and no ref is read or moved (``git.Mirror`` moves the ref
    once the push is accepted, so that nothing unpushed is ever read from it).

    The notes tree is fanned out as ``git notes`` fans it (the note on ``abcdef...``
    at ``ab/cdef...``): libgit2's own ``git_note_create`` writes every note into one
    flat tree, so each verdict rewrote, hashed and cached a tree of every note ever
    written (its versions grew without bound in the daemon's memory and the mirror,
    and each cost O(notes)). Here a note rewrites its ``ab/`` subtree (about notes/256
    entries) and the root of at most 256. A flat tree written before is migrated a
    prefix at a time: when ``ab/`` is created, the flat notes named ``ab...`` move
    into it, so libgit2's ``lookup_note`` (which descends into a matching subtree and
    looks no further) still finds every note; git reads any mix of fan-outs."""
    signature = pygit2.Signature(author.name, author.email)
    try:
        if move_ref:
            head = gitnames.reference(repo, ref)
            base = head.peel(pygit2.Commit) if head is not None else None
        else:
            base = repo[parent].peel(pygit2.Commit) if parent is not None else None
        blob = repo.create_blob(text.encode("utf-8"))
        tree = _put(repo, base.tree if base is not None else None, commit, blob,
                    fanout=True)
        sha = gitsign.write(repo, tree=tree, parents=[base.id] if base else [],
                            message=NOTES_MESSAGE, author=signature,
                            committer=signature, signer=signer)
        if move_ref:
            repo.references.create(ref, sha, force=True)  # the local ref; pushed ff-only
        return str(sha)
    except (pygit2.GitError, KeyError, ValueError) as exc:
        raise GitError(f"cannot write the note on {commit[:12]} in {ref}: {exc}") from exc


def _put(repo: pygit2.Repository, tree: pygit2.Tree | None, name: str,
         blob: pygit2.Oid, *, fanout: bool) -> pygit2.Oid:
    """``tree`` with the note ``name`` (what is left of the annotated sha at this
    level) set to ``blob``: inside an existing ``name[:2]`` subtree when there is one
    (as git fans out further down), in a new one at the root (``fanout``), else flat."""
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    prefix = gitnames.held(name[:2])
    sub = tree[prefix] if tree is not None and prefix in tree else None
    if isinstance(sub, pygit2.Tree) or (sub is None and fanout):
        if tree is not None and _has(tree, name):
            # The note written flat before moves down; ``remove`` keeps its name.
            builder.remove(gitnames.held(name))
        inner = _put(repo, sub if isinstance(sub, pygit2.Tree) else None, name[2:], blob,
                     fanout=False)
        if sub is None and tree is not None:
            inner = _moved_in(repo, tree, builder, name, inner)
        builder.insert(prefix, inner, pygit2.GIT_FILEMODE_TREE)
    else:
        # Replaces a note of that name in place: no ``remove``, which would keep the
        # name for ever (a commit's note is written again when another environment's
        # verdict joins it).
        builder.insert(name, blob, pygit2.GIT_FILEMODE_BLOB)
    return builder.write()


def _has(tree: pygit2.Tree, name: str) -> bool:
    """Whether ``tree`` has an entry ``name``, found by iterating: ``name in tree``
    would keep ``name`` for ever, and an annotated commit's id is a new string at
    every note (``gitnames``). A root holds at most 256 subtrees and the flat notes
    not yet moved into them."""
    return any(entry.name == name for entry in tree)


def _moved_in(repo: pygit2.Repository, tree: pygit2.Tree,
              builder: pygit2.TreeBuilder, name: str, inner: pygit2.Oid) -> pygit2.Oid:
    """The new subtree ``inner`` (named ``name[:2]``) with the other flat notes of
    ``tree`` whose names start with ``name[:2]`` moved into it (and out of
    ``builder``); ``name`` itself was replaced already."""
    moving = [(entry.name, entry.id, entry.filemode) for entry in tree
              if entry.name and entry.name != name and len(entry.name) > 2
              and entry.name.startswith(name[:2])
              and entry.filemode != pygit2.GIT_FILEMODE_TREE]
    if not moving:
        return inner
    sub = repo.TreeBuilder(repo[inner].peel(pygit2.Tree))
    for entry_name, oid, mode in moving:
        builder.remove(gitnames.held(str(entry_name)))
        sub.insert(str(entry_name)[2:], oid, mode)
    return sub.write()
