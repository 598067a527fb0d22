"""Delivery metrics from the audit trail alone: DORA's four keys, from git.

Where it fits: ``reconciler stats`` and the daemon's ``/metrics`` gather the
reconciler's commits (``trailers.Record``), the bake verdicts recorded as notes on
them (``verdicts.Verdict``) and the decisions on release pull requests
(``declines.Decline``); this module turns them into figures per rollout and
environment, per environment and overall. Pure: plain data in, plain data out;
``now`` is given, never read.

The definitions follow DORA's (https://dora.dev/guides/dora-metrics-four-keys/),
read through what git holds. Everything is per ``(rollout, environment)``; a commit
without an ``Environment`` trailer (written before environments existed) counts in
the ``environment`` given. The window is ``since <= t <= now``; anything git
records after ``now`` is ignored.

* **Release** (DORA's deployment): an ``Action: release`` commit in the window,
  adopted manual changes and pull requests merged without trailers included. A
  revert or rollback is the remedy of a failure, not a release.
* **Deployment frequency**: releases ÷ window length, per day and per week.
* **Failed release**: a release of the window that got a ``Failed`` verdict in its
  environment, or that a revert (``Reverts: <its sha>``) or a rollback (the newest
  earlier release whose tag is the rollback's ``Previous-Release``) took out, at any
  time up to ``now``. A release superseded by a newer one before its verdict, or
  still waiting for one, is no failure.
* **Change failure rate**: failed releases ÷ releases (None without releases).
* **Time to restore** (DORA's failed deployment recovery time): a failure starts at
  its ``Failed`` verdict's end, or at the revert or rollback commit when no verdict
  failed it; it lasts until the next ``Succeeded`` verdict of the same rollout and
  environment. Failures before that verdict are one episode, timed from the first.
  An episode counts in the window it ends in; one still open is reported as
  ``unrestored_since``. A revert puts back a release that was verified before, but
  git records no verdict of the revert itself: this is the time to the next
  verified release, an upper bound of the time the service was degraded.
* **Lead time**: from the release commit (its time on the branch: the commit time,
  or the merge commit's for a release merged from a pull request) to the end of its
  ``Succeeded`` verdict, for the window's verified releases. Git records no moment
  a candidate was first seen (that is the Rollout's status, in the cluster); the
  release commit is the earliest one it holds. So the time a candidate waited for a
  gate, a window or a promotion, and the image build before it, are not in it.
* **Weekly series**: per ISO week (UTC) overlapping the window, its releases and,
  of those, the failed ones (a failure counts in the week of its release).

Medians and 90th percentiles interpolate linearly between the closest ranks (as
numpy's default); without samples they are None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from reconciler.core import declines, trailers, verdicts

DAY = 86400.0

Key = tuple[str, str]  # (rollout, environment)


@dataclass(frozen=True)
class Spread:
    """Durations in seconds: how many, their median and 90th percentile."""

    count: int = 0
    median: float | None = None
    p90: float | None = None

    @classmethod
    def of(cls, seconds: Iterable[float]) -> Spread:
        values = sorted(seconds)
        if not values:
            return cls()
        return cls(count=len(values), median=quantile(values, 0.5), p90=quantile(values, 0.9))

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "median": self.median, "p90": self.p90}


@dataclass(frozen=True)
class Week:
    week: str  # ISO week, "2026-W49"
    start: date  # its Monday
    releases: int
    failures: int

    def as_dict(self) -> dict[str, Any]:
        return {"week": self.week, "start": self.start.isoformat(),
                "releases": self.releases, "failures": self.failures}


@dataclass(frozen=True)
class Figures:
    """The figures of one rollout in one environment, or of several pooled."""

    releases: int
    failed: int
    verified: int
    declined: int
    per_day: float
    time_to_restore: Spread
    lead_time: Spread
    unrestored_since: datetime | None
    weeks: tuple[Week, ...]

    @property
    def per_week(self) -> float:
        return self.per_day * 7

    @property
    def change_failure_rate(self) -> float | None:
        return self.failed / self.releases if self.releases else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "releases": self.releases,
            "deployment_frequency": {"per_day": self.per_day, "per_week": self.per_week},
            "failed_releases": self.failed,
            "change_failure_rate": self.change_failure_rate,
            "verified_releases": self.verified,
            "declined_releases": self.declined,
            "time_to_restore_seconds": self.time_to_restore.as_dict(),
            "unrestored_since": (self.unrestored_since.isoformat()
                                 if self.unrestored_since else None),
            "lead_time_seconds": self.lead_time.as_dict(),
            "weeks": [w.as_dict() for w in self.weeks],
        }


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    groups: tuple[tuple[Key, Figures], ...]  # sorted by environment, then rollout
    environments: tuple[tuple[str, Figures], ...]
    overall: Figures

    def as_dict(self) -> dict[str, Any]:
        """``reconciler stats -o json`` (docs/stats.md)."""
        return {
            "since": self.since.isoformat(), "until": self.until.isoformat(),
            "window_days": (self.until - self.since).total_seconds() / DAY,
            "rollouts": [{"rollout": rollout, "environment": env, **f.as_dict()}
                         for (rollout, env), f in self.groups],
            "environments": [{"environment": env, **f.as_dict()}
                             for env, f in self.environments],
            "overall": self.overall.as_dict(),
        }


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted ``values`` (linear between the closest ranks)."""
    pos = (len(values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


@dataclass
class _Tally:
    """What one group adds to the figures: counts and samples."""

    releases: list[datetime] = field(default_factory=list)
    failed: list[datetime] = field(default_factory=list)  # release times of failed ones
    verified: int = 0
    declined: int = 0
    restores: list[float] = field(default_factory=list)
    leads: list[float] = field(default_factory=list)
    open_since: list[datetime] = field(default_factory=list)


def compute(records: Iterable[trailers.Record], found: Iterable[verdicts.Verdict], *,
            since: datetime, now: datetime, environment: str = "default",
            decided: Iterable[declines.Decline] = ()) -> Report:
    """The figures of the window ``[since, now]`` (module docstring). ``records``
    newest first, as git lists them. Both may hold all that git holds: what lies
    before the window still decides whether a failure ended in it."""
    grouped, judged = _grouped(records, found, now=now, environment=environment)
    tallies = _tallies(grouped, judged, decided, since=since, now=now)
    groups = tuple((key, _figures([t], since=since, now=now))
                   for key, t in sorted(tallies.items(), key=lambda kv: (kv[0][1], kv[0][0])))
    envs = sorted({env for _, env in tallies})
    return Report(
        since=since, until=now, groups=groups,
        environments=tuple((env, _figures([t for (_, e), t in tallies.items() if e == env],
                                          since=since, now=now)) for env in envs),
        overall=_figures(list(tallies.values()), since=since, now=now))


def overall(records: Iterable[trailers.Record], found: Iterable[verdicts.Verdict], *,
            windows: Mapping[str, datetime], now: datetime, environment: str = "default",
            decided: Iterable[declines.Decline] = ()) -> dict[str, Figures]:
    """``compute(..., since=windows[name]).overall`` for each window, sorting and
    grouping the records once and making no per-rollout figures (``/metrics``
    exports only the overall ones; every scrape after a release computes them)."""
    grouped, judged = _grouped(records, found, now=now, environment=environment)
    decided = tuple(decided)
    return {name: _figures(list(_tallies(grouped, judged, decided, since=since,
                                         now=now).values()), since=since, now=now)
            for name, since in windows.items()}


def _grouped(records: Iterable[trailers.Record], found: Iterable[verdicts.Verdict], *,
             now: datetime, environment: str) -> tuple[
                 dict[Key, list[trailers.Record]], dict[tuple[str, str, str], verdicts.Verdict]]:
    """The records up to ``now`` per (rollout, environment), oldest first, and the
    first verdict of each (commit, rollout, environment)."""
    by_group: dict[Key, list[trailers.Record]] = {}
    # Oldest first; commits of the same second keep git's order (reversed).
    for r in sorted([r for r in records if r.time <= now][::-1], key=lambda r: r.time):
        key = (r.trailers.rollout, r.trailers.environment or environment)
        by_group.setdefault(key, []).append(r)
    judged: dict[tuple[str, str, str], verdicts.Verdict] = {}
    for v in sorted((v for v in found if v.ended <= now), key=lambda v: v.ended):
        judged.setdefault((v.commit, v.rollout, v.environment), v)
    return by_group, judged


def _tallies(grouped: Mapping[Key, list[trailers.Record]],
             judged: dict[tuple[str, str, str], verdicts.Verdict],
             decided: Iterable[declines.Decline], *, since: datetime,
             now: datetime) -> dict[Key, _Tally]:
    tallies: dict[Key, _Tally] = {key: _tally(key, rs, judged, since=since, now=now)
                                  for key, rs in grouped.items()}
    latest: dict[tuple[str, str, str], declines.Decline] = {}
    for d in sorted(decided, key=lambda d: d.at):
        # An approval answers another question (may it go out?), as declines.active
        # reads it: it neither ends nor starts a decline.
        if d.at <= now and d.decision != "Approved":
            latest[(d.rollout, d.environment, d.release)] = d
    for (rollout, env, _), d in latest.items():
        if d.decision == "Declined" and d.at >= since:
            tallies.setdefault((rollout, env), _Tally()).declined += 1
    return tallies


def _tally(key: Key, records: list[trailers.Record],
           judged: dict[tuple[str, str, str], verdicts.Verdict], *, since: datetime,
           now: datetime) -> _Tally:
    """One rollout in one environment; ``records`` oldest first."""
    rollout, env = key
    releases: list[trailers.Record] = []
    taken_out: dict[str, datetime] = {}  # release commit -> when a revert/rollback took it out
    # A canary (core/steps.py) counts as one release from its step 1; its verdict is
    # on its promote commit, and its revert names a step or the promote commit.
    promoted: dict[str, str] = {}  # step 1 commit -> promote commit
    canary: dict[str, str] = {}  # step or promote commit -> step 1 commit
    for r in records:
        t = r.trailers
        if t.action == "release" or (t.action == "step" and (t.step or "").startswith("1/")):
            releases.append(r)
            canary[r.commit] = r.commit
            continue
        if t.action in ("step", "promote"):
            start = next((x for x in reversed(releases)
                          if x.trailers.release == t.release), None)
            if start is not None:
                canary[r.commit] = start.commit
                if t.action == "promote":
                    promoted[start.commit] = r.commit
            continue
        if t.action == "revert" and t.reverts:
            first = canary.get(t.reverts, t.reverts)
            target = next((x for x in releases if x.commit == first), None)
        else:  # a rollback names the release it took out by its tag only
            target = next((x for x in reversed(releases) if x.commit not in taken_out
                           and x.trailers.release == t.previous_release), None)
        if target is not None:
            taken_out.setdefault(target.commit, r.time)
    tally = _Tally()
    events: list[tuple[datetime, int]] = []  # (when, 0 failure / 1 verified)
    for r in releases:
        v = judged.get((promoted.get(r.commit, r.commit), rollout, env))
        failed_at = v.ended if v is not None and v.result == "Failed" else \
            taken_out.get(r.commit)
        if failed_at is not None:
            events.append((failed_at, 0))
        if v is not None and v.result == "Succeeded":
            events.append((v.ended, 1))
        if not since <= r.time:
            continue
        tally.releases.append(r.time)
        if failed_at is not None:
            tally.failed.append(r.time)
        if v is not None and v.result == "Succeeded":
            tally.verified += 1
            tally.leads.append(max(0.0, (v.ended - r.time).total_seconds()))
    failing: datetime | None = None
    for when, good in sorted(events):
        if not good:
            failing = failing or when
        elif failing is not None:
            if when >= since:
                tally.restores.append((when - failing).total_seconds())
            failing = None
    if failing is not None:
        tally.open_since.append(failing)
    return tally


def _figures(tallies: list[_Tally], *, since: datetime, now: datetime) -> Figures:
    released = [t for tally in tallies for t in tally.releases]
    failed = [t for tally in tallies for t in tally.failed]
    days = (now - since).total_seconds() / DAY
    opened = [t for tally in tallies for t in tally.open_since]
    return Figures(
        releases=len(released), failed=len(failed),
        verified=sum(t.verified for t in tallies), declined=sum(t.declined for t in tallies),
        per_day=len(released) / days if days > 0 else 0.0,
        time_to_restore=Spread.of(s for t in tallies for s in t.restores),
        lead_time=Spread.of(s for t in tallies for s in t.leads),
        unrestored_since=min(opened) if opened else None,
        weeks=weeks(released, failed, since=since, now=now))


def weeks(released: Iterable[datetime], failed: Iterable[datetime], *, since: datetime,
          now: datetime) -> tuple[Week, ...]:
    """Releases and failed releases per ISO week, every week from ``since``'s to
    ``now``'s (weeks without any included, so a chart has no gaps)."""
    def monday(t: datetime) -> date:
        d = t.astimezone(UTC).date()
        return d - timedelta(days=d.weekday())

    counts: dict[date, list[int]] = {}
    start, last = monday(since), monday(now)
    while start <= last:
        counts[start] = [0, 0]
        start += timedelta(days=7)
    for t in released:
        counts[monday(t)][0] += 1
    for t in failed:
        counts[monday(t)][1] += 1
    out = []
    for day, (n, bad) in counts.items():
        year, week, _ = day.isocalendar()
        out.append(Week(week=f"{year}-W{week:02d}", start=day, releases=n, failures=bad))
    return tuple(out)


@dataclass(frozen=True)
class Judged:
    """One release of the window with the verdict its environment gave it: how long
    from the release commit to the end of its bake (what ``lead time`` samples, the
    failed ones included), for a chart of each release."""

    rollout: str
    release: str
    commit: str
    released: datetime
    result: str  # Succeeded | Failed
    seconds: float


def judged(records: Iterable[trailers.Record], found: Iterable[verdicts.Verdict], *,
           since: datetime, now: datetime, environment: str = "default") -> list[Judged]:
    """Every release commit in ``[since, now]`` that has a verdict of its own
    environment by ``now``, oldest first (the first verdict, as ``compute`` counts
    them). Git holds no moment a candidate was first seen: the release commit is the
    start, as for the lead time (module docstring). Pure."""
    first: dict[tuple[str, str, str], verdicts.Verdict] = {}
    for v in sorted((v for v in found if v.ended <= now), key=lambda v: v.ended):
        first.setdefault((v.commit, v.rollout, v.environment), v)
    out = []
    for r in records:
        t = r.trailers
        if t.action != "release" or not since <= r.time <= now:
            continue
        got = first.get((r.commit, t.rollout, t.environment or environment))
        if got is not None:
            out.append(Judged(rollout=t.rollout, release=t.release, commit=r.commit,
                              released=r.time, result=got.result,
                              seconds=max(0.0, (got.ended - r.time).total_seconds())))
    return sorted(out, key=lambda j: j.released)
