"""The answers of notes written together (gitnotejobs): every job gets exactly one,
a failed write or push fails every job of its batch (those judged "unchanged"
against what was never pushed too), one job's own error stays its own, and each
caller raises an exception of its own."""

from __future__ import annotations

import threading

import pytest

from reconciler.adapters import gitnotejobs
from reconciler.errors import GitError, NonFastForward

REF = "refs/notes/reconciler"


def _job(commit: str, text: str | None = "x\n") -> gitnotejobs.Job:
    return gitnotejobs.Job(commit, lambda _: text, REF)


def test_a_refused_push_fails_every_job_of_the_batch_each_with_its_own_exception() -> None:
    lock = threading.RLock()
    jobs = gitnotejobs.Jobs(lock)
    refused = NonFastForward("refused", ref=REF, reason="fetch first")
    held, waiting = threading.Event(), threading.Event()
    raised: dict[str, BaseException] = {}

    def write(batch: list[gitnotejobs.Job]) -> None:
        if batch[0].commit == "first":
            held.set()
            waiting.wait(10)
            batch[0].sha = "1" * 40
            return
        batch[0].unchanged = True  # judged against the unpushed note below
        batch[1].sha = "2" * 40
        raise refused

    def run(job: gitnotejobs.Job) -> None:
        try:
            jobs.run(job, write)
        except BaseException as exc:
            raised[job.commit] = exc

    first = threading.Thread(target=run, args=(_job("first"),))
    first.start()
    assert held.wait(10)
    others = [threading.Thread(target=run, args=(_job(c),)) for c in ("a", "b")]
    for t in others:
        t.start()
    while jobs.waiting < 2:
        threading.Event().wait(0.01)
    waiting.set()
    for t in [first, *others]:
        t.join(10)
    assert "first" not in raised
    assert set(raised) == {"a", "b"}
    assert all(isinstance(e, NonFastForward) and e.__cause__ is refused
               for e in raised.values())
    assert raised["a"] is not raised["b"] and refused not in raised.values()
    assert raised["a"].reason == "fetch first"  # type: ignore[attr-defined]


def test_one_jobs_own_error_stays_its_own() -> None:
    jobs = gitnotejobs.Jobs(threading.RLock())

    def write(batch: list[gitnotejobs.Job]) -> None:
        batch[0].error = ValueError("its change failed")

    with pytest.raises(ValueError, match="its change failed"):
        jobs.run(_job("a"), write)


def test_a_job_left_without_an_answer_is_an_error_not_unchanged() -> None:
    jobs = gitnotejobs.Jobs(threading.RLock())
    with pytest.raises(GitError, match="was not written"):
        jobs.run(_job("a"), lambda batch: None)


def test_an_interrupt_answers_every_job_then_goes_on() -> None:
    jobs = gitnotejobs.Jobs(threading.RLock())
    job = _job("a")

    def write(batch: list[gitnotejobs.Job]) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        jobs.run(job, write)
    assert job.answered.is_set() and isinstance(job.error, KeyboardInterrupt)
    assert jobs.waiting == 0
