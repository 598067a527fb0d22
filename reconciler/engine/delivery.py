"""Delivery metrics of the audit trail, for ``reconciler stats`` and ``/metrics``.

Where it fits: ``core/stats`` computes the figures from plain records, verdicts and
decisions; this module gathers them from git. ``releases`` adds to a snapshot's
records the pull requests merged without trailers (``engine/adoption``), so they
count as the releases they are. ``Delivery`` is the daemon's collaborator behind the
``/metrics`` gauges: it computes this environment's figures over fixed windows when a
scrape asks, from the snapshot and the verdicts the daemon holds anyway, and keeps
them until git moves (branch head or notes head) or a minute has passed (the windows
slide with the clock), so a scrape costs next to nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from reconciler.adapters import git
from reconciler.core import declines, stats, trailers, verdicts
from reconciler.engine import adoption
from reconciler.engine.repository import Repository
from reconciler.engine.snapshot import Snapshot
from reconciler.engine.verdicts import Verdicts

WINDOWS: Mapping[str, timedelta] = {"7d": timedelta(days=7), "30d": timedelta(days=30)}
"""The windows the daemon exports (label ``window``): a fixed set."""

MAX_AGE = 60.0  # seconds the figures are kept while git does not move


def releases(*, mirror: git.Mirror, snap: Snapshot, records: Sequence[trailers.Record],
             decided: Iterable[declines.Decline],
             environments: Callable[[str], bool]) -> list[trailers.Record]:
    """``records`` (newest first) with the merge commits recorded as ``Merged``
    releases (of the environments ``environments`` accepts) that are on the branch."""
    found = list(decided)
    known = {r.commit for r in records}
    extra: list[trailers.Record] = []
    for rollout, env in sorted({(d.rollout, d.environment) for d in found
                                if d.decision == "Merged" and environments(d.environment)}):
        extra += [r for r in adoption.records(mirror=mirror, snap=snap, key=rollout,
                                              environment=env, found=found)
                  if r.commit not in known]
    if not extra:
        return list(records)
    return sorted([*extra, *records], key=lambda r: r.time, reverse=True)


class Delivery:
    """This environment's figures over ``WINDOWS``, cached while git stands still."""

    def __init__(self, *, repository: Repository, verdicts: Verdicts, environment: str,
                 clock: Callable[[], datetime], max_age: float = MAX_AGE,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._repository = repository
        self._verdicts = verdicts
        self._environment = environment
        self._clock = clock
        self._max_age = max_age
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cache: tuple[tuple[str, str | None], float, dict[str, stats.Figures]] | None = None
        self.computed = 0  # how many times the figures were computed (tests, benchmarks)

    def figures(self) -> dict[str, stats.Figures]:
        """Window -> figures; empty until the repository has been read."""
        if not self._repository.loaded:
            return {}
        snap = self._repository.snapshot
        mirror = self._repository.mirror
        key = (snap.commit, mirror.notes_head(verdicts.NOTES_REF))
        with self._lock:
            cached = self._cache
            if (cached is not None and cached[0] == key
                    and self._monotonic() - cached[1] < self._max_age):
                return cached[2]
            now = self._clock()
            decided = [d for d in self._verdicts.decisions()
                       if d.environment == self._environment]
            history = releases(mirror=mirror, snap=snap, records=snap.history, decided=decided,
                               environments=lambda env: env == self._environment)
            found = [v for v in self._verdicts.all() if v.environment == self._environment]
            out = {name: stats.compute(history, found, since=now - span, now=now,
                                       environment=self._environment, decided=decided).overall
                   for name, span in WINDOWS.items()}
            self._cache = (key, self._monotonic(), out)
            self.computed += 1
            return out
