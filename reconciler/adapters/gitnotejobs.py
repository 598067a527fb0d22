"""Notes asked for while a notes push is under way, written together in the next push.

Where it fits: ``gitrefs.Refs.update_note`` hands each note it is asked for to
``Jobs.run``. A push of the notes walks every note (``gitnotesrepo``): ~90 ms at
100,000 notes, ~1.5 s at 1,000,000. The caller that takes the notes' lock writes
every note waiting for that ref (``write``, ``Refs._write_notes``: each in a notes
commit of its own, chained, the last pushed once); the others learn their answer
within ``WAIT`` seconds of it, without the lock (an ``Event`` each), and take the
lock only when their note is still waiting.

Every job gets exactly one answer: the notes commit that set its note, "unchanged"
(its note already said it: None), or an error. An error in one job's ``change``
fails that job alone; a failure of the write or the push fails every job of the
batch that has no error of its own, "unchanged" ones included (what they were
judged against was not pushed). Each caller raises an exception of its own, made
from the batch's and chained to it: one exception object raised in several threads
would share, and race on, its traceback and context.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.errors import GitError, PushRejected, ReconcilerError

WAIT = 0.05  # seconds a caller waits for the lock before it looks at its answer again


@dataclass(eq=False)
class Job:
    """One note asked for: ``change`` applied to the note on ``commit`` in ``ref``."""

    commit: str
    change: Callable[[str | None], str | None]
    ref: str
    answered: threading.Event = field(default_factory=threading.Event)
    sha: str | None = None  # the notes commit that set it
    unchanged: bool = False  # ``change`` returned None: the note already said it
    error: BaseException | None = None


class Jobs:
    """The notes waiting for a push, and who writes them. ``lock`` is the notes'."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._guard = threading.Lock()  # over ``_pending`` only
        self._pending: list[Job] = []

    @property
    def waiting(self) -> int:
        """How many notes wait for a push (tests, logs)."""
        with self._guard:
            return len(self._pending)

    def run(self, job: Job, write: Callable[[list[Job]], None]) -> str | None:
        """``job``'s answer, written by this caller (``write`` given every job waiting
        for its ref, the lock held) or by the one that held the lock before."""
        with self._guard:
            self._pending.append(job)
        while not job.answered.is_set():
            if not self._lock.acquire(timeout=WAIT):
                continue
            try:
                if not job.answered.is_set():
                    self._settle(self._take(job.ref), write)
            finally:
                self._lock.release()
        return _answer(job)

    def _take(self, ref: str) -> list[Job]:
        with self._guard:
            batch = [job for job in self._pending if job.ref == ref]
            self._pending = [job for job in self._pending if job.ref != ref]
        return batch

    @staticmethod
    def _settle(batch: list[Job], write: Callable[[list[Job]], None]) -> None:
        try:
            write(batch)
        except BaseException as exc:
            for job in batch:
                if job.error is None:
                    job.error, job.sha, job.unchanged = exc, None, False
            if not isinstance(exc, Exception):
                raise  # interrupted: every job answered first
        finally:
            for job in batch:
                job.answered.set()


def _answer(job: Job) -> str | None:
    if job.error is not None:
        raise _fresh(job.error) from job.error
    if job.sha is None and not job.unchanged:
        raise GitError(f"the note on {job.commit[:12]} in {job.ref} was not written")
    return job.sha


def _fresh(exc: BaseException) -> BaseException:
    """An exception like ``exc`` for one caller to raise."""
    if isinstance(exc, PushRejected):
        return type(exc)(str(exc), ref=exc.ref, reason=exc.reason)
    try:
        return type(exc)(*exc.args)
    except TypeError:
        return GitError(str(exc)) if isinstance(exc, ReconcilerError) else RuntimeError(str(exc))
