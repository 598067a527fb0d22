"""Refs beside the mirrored branch: the bake-verdict notes and the pull-request branches.

Where it fits: a mixin of ``git.Mirror`` (which supplies the repository, the lock, the
network context and the fast-forward-only push); split out so that each module stays
one concept. The notes ref holds the bake verdicts (``core/verdicts``), kept in the
notes' own repository inside the mirror (``gitnotesrepo``); a pull-request
branch (``reconciler/<environment>/<namespace>/<name>``) holds a proposed release
(``engine/writers/pullrequest``). Only these refs and the branch are ever fetched or
pushed, never forced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pygit2
from pygit2.enums import FetchPrune

from reconciler.adapters import gitauth, gitnames, gitnotejobs, gitnotes, gitnotesrepo, reffiles
from reconciler.adapters.gitobjects import Author
from reconciler.adapters.signing import Signer
from reconciler.errors import GitError, PushRejected, ReconcilerError

log = logging.getLogger(__name__)

_REMOTE = "origin"
_T = TypeVar("_T")


class Refs:
    """Notes and pull-request branches; ``git.Mirror`` provides what is declared here."""

    _repo: pygit2.Repository
    _lock: threading.RLock
    _notes_lock: threading.RLock
    _note_jobs: gitnotejobs.Jobs  # notes waiting for a push (``update_note``)
    on_notes_push: Callable[[str, float, int], None]
    """Told each notes push's result ("pushed", "rejected", "error"), its seconds
    and how many notes it carried (the daemon's metrics)."""
    _author: Author
    _signer: Signer | None
    _remote: gitauth.RemoteURL
    _path: Path
    _notes: gitnotesrepo.NotesRepo

    if TYPE_CHECKING:  # provided by git.Mirror; declared for the type checker only
        def _commit(self, sha: str) -> pygit2.Commit: ...

        def _locked(self, items: Iterator[_T],
                    lock: threading.RLock | None = None) -> Iterator[_T]: ...

        def _push_ref(self, sha: str, ref: str, *, tracking: str) -> None: ...

        def _send(self, repo: pygit2.Repository, sha: str, ref: str, *,
                  tracking: str) -> None: ...

        def _fetch_notes(self) -> int: ...

        def _network(self, doing: str, *,
                     ref: str | None = None) -> AbstractContextManager[gitauth.Callbacks]: ...

    # -- notes (bake verdicts; see core/verdicts) ----------------------------------------
    #
    # The notes' repository has a lock of its own (``_notes_lock``): a verdict's push
    # walks every note (``gitnotesrepo``), 30 ms at 10,000 notes and ~1.5 s at 1,000,000,
    # and a release's push must not wait for it. Lock order: the mirror's lock, then
    # the notes' lock, never the other way round (``git.Mirror._fetch`` takes the
    # notes' inside the mirror's; nothing here takes the mirror's inside the notes').

    def notes_head(self, ref: str) -> str | None:
        """The commit the notes ref points at, as last fetched; None without notes.
        Every reconcile asks (has a verdict moved?): read from the ref's file in the
        notes' repository without a lock (``reffiles.one``), which a push holds for
        tens of ms at a time; through libgit2 under the notes' lock where the refs
        are stored otherwise."""
        notes = self._notes
        if notes.plain_refs:
            try:
                return reffiles.one(notes.path, ref)
            except ValueError:
                pass
        with self._notes_lock:
            return self._notes.head(ref)

    def _target(self, ref: str) -> str | None:
        """What the local ``ref`` points at; None when there is no such ref. The
        caller holds the lock."""
        found = gitnames.reference(self._repo, ref)
        return str(found.target) if found is not None else None

    def notes(self, ref: str) -> Iterable[tuple[str, str]]:
        """Every note under ``ref``: ``(annotated commit sha, note text)``, read lazily
        (the notes' lock held for each note, not for them all: ``Objects.log``)."""
        with self._notes_lock:
            found = gitnotes.each(self._notes.repo, ref)
        return self._locked(found, self._notes_lock)

    def notes_changed(self, old: str, new: str) -> list[tuple[str, str | None, str | None]]:
        """The notes that differ between two commits of a notes ref: ``(annotated
        commit sha, text before or None, text after or None)``."""
        with self._notes_lock:
            return gitnotes.changed(self._notes.repo, old, new)

    def note(self, commit: str, ref: str) -> str | None:
        with self._notes_lock:
            return gitnotes.read(self._notes.repo, ref, commit)

    def add_note(self, commit: str, text: str, ref: str) -> str:
        """Set the note on ``commit`` to ``text`` and push the notes ref: ``update_note``
        with the text given. Returns the notes commit."""
        sha = self.update_note(commit, lambda _: text, ref)
        assert sha is not None
        return sha

    def update_note(self, commit: str, change: Callable[[str | None], str | None],
                    ref: str) -> str | None:
        """Set the note on ``commit`` to ``change(its text now, or None)`` and push the
        notes ref (fast-forward only, never forced), from the notes' repository
        (``gitnotesrepo``); the read, the write and the push under the notes' lock
        only, so that no other writer's note lands between them and no release waits
        for them. ``change`` returning None leaves the note alone (None returned);
        it runs under the notes' lock, so it must not call the mirror (a pure
        function of the text, as ``core/verdicts.add`` is).

        Notes asked for while another push holds the lock go out together in the
        next push, each in a notes commit of its own (``git log`` of the notes shows
        each): a push walks every note (``gitnotesrepo``), so verdicts that pile up
        behind one cost one more walk, not one each.

        ``NonFastForward`` when another writer pushed notes first (every note of that
        push is refused alike): ``fetch_notes``, then call again (``change`` sees
        their text). Returns the notes commit that set this note."""
        with self._lock:  # the annotated commit must exist; its full id, as notes name it
            commit = str(self._commit(commit).id)
        sha = self._note_jobs.run(gitnotejobs.Job(commit, change, ref), self._write_notes)
        if sha is not None:
            log.info("recorded a note on %s in %s", commit[:12], ref)
        return sha

    def _write_notes(self, batch: list[gitnotejobs.Job]) -> None:
        """Write the notes of ``batch`` (one ref's) as a commit each, chained on the
        ref's commit, and push the last; each job's answer set (``gitnotejobs``; a
        failure raised is every job's). The ref moves only when the server took the
        push (``_send``), so nothing unpushed is ever read from it: ``notes_head``
        reads the ref's file without the lock. Call with the notes' lock held."""
        notes, ref = self._notes, batch[0].ref
        tip = notes.head(ref)
        written: list[tuple[gitnotejobs.Job, str]] = []
        for job in batch:
            try:
                text = job.change(gitnotes.read_at(notes.repo, notes=tip, commit=job.commit))
            except Exception as exc:  # that caller's own: the others go on
                job.error = exc
                continue
            if text is None:
                job.unchanged = True
                continue
            tip = gitnotes.write(notes.repo, ref, commit=job.commit, text=text,
                                 author=self._author, signer=self._signer,
                                 parent=tip, move_ref=False)
            written.append((job, tip))
        if not written:
            return
        started = time.perf_counter()
        try:
            self._send(notes.repo, written[-1][1], ref, tracking=ref)
        except PushRejected:
            self.on_notes_push("rejected", time.perf_counter() - started, len(written))
            raise
        except ReconcilerError:
            self.on_notes_push("error", time.perf_counter() - started, len(written))
            raise
        self.on_notes_push("pushed", time.perf_counter() - started, len(written))
        for job, sha in written:
            job.sha = sha
        if len(written) > 1:
            log.debug("pushed %d notes to %s in one push", len(written), ref)
        try:
            notes.after_write()  # housekeeping: never fails a note that was pushed
        except Exception as exc:
            log.warning("after pushing notes to %s: %s", ref, " ".join(str(exc).split()))

    def fetch_notes(self) -> int:
        """Fetch the remote's notes refs only (after a notes push was refused: another
        writer's notes came first), under the notes' lock alone; the objects received.
        ``notes_arrivals`` counts each ref it moved."""
        with self._notes_lock:
            return self._fetch_notes()

    # -- pull-request branches ---------------------------------------------------------

    def has(self, sha: str) -> bool:
        """Whether the mirror holds commit ``sha``."""
        with self._lock:
            try:
                self._commit(sha)
            except GitError:
                return False
            return True

    def fetch_branch(self, name: str) -> str | None:
        """Fetch branch ``name`` (a pull request's); its head sha, or None when the
        remote has no such branch (the local copy of it is then forgotten)."""
        return self.fetch_ref(f"refs/heads/{name}", f"refs/remotes/{_REMOTE}/{name}")

    def fetch_ref(self, ref: str, tracking: str) -> str | None:
        """Fetch one ref of the remote (a branch, or a forge's ``refs/pull/N/head``) into
        ``tracking``; its sha, or None when the remote has no such ref."""
        with self._lock:
            with self._network("fetch") as callbacks:
                remote = self._repo.remotes[_REMOTE]
                remote.fetch([f"+{ref}:{tracking}"], callbacks=callbacks,
                             prune=FetchPrune.NO_PRUNE, proxy=True)
                heads = {h.name: str(h.oid) for h in remote.list_heads(connect=False)}
            if ref not in heads:
                if self._target(tracking) is not None:
                    self._repo.references.delete(gitnames.held(tracking))
                return None
            return self._target(tracking)

    def push_branch(self, commit: str, name: str) -> None:
        """Push ``commit`` to branch ``name``: created, or fast-forwarded (never forced;
        ``NonFastForward`` when it does not descend from the branch's head)."""
        with self._lock:
            sha = str(self._commit(commit).id)
            self._push_ref(sha, f"refs/heads/{name}",
                           tracking=f"refs/remotes/{_REMOTE}/{name}")

    def delete_branch(self, name: str) -> None:
        """Delete branch ``name`` on the remote (a finished pull request's, before the
        next proposal starts it again from the base branch)."""
        ref, tracking = f"refs/heads/{name}", f"refs/remotes/{_REMOTE}/{name}"
        with self._lock:
            with self._network("delete branch on", ref=ref) as callbacks:
                self._repo.remotes[_REMOTE].push([f":{ref}"], callbacks=callbacks,
                                                 proxy=True)
            if callbacks.rejections:
                raise GitError(f"deleting {name} on {self._remote} was refused: "
                               + "; ".join(m for _, m in callbacks.rejections))
            if self._target(tracking) is not None:
                self._repo.references.delete(gitnames.held(tracking))

    def merges_cleanly(self, ours: str, theirs: str) -> bool:
        """Whether git's three-way merge of ``theirs`` into ``ours`` has no conflict (as
        the forge computes ``mergeable``), computed in memory."""
        with self._lock:
            try:
                index = self._repo.merge_commits(self._commit(ours), self._commit(theirs))
            except pygit2.GitError as exc:
                raise GitError(f"cannot merge {theirs[:12]} into {ours[:12]}: {exc}") from exc
            return index.conflicts is None

    def message(self, commit: str) -> str:
        """The full message of ``commit`` (which must be in the mirror)."""
        with self._lock:
            return self._commit(commit).raw_message.decode("utf-8", "replace")
