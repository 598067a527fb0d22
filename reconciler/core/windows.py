"""Deploy windows: whether a rollout may start a new release now, and when that changes.

Where it fits: ``engine/observe.py`` parses the RolloutSchedules and
ClusterRolloutSchedules that select a rollout (``core/schedulemodels.py``) and asks
``verdict``; ``core/progress.decide`` holds a new release while the window is
closed (never a bake in flight, never a revert); ``engine/schedules.py`` writes each
schedule's ``status`` from ``state``. Pure: schedules and a time in, answers out.

Compatible with kuberik's rollout-controller (``api/v1alpha1/rolloutschedule_types.go``
and ``internal/controller/rolloutschedule_helpers.go``, commit 7cd0117):

* a rule holds at an instant when every condition it sets holds for the instant's
  local date and time in ``spec.timezone`` (default ``UTC``): ``dateRange``
  (``YYYY-MM-DD``, both days included), ``daysOfWeek`` (``Monday`` … ``Sunday``),
  ``timeRange`` (``HH:MM``, start included, end excluded). A rule with no condition
  always holds (kuberik's ``evaluateRule``);
* a ``timeRange`` whose end is not after its start crosses midnight: on each day the
  rule's other conditions accept, it holds from 00:00 to the end and from the
  start to 24:00 (``isInTimeRange``), so ``daysOfWeek: [Friday]`` with 22:00-06:00
  is Friday 00:00-06:00 and Friday 22:00-24:00, as in kuberik (a night that starts
  on Friday is an ``rrule``). Start equal to end is the whole day;
* a schedule is active when any of its rules holds (``evaluateScheduleRules``);
* kuberik turns each schedule into a RolloutGate per selected rollout, passing when
  an ``Allow`` schedule is active or a ``Deny`` one (the default action) is not
  (``calculateGateStatus``), and a release needs every gate to pass. So: a rollout
  may start a release when every Allow schedule selecting it is active and no Deny
  schedule is — Deny wins, two Allow schedules must both be open, and without an
  Allow schedule only a Deny one can close the window.

Where kuberik leaves it open or differs, here:

* **clock changes**: ``HH:MM`` is a time on the wall clock. kuberik adds the
  elapsed time since local midnight, which shifts every window by an hour on the
  two days a year the clocks change; here a window's edge on date D is the first
  moment the clock shows that time on D (``instant``): a time skipped when clocks
  spring forward (02:30 in Europe/Berlin on the last Sunday of March) is the moment
  they jump (03:00 CEST); a time that happens twice when they fall back (02:30 on
  the last Sunday of October) is its first occurrence. A day's window is therefore
  one stretch of time, shortened by a skipped hour, lengthened by a repeated one;
* **``rrule`` + ``duration``** (``core/recurrence.py``), our extension: the rule
  also requires the instant to fall within ``duration`` of an occurrence;
* ``nextTransition`` is when ``active`` next changes (kuberik's API says so; its
  code reports the next edge of any rule). Looked for up to two years ahead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reconciler.core import recurrence

Action = Literal["Allow", "Deny"]
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# How far ahead a change is looked for: most schedules change within a week.
HORIZONS = (timedelta(days=8), timedelta(days=100), timedelta(days=732))
Interval = tuple[datetime, datetime]
_DAY = timedelta(days=1)
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


@dataclass(frozen=True)
class Rule:
    name: str  # ``name``, or ``rules[N]`` for an unnamed rule
    times: tuple[time, time] | None = None
    days: frozenset[int] | None = None  # date.weekday() numbers
    dates: tuple[date, date] | None = None
    recurrence: recurrence.Recurrence | None = None


@dataclass(frozen=True)
class Schedule:
    ref: str  # "RolloutSchedule apps/business-hours", "ClusterRolloutSchedule freeze"
    action: Action
    zone: ZoneInfo
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Invalid:
    """A schedule that selects the rollout but cannot be evaluated."""

    ref: str
    problem: str  # "spec.timezone: unknown time zone 'Europe/Lubljana'"


@dataclass(frozen=True)
class State:
    active: bool
    active_rules: tuple[str, ...]
    next_transition: datetime | None  # when ``active`` changes; None: not within 2 years
    next_change: datetime | None  # when ``active`` or ``active_rules`` changes


@dataclass(frozen=True)
class Verdict:
    open: bool
    message: str
    opens_at: datetime | None = None  # closed: when it opens (None: not within 2 years)


# -- the fields, as the models validate them -------------------------------------


def zone(name: str) -> ZoneInfo:
    """An IANA time zone; ``""`` is UTC, as for kuberik (Go's ``time.LoadLocation``)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name[:64]!r}; use an IANA name such as "
                         f"Europe/Berlin or America/New_York") from exc


def clock(text: str) -> time:
    """``HH:MM``, 24-hour, as kuberik's pattern says."""
    if not isinstance(text, str) or not _CLOCK.match(text):
        raise ValueError(f"{str(text)[:16]!r} is not a time of day like 09:00 or 23:30 "
                         f"(HH:MM, 24-hour)")
    return time(int(text[:2]), int(text[3:]))


def day(text: str) -> date:
    """``YYYY-MM-DD`` (kuberik's pattern), a real date."""
    try:
        if not isinstance(text, str) or not _DATE.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{str(text)[:16]!r} is not a date like 2026-12-24") from exc


# -- evaluation -------------------------------------------------------------------


def instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first moment the clock in ``tz`` shows ``wall`` (naive) or later, in UTC:
    the first of two when the clock falls back, the jump when it springs over it."""
    utc = wall.replace(tzinfo=tz).astimezone(UTC)  # fold=0: the earlier offset
    if utc.astimezone(tz).replace(tzinfo=None) == wall:
        return utc
    lo = int(wall.replace(tzinfo=tz, fold=1).astimezone(UTC).timestamp())
    hi = int(utc.timestamp()) + 1
    lo, hi = min(lo, hi), max(lo, hi)
    while hi - lo > 1:  # the clock only moves forward across a gap: bisect the jump
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def state(schedule: Schedule, now: datetime) -> State:
    """Whether ``schedule`` is active at ``now``, which rules hold, and when that
    changes."""
    names = tuple(r.name for r in schedule.rules
                  if _contains(_intervals(r, schedule.zone, now, now + _DAY), now))
    return State(bool(names), names, _next(schedule, now, union=True),
                 _next(schedule, now, union=False))


def _next(schedule: Schedule, now: datetime, *, union: bool) -> datetime | None:
    """The first edge after ``now`` of the schedule (``union``) or of any rule."""
    for horizon in HORIZONS:
        hi = now + horizon
        per_rule = [_intervals(r, schedule.zone, now, hi) for r in schedule.rules]
        groups = [_merge([s for spans in per_rule for s in spans])] if union else per_rule
        edges = sorted(e for spans in groups for e in _edges(spans, now, hi))
        if edges:
            return edges[0]
    return None


def verdict(schedules: Sequence[Schedule | Invalid], now: datetime) -> Verdict:
    """May a rollout selected by ``schedules`` start a new release at ``now``? If not,
    why (one line) and when it may."""
    broken = [s for s in schedules if isinstance(s, Invalid)]
    if broken:
        return Verdict(False, "; ".join(
            f"{s.ref} is invalid ({s.problem}); no new release until it is fixed"
            for s in sorted(broken, key=lambda s: s.ref)))
    valid = sorted((s for s in schedules if isinstance(s, Schedule)), key=lambda s: s.ref)
    if not valid:
        return Verdict(True, "no deploy window applies")
    why = ""
    for horizon in HORIZONS:
        hi = now + horizon
        spans = [_merge([i for r in s.rules for i in _intervals(r, s.zone, now, hi)])
                 for s in valid]

        def allowed(t: datetime, spans: list[list[Interval]] = spans) -> bool:
            return all(_contains(sp, t) == (s.action == "Allow")
                       for s, sp in zip(valid, spans, strict=True))

        if allowed(now):
            return Verdict(True, "inside the deploy window: " + ", ".join(
                s.ref for s in valid))
        why = why or _why(valid, spans, now)
        for t in sorted({e for sp in spans for e in _edges(sp, now, hi)}):
            if allowed(t):
                return Verdict(False, f"outside the deploy window: {why}; it opens at "
                                      f"{render(t)}", t)
    return Verdict(False, f"outside the deploy window: {why}; it does not open within "
                          f"{HORIZONS[-1].days} days")


def render(t: datetime) -> str:
    """RFC 3339 in UTC, whole seconds (``metav1.Time``)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _why(valid: Sequence[Schedule], spans: Sequence[list[Interval]], now: datetime) -> str:
    out = []
    for s, sp in zip(valid, spans, strict=True):
        active = _contains(sp, now)
        if s.action == "Deny" and active:
            names = [r.name for r in s.rules
                     if _contains(_intervals(r, s.zone, now, now + _DAY), now)]
            out.append(f"{s.ref} denies deploys now (rule {', '.join(names)})")
        elif s.action == "Allow" and not active:
            out.append(f"{s.ref} allows deploys only inside its windows")
    return "; ".join(out)


def _contains(spans: Sequence[Interval], t: datetime) -> bool:
    return any(a <= t < b for a, b in spans)


def _edges(spans: Sequence[Interval], lo: datetime, hi: datetime) -> list[datetime]:
    """Where ``spans`` (merged, clipped to [lo, hi]) start or end strictly inside."""
    return sorted({e for a, b in spans for e in (a, b) if lo < e < hi})


def _merge(spans: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _intersect(xs: Sequence[Interval], ys: Sequence[Interval]) -> list[Interval]:
    return _merge([(max(a, c), min(b, d)) for a, b in xs for c, d in ys
                   if max(a, c) < min(b, d)])


def _intervals(rule: Rule, tz: ZoneInfo, lo: datetime, hi: datetime) -> list[Interval]:
    """When ``rule`` holds between ``lo`` and ``hi``: merged, clipped, in UTC."""
    spans: list[Interval] = [(lo, hi)]
    if rule.times is not None or rule.days is not None or rule.dates is not None:
        spans = _calendar(rule, tz, lo, hi)
    if rule.recurrence is not None:
        spans = _intersect(spans, _occurrences(rule.recurrence, tz, lo, hi))
    return [(max(a, lo), min(b, hi)) for a, b in _merge(spans) if max(a, lo) < min(b, hi)]


def _calendar(rule: Rule, tz: ZoneInfo, lo: datetime, hi: datetime) -> list[Interval]:
    first = lo.astimezone(tz).date() - _DAY
    last = hi.astimezone(tz).date() + _DAY
    if rule.dates is not None:
        first, last = max(first, rule.dates[0]), min(last, rule.dates[1])
    out: list[Interval] = []
    d = first
    while d <= last:
        if rule.days is None or d.weekday() in rule.days:
            midnight = instant(datetime.combine(d, time()), tz)
            following = instant(datetime.combine(d + _DAY, time()), tz)
            if rule.times is None:
                out.append((midnight, following))
            else:
                start, end = (instant(datetime.combine(d, t), tz) for t in rule.times)
                if rule.times[0] < rule.times[1]:
                    out.append((start, end))
                else:  # crosses midnight: both ends of this day (kuberik's isInTimeRange)
                    out += [(midnight, end), (start, following)]
        d += _DAY
    return [(a, b) for a, b in out if a < b]


def _occurrences(rec: recurrence.Recurrence, tz: ZoneInfo, lo: datetime,
                 hi: datetime) -> list[Interval]:
    back = timedelta(days=rec.span.days + 1) + rec.span.exact
    lo_wall = lo.astimezone(tz).replace(tzinfo=None) - back
    hi_wall = hi.astimezone(tz).replace(tzinfo=None) + _DAY
    return [(instant(s, tz), instant(s + timedelta(days=rec.span.days), tz) + rec.span.exact)
            for s in rec.starts(lo_wall, hi_wall)]
