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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

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


@dataclass(frozen=True)
class Trail:
    """This environment's part of git: release records (merged pull requests
    included), bake verdicts and decisions on pull requests, read at ``now``."""

    records: tuple[trailers.Record, ...]
    found: tuple[verdicts.Verdict, ...]
    decided: tuple[declines.Decline, ...]
    now: datetime


class Delivery:
    """This environment's figures over ``WINDOWS`` (``/metrics``) and over any span
    (the dashboard's charts), cached while git stands still."""

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
        self._trail: tuple[tuple[str, str | None], float, Trail] | None = None
        self._cache: dict[object, tuple[tuple[str, str | None], Any]] = {}
        self.computed = 0  # how many times the figures were computed (tests, benchmarks)

    def trail(self) -> Trail | None:
        """What the figures are computed from; None until the repository has been
        read. Kept while git does not move, for at most ``max_age`` (the windows
        slide with the clock)."""
        if not self._repository.loaded:
            return None
        snap = self._repository.snapshot
        mirror = self._repository.mirror
        key = (snap.commit, mirror.notes_head(verdicts.NOTES_REF))
        with self._lock:
            cached = self._trail
            if (cached is not None and cached[0] == key
                    and self._monotonic() - cached[1] < self._max_age):
                return cached[2]
            decided = tuple(d for d in self._verdicts.decisions()
                            if d.environment == self._environment)
            history = releases(mirror=mirror, snap=snap, records=snap.history, decided=decided,
                               environments=lambda env: env == self._environment)
            found = tuple(v for v in self._verdicts.all() if v.environment == self._environment)
            trail = Trail(records=tuple(history), found=found, decided=decided,
                          now=self._clock())
            self._trail = (key, self._monotonic(), trail)
            self._cache.clear()
            return trail

    def _memo(self, what: object, compute: Callable[[Trail], Any]) -> Any:
        trail = self.trail()
        if trail is None:
            return None
        with self._lock:
            mark = self._trail[0] if self._trail else ("", None)
            hit = self._cache.get(what)
            if hit is not None and hit[0] == mark:
                return hit[1]
        value = compute(trail)
        with self._lock:
            self._cache[what] = (mark, value)
        return value

    def figures(self) -> dict[str, stats.Figures]:
        """Window -> figures; empty until the repository has been read."""
        def compute(t: Trail) -> dict[str, stats.Figures]:
            self.computed += 1
            return stats.overall(t.records, t.found, now=t.now, environment=self._environment,
                                 windows={name: t.now - span for name, span in WINDOWS.items()},
                                 decided=t.decided)
        return cast(dict[str, stats.Figures], self._memo("windows", compute) or {})

    def report(self, span: timedelta) -> tuple[stats.Report, list[stats.Judged]] | None:
        """The figures of the last ``span`` per rollout and overall, and each release
        of it with its verdict (the dashboard's charts); None before the first read."""
        def compute(t: Trail) -> tuple[stats.Report, list[stats.Judged]]:
            since = t.now - span
            return (stats.compute(t.records, t.found, since=since, now=t.now,
                                  environment=self._environment, decided=t.decided),
                    stats.judged(t.records, t.found, since=since, now=t.now,
                                 environment=self._environment))
        return cast("tuple[stats.Report, list[stats.Judged]] | None",
                    self._memo(("report", span), compute))
