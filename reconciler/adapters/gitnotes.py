"""git notes: read and write the notes of one notes ref, in the mirror.

Where it fits: bake verdicts (``core/verdicts``) are notes on release commits under
``refs/notes/reconciler``; ``git.Mirror`` fetches the notes ref beside the branch
and pushes it fast-forward only (never forced), through these object-level helpers.
"""

from __future__ import annotations

import re

import pygit2

from reconciler.adapters import gitsign
from reconciler.adapters.gitobjects import Author
from reconciler.adapters.signing import Signer
from reconciler.errors import GitError

# Every notes ref of the remote, mirrored as is: forced, since the local copy never
# holds anything unpushed (a refused notes push is reset at once).
FETCH_REFSPEC = "+refs/notes/*:refs/notes/*"


def read(repo: pygit2.Repository, ref: str, commit: str) -> str | None:
    if repo.references.get(ref) is None:
        return None
    try:
        note = repo.lookup_note(commit, ref)
    except KeyError:
        return None
    except pygit2.GitError as exc:
        raise GitError(f"cannot read the note on {commit[:12]} in {ref}: {exc}") from exc
    return str(note.message)


def read_all(repo: pygit2.Repository, ref: str) -> list[tuple[str, str]]:
    if repo.references.get(ref) is None:
        return []
    out = []
    try:
        # The stubs omit ``notes(ref)``'s argument; the C API takes it.
        for note in repo.notes(ref):  # type: ignore[call-arg]
            out.append((str(note.annotated_id), str(note.message)))
    except pygit2.GitError as exc:
        raise GitError(f"cannot read the notes in {ref}: {exc}") from exc
    return out


_SHA = re.compile(r"[0-9a-f]{40}")


Changed = list[tuple[str, str | None, str | None]]


def changed(repo: pygit2.Repository, old: str, new: str) -> Changed:
    """The notes that differ between two commits of a notes ref: ``(annotated commit
    sha, text before or None, text after or None)``. One tree diff, so the cost is
    that of the change, not of every note; a note moved between fan-out levels
    (``ab/cdef...`` and ``abcdef...``, as git re-fans a growing notes tree) with the
    same text is no change."""
    try:
        before = repo[old].peel(pygit2.Tree)
        after = repo[new].peel(pygit2.Tree)
        diff = before.diff_to_tree(after)
        seen: dict[str, list[str | None]] = {}
        for delta in diff.deltas:
            for side, file in ((0, delta.old_file), (1, delta.new_file)):
                if side == 0 and delta.status == pygit2.GIT_DELTA_ADDED:
                    continue
                if side == 1 and delta.status == pygit2.GIT_DELTA_DELETED:
                    continue
                name = file.path.replace("/", "")
                if not _SHA.fullmatch(name):
                    continue  # not a note (git notes trees hold only notes)
                blob = repo[file.id].peel(pygit2.Blob)
                seen.setdefault(name, [None, None])[side] = (
                    blob.data.decode("utf-8", errors="replace"))
    except (pygit2.GitError, KeyError, ValueError) as exc:
        raise GitError(f"cannot compare notes {old[:12]} and {new[:12]}: {exc}") from exc
    return [(sha, texts[0], texts[1]) for sha, texts in sorted(seen.items())
            if texts[0] != texts[1]]


def write(repo: pygit2.Repository, ref: str, *, commit: str, text: str,
          author: Author, signer: Signer | None = None) -> str:
    """Set the note on ``commit`` (replacing any) with a new commit on ``ref``, signed
    by ``signer`` when given: libgit2 builds the notes commit (its fan-out tree too)
    but cannot sign it, so the ref then moves to the same commit signed
    (``gitsign.resign``); the unsigned one stays unreferenced and is never pushed."""
    signature = pygit2.Signature(author.name, author.email)
    try:
        repo.create_note(text, signature, signature, commit, ref, True)
        if signer is not None:
            unsigned = repo.references[ref].peel(pygit2.Commit)
            repo.references.create(ref, gitsign.resign(repo, unsigned, signer), force=True)
        return str(repo.references[ref].target)
    except (pygit2.GitError, KeyError) as exc:
        raise GitError(f"cannot write the note on {commit[:12]} in {ref}: {exc}") from exc


def reset(repo: pygit2.Repository, ref: str, sha: str | None) -> None:
    """Put ``ref`` back where it was (``None``: no notes yet)."""
    if sha is None:
        found = repo.references.get(ref)
        if found is not None:
            found.delete()
    else:
        repo.references.create(ref, sha, force=True)
