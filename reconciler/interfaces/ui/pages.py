"""What each page of the dashboard shows, as plain data for its template.

Part of the dashboard (``interfaces/ui``): ``app`` gathers from the daemon
(``engine/insight``), this module shapes it, the Jinja templates lay it out.
Pure: Rollout objects, the daemon's ``Detail``, figures and the clock in; dicts and
small dataclasses out. The timeline is ``interfaces/trail`` (what ``reconciler
history`` prints), each release joined with the verdicts of its commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup

from reconciler.core import bake, stats
from reconciler.core import status as rollout_status
from reconciler.engine.insight import Detail
from reconciler.interfaces import trail
from reconciler.interfaces.ui import charts, states

WINDOW = timedelta(weeks=12)  # what the charts cover


@dataclass(frozen=True)
class Row:
    namespace: str
    name: str
    state: states.State
    message: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Entry:
    """One line of the timeline (``history -o json``'s element) and what belongs to it."""

    time: datetime
    action: str  # release, revert, rollback, bake, declined, resumed, step, promote
    data: Mapping[str, Any]
    verdicts: tuple[Mapping[str, Any], ...] = ()  # a release's bake verdicts, every env
    anchor: str = ""

    @property
    def commit(self) -> str:
        return str(self.data.get("commit") or "")


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    message: str
    last_error: datetime | None
    problem: str | None


@dataclass(frozen=True)
class Candidate:
    tag: str
    eligible: bool
    reason: str
    next: bool
    quarantined: bool


@dataclass
class Charts:
    weekly: Markup
    verdicts: Markup
    figures: stats.Figures | None = None
    per_release: bool = False  # the verdict chart has a bar per release, not per week


def rows(objs: Sequence[Mapping[str, Any]], *, now: datetime,
         bake_time: Callable[[Mapping[str, Any]], timedelta | None]) -> list[Row]:
    """One row per Rollout. The bake time (a spec validation) is asked only for the
    rollouts that are baking: a list of a thousand stays cheap."""
    out = []
    for obj in objs:
        meta = obj.get("metadata") or {}
        state = states.of(obj, now=now)
        if state.name == "baking":
            state = states.of(obj, now=now, bake_time=bake_time(obj))
        out.append(Row(namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")),
                       state=state, message=state.message))
    return out


def overview(all_rows: list[Row], *, namespace: str | None, state: str | None,
             text: str | None) -> dict[str, Any]:
    """The list, filtered as the query asks (the page's script filters the same way
    without a round trip), and the counts the filters show."""
    text = (text or "").strip().lower()
    shown = [r for r in all_rows
             if (not namespace or r.namespace == namespace)
             and (not state or r.state.name == state)
             and (not text or text in r.key.lower())]
    counts = Counter(r.state.name for r in all_rows)
    return {
        "rows": all_rows, "shown": {r.key for r in shown}, "count_shown": len(shown),
        "namespaces": sorted({r.namespace for r in all_rows}),
        "states": [(s, states.label(s), counts.get(s, 0)) for s in states.STATES
                   if counts.get(s) or s == state],
        "all_states": [(s, states.label(s)) for s in states.STATES],
        "namespace": namespace or "", "state": state or "", "text": text,
    }


def overview_charts(found: tuple[stats.Report, list[stats.Judged]] | None) -> Charts:
    if found is None:
        empty = charts.bars([], caption="not read yet", empty="the config repository "
                            "has not been read yet")
        return Charts(weekly=empty, verdicts=empty)
    report, judged = found
    weeks = report.overall.weeks
    return Charts(
        weekly=charts.weekly(weeks, caption="Releases per week; failed ones on top"),
        verdicts=charts.verdict_times(judged, caption="Median time from release commit to "
                                      "bake verdict, per week", per_week=True, weeks=weeks),
        figures=report.overall)


def rollout_charts(found: tuple[stats.Report, list[stats.Judged]] | None, *,
                   key: str, environment: str) -> Charts:
    if found is None:
        return overview_charts(None)
    report, judged = found
    figures = dict(report.groups).get((key, environment))
    weeks = figures.weeks if figures is not None else report.overall.weeks
    if figures is None:
        weeks = tuple(stats.Week(week=w.week, start=w.start, releases=0, failures=0)
                      for w in weeks)
    mine = [j for j in judged if j.rollout == key]
    return Charts(
        weekly=charts.weekly(weeks, caption=f"Releases of {key} per week; failed on top"),
        verdicts=charts.verdict_times(mine, caption=f"Time from release commit to bake "
                                      f"verdict, each release of {key}", per_week=False),
        figures=figures, per_release=True)


def candidates(detail: Detail) -> list[Candidate]:
    """The plan's verdict on every candidate (what ``reconciler plan -o json`` lists
    under ``candidates``), highest first, as selection ordered them."""
    if detail.plan is None:
        return []
    return [Candidate(tag=v.tag, eligible=v.accepted, reason=v.reason,
                      next=v.tag == detail.plan.next, quarantined=v.tag in detail.quarantined)
            for v in detail.plan.verdicts]


def checks(found: Sequence[bake.Check]) -> list[Check]:
    return [Check(name=c.name, status=c.status or "no status", message=c.message,
                  last_error=c.last_error, problem=c.malformed)
            for c in sorted(found, key=lambda c: c.name)]


def bake_in_flight(detail: Detail, *, now: datetime) -> dict[str, Any] | None:
    """The newest history entry while it deploys or bakes, with its bake's timing."""
    status = detail.obj.get("status")
    history = rollout_status.entries(status, "history")
    if not history or history[0].get("bakeStatus") not in ("Deploying", "InProgress"):
        return None
    entry = history[0]
    bake_time = detail.policy.bake_time if detail.policy else None
    state = states.of(detail.obj, now=now, bake_time=bake_time)
    return {"release": rollout_status.tag_of(entry.get("version")),
            "commit": entry.get("commit") or "", "phase": entry.get("bakeStatus"),
            "applied": _time(entry.get("appliedTime")),
            "started": _time(entry.get("bakeStartTime")), "ends": state.bake_ends,
            "bake_time": bake_time, "message": entry.get("bakeStatusMessage") or ""}


def timeline(detail: Detail, *, now: datetime, limit: int = 200) -> list[Entry]:
    """``reconciler history NS/NAME`` as entries, newest first; a release carries
    the verdicts on its commit (this environment's and any other's). A hold, which
    git records as a person's commit without trailers, comes first while it lasts,
    as the daemon's status says it (which commit, by whom)."""
    merged = trail.entries(detail.records, detail.found, rollout=detail.key,
                           decided=detail.decided, environment=detail.environment)
    by_commit: dict[str, list[Mapping[str, Any]]] = {}
    for v in detail.found:
        if v.rollout == detail.key:
            by_commit.setdefault(v.commit, []).append(v.as_dict())
    # A verdict of this environment shows on its release's entry, not as one more.
    released = {str(data.get("commit")) for _, data in merged if data.get("action") == "release"}
    merged = [(when, data) for when, data in merged
              if not (data.get("action") == "bake" and data.get("commit") in released
                      and data.get("environment") == detail.environment)]
    out = []
    state = states.of(detail.obj, now=now)
    if state.name == "held":
        when = state.since or now
        out.append(Entry(time=when, action="held", anchor=f"held-{when:%Y%m%d%H%M%S}",
                         data={"commit": "", "release": state.current,
                               "reason": state.message, "environment": detail.environment}))
    for when, data in merged[:limit]:
        action = str(data.get("action"))
        commit = str(data.get("commit") or "")
        out.append(Entry(time=when, action=action, data=data,
                         verdicts=tuple(by_commit.get(commit, ()))
                         if action in ("release", "promote")
                         else (), anchor=f"{action}-{commit[:12]}-{when:%Y%m%d%H%M%S}"))
    return out


def _time(value: object) -> datetime | None:
    try:
        return bake.parse_time(value)
    except ValueError:
        return None
