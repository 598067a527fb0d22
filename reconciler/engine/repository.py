"""The config repository as the daemon sees it: the mirror, the current snapshot,
and the one lock every write to the branch takes.

Where it fits: the daemon's components read ``Repository.snapshot`` (the branch
head, scanned) and write through ``Repository.write`` (one writer at a time, the
snapshot refreshed right after), so nobody holds a stale view for long. The
periodic fetch lives here too, with its backoff while the remote fails. The bake
verdicts (notes) are written without this lock, under the mirror's notes' lock
(``engine/verdicts``, ``Mirror.update_note``): a release does not wait for a
verdict's push.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from reconciler.adapters import git, scancache
from reconciler.core import backoff, verdicts
from reconciler.engine.releaser import Releaser
from reconciler.engine.snapshot import Snapshot
from reconciler.errors import GitError, ReconcilerError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Fetched:
    """What a periodic fetch found: ``moved`` or ``recovered`` ask for a resync;
    ``retry_in`` (seconds) is set when it failed."""

    moved: bool = False
    recovered: bool = False
    retry_in: float | None = None


class Repository:
    def __init__(self, *, mirror: git.Mirror, releaser: Releaser | None = None,
                 scan_store: scancache.Store | None = None) -> None:
        """``scan_store``: the scans on disk beside the mirror (``engine/scanstore``),
        read and written by the first snapshot only, then let go: a restart with the
        cache volume kept parses nothing, and no later write pays for the file."""
        self.mirror = mirror
        self._scan_store = scan_store
        self.releaser = releaser or Releaser(mirror)
        self.lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self.fetch_error: str | None = None
        self._failures = backoff.Attempts(backoff.ERRORS)
        self._reported: set[str] = set()  # repository errors already logged
        self._arrivals = 0  # the mirror's ``notes_arrivals`` of the verdicts at the last fetch

    @property
    def snapshot(self) -> Snapshot:
        snap = self._snapshot
        if snap is None:
            raise RuntimeError("the config repository has not been read yet")
        return snap

    @property
    def loaded(self) -> bool:
        return self._snapshot is not None

    def load(self) -> Snapshot:
        """The first fetch and snapshot; errors propagate (start-up fails)."""
        with self.lock:
            self.mirror.fetch()
            self._arrivals = self.mirror.notes_arrivals(verdicts.NOTES_REF)
            self._snapshot = self.releaser.snapshot(fetch=False, store=self._scan_store)
            self._scan_store = None
        self._report_problems(self._snapshot)
        return self._snapshot

    def fetch(self, *, interval: float, cap: float) -> Fetched:
        """Fetch the branch. While fetches fail (remote unreachable, credentials
        refused), the next one should wait longer each time: ``interval`` doubling up
        to ``cap``, jittered, returned as ``retry_in``."""
        try:
            with self.lock:
                before = self._snapshot.commit if self._snapshot else None
                self.mirror.fetch()
                snap = self._snapshot = self.releaser.snapshot(fetch=False)
                # A new bake verdict from another cluster moves the notes, not the
                # branch, and may make a release eligible for promotion here. Counted
                # by the mirror: fetched by this fetch or by a verdict's retry since
                # the last one; this daemon's own verdicts, pushed meanwhile without
                # this lock (``Verdicts``), are no news.
                arrivals = self.mirror.notes_arrivals(verdicts.NOTES_REF)
                notes_moved, self._arrivals = arrivals != self._arrivals, arrivals
        except ReconcilerError as exc:
            policy = backoff.Policy(first=interval, cap=max(interval, cap),
                                    jitter=backoff.ERRORS.jitter)
            delay = self._failures.delay("fetch", policy=policy)
            log.warning("fetch failed: %s; next fetch in %.1fs", exc, delay)
            self.fetch_error = str(exc)
            return Fetched(retry_in=delay)
        recovered = self.fetch_error is not None
        self.fetch_error = None
        self._failures.reset("fetch")
        self._report_problems(snap)
        if recovered:
            log.info("config repository reachable again at %s", snap.commit[:12])
        elif snap.commit != before:
            log.info("config repository moved to %s", snap.commit[:12])
        elif notes_moved:
            log.info("bake verdicts in the config repository changed")
        return Fetched(moved=snap.commit != before or notes_moved, recovered=recovered)

    def write(self, action: Callable[[Releaser], T]) -> T:
        """Run one git write with the lock held; the snapshot follows the new head."""
        with self.lock:
            result = action(self.releaser)
            self._snapshot = self.releaser.snapshot(fetch=False)
        return result

    def descends(self, sha: str, commit: str) -> bool:
        """Is ``sha`` the commit ``commit`` or a descendant of it?"""
        if sha == commit:
            return True
        try:
            return self.mirror.is_ancestor(commit, sha)
        except GitError:
            return False  # Flux may have applied a commit we have not fetched yet

    def _report_problems(self, snap: Snapshot, limit: int = 20) -> None:
        """Log each error in the config repository once, when it appears: a file that
        does not parse or a symlink concerns no rollout's status, so the log is where
        a person sees it (``reconciler validate`` lists them all)."""
        errors = [p.render() for p in snap.inventory.errors()]
        new = [line for line in errors if line not in self._reported]
        self._reported = set(errors)
        for line in new[:limit]:
            log.warning("config repository at %s: %s", snap.commit[:12], line)
        if len(new) > limit:
            log.warning("config repository at %s: %d more errors; run `reconciler validate`",
                        snap.commit[:12], len(new) - limit)
