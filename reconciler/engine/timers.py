"""Timers: every delayed reconcile goes through APScheduler, one job per purpose and key.

Where it fits: the daemon's components ask for a wake-up (the end of a bake, a
deploy deadline, a retry after an error, a status write that lost a race) through
``Timers`` instead of sleeping; a restart loses nothing, since each wake-up is
recomputed from git and the cluster on the next pass.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from reconciler.core import backoff


class Timers:
    """Wake-ups of rollouts and the periodic jobs, on one background scheduler."""

    def __init__(self, *, enqueue: Callable[[str], None], stop: threading.Event,
                 clock: Callable[[], datetime],
                 error_backoff: tuple[float, float]) -> None:
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self._enqueue = enqueue
        self._stop = stop
        self._clock = clock
        first, cap = error_backoff
        self._errors = backoff.Attempts(backoff.Policy(first=first, cap=cap,
                                                       jitter=backoff.ERRORS.jitter))
        self._conflicts = backoff.Attempts(backoff.STATUS_CONFLICTS)

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def every(self, job_id: str, seconds: float, func: Callable[[], None]) -> None:
        self.scheduler.add_job(func, "interval", seconds=seconds, id=job_id,
                               max_instances=1, coalesce=True)

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def wake(self, key: str, when: datetime, *, purpose: str = "wake") -> None:
        """Reconcile ``key`` at ``when``. One timer per (purpose, key): a retry never
        replaces the wake-up at the end of a bake, nor the other way round."""
        if self._stop.is_set() or not self.scheduler.running:
            return
        self.scheduler.add_job(self._enqueue, "date", run_date=when, args=[key],
                               id=f"{purpose}:{key}", replace_existing=True,
                               misfire_grace_time=None, coalesce=True)

    def at(self, job_id: str, when: datetime, func: Callable[[], None]) -> None:
        """Run ``func`` once at ``when``, replacing the job ``job_id``; asked before
        ``start`` (while the watches list), it waits for the scheduler."""
        if self._stop.is_set():
            return
        self.scheduler.add_job(func, "date", run_date=when, id=job_id, replace_existing=True,
                               misfire_grace_time=None, coalesce=True)

    def cancel(self, job_id: str) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(job_id)

    def retry_later(self, key: str) -> None:
        """After an error: again later, backing off while the error lasts."""
        self.wake(key, self._clock() + timedelta(seconds=self._errors.delay(key)),
                  purpose="retry")

    def succeeded(self, key: str) -> None:
        self._errors.reset(key)

    def conflicted(self, key: str) -> None:
        """A status write lost to a newer resourceVersion: retry shortly, once the
        watch has delivered the newer object."""
        self.wake(key, self._clock() + timedelta(seconds=self._conflicts.delay(key)),
                  purpose="conflict")

    def wrote(self, key: str) -> None:
        self._conflicts.reset(key)

    def run_soon(self, job_id: str, *, delay: float = 0.0) -> None:
        """Move a periodic job's next run to ``delay`` seconds from now."""
        if self._stop.is_set() or not self.scheduler.running or \
                self.scheduler.get_job(job_id) is None:
            return
        self.scheduler.modify_job(job_id, next_run_time=datetime.now(UTC)
                                  + timedelta(seconds=delay))
