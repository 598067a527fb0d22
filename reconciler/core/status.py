"""The Rollout's status: rendered from the step, the git records and what it held.

kuberik's shape (``history[]`` newest first with ``version``, ``timestamp``,
``bakeStatus``, ``bakeStartTime``, ``bakeEndTime``, ``failedHealthChecks``,
``message``; ``availableReleases``; kstatus ``conditions``) plus the git commit of
each entry, the applied time, ``observedGeneration`` and the git revision seen.
The bake bookkeeping round-trips through ``history`` (``kept_from``), which is how
a restarted daemon resumes a bake with the time that was left.

Pure: plain data in, a status dict out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from reconciler.core import bake, progress, reasons, trailers, versions
from reconciler.errors import InvalidTag

MAX_AVAILABLE = 50


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _list(status: object, key: str) -> list[Any]:
    """``status[key]`` when the status is a mapping and that is a list, else ``[]``:
    anyone allowed to write the status subresource may have written anything."""
    value = status.get(key) if isinstance(status, Mapping) else None
    return value if isinstance(value, list) else []


def entries(status: object, key: str) -> list[Mapping[str, Any]]:
    """The mappings in ``status[key]`` (``history``, ``conditions``); anything else in
    a status someone else wrote is skipped."""
    return [e for e in _list(status, key) if isinstance(e, Mapping)]


def known_releases(status: object) -> list[str]:
    """The ``availableReleases`` a previous status recorded; malformed ones are dropped."""
    return [tag for tag in _list(status, "availableReleases") if isinstance(tag, str)]


def kept_from(status: Mapping[str, Any] | None) -> list[progress.Bookkeeping]:
    """Bake bookkeeping stored in a previous status; malformed entries are skipped."""
    out = []
    for entry in _list(status, "history"):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("commit"), str):
            continue
        state = entry.get("bakeStatus")
        if state not in ("Deploying", "InProgress", "Succeeded", "Failed", "Cancelled"):
            continue
        try:
            out.append(progress.Bookkeeping(
                commit=entry["commit"], bake_status=state,
                applied_at=bake.parse_time(entry.get("appliedTime")),
                bake_start=bake.parse_time(entry.get("bakeStartTime")),
                bake_end=bake.parse_time(entry.get("bakeEndTime")),
                failed_checks=tuple(str(c) for c in entry.get("failedHealthChecks") or ()
                                    if isinstance(entry.get("failedHealthChecks"), list)),
                message=str(entry.get("message") or "")))
        except (ValueError, TypeError):
            continue
    return out


def available(previous: Sequence[str], seen: Sequence[str]) -> list[str]:
    """Known release candidates, highest first, bounded; only valid tags are kept."""
    tags = {}
    for tag in [*previous, *seen]:
        if not isinstance(tag, str):
            continue
        try:
            tags[tag] = versions.parse(tag)
        except InvalidTag:  # an invalid tag is simply not a candidate
            continue
    ordered = sorted(tags.values(), reverse=True)
    return [v.tag for v in ordered[:MAX_AVAILABLE]]


def _history(records: Sequence[trailers.Record], kept: Sequence[progress.Bookkeeping],
             limit: int) -> list[dict[str, Any]]:
    by_commit = {k.commit: k for k in kept}
    reverted = {r.trailers.reverts for r in records if r.trailers.reverts}
    entries = []
    for record in records[:limit]:
        t = record.trailers
        entry: dict[str, Any] = {
            "version": t.release, "timestamp": _time(record.time), "commit": record.commit,
            "action": t.action}
        k = by_commit.get(record.commit)
        if k is not None:
            entry["bakeStatus"] = k.bake_status
            for key, value in (("appliedTime", _time(k.applied_at)),
                               ("bakeStartTime", _time(k.bake_start)),
                               ("bakeEndTime", _time(k.bake_end))):
                if value:
                    entry[key] = value
            if k.failed_checks:
                entry["failedHealthChecks"] = list(k.failed_checks)
            if k.message:
                entry["message"] = k.message
        elif record.commit in reverted:
            entry["bakeStatus"] = "Failed"
        elif t.action != "release":
            entry["message"] = (f"{t.action} of {t.previous_release}: {t.reason}"
                                if t.reason else f"{t.action} of {t.previous_release}")
        entries.append(entry)
    return entries


def _condition(kind: str, status: bool, reason: str, message: str, *,
               generation: int | None, previous: Sequence[Mapping[str, Any]],
               now: datetime) -> dict[str, Any]:
    value = "True" if status else "False"
    old = next((c for c in previous if isinstance(c, Mapping) and c.get("type") == kind),
               None)
    since = old.get("lastTransitionTime") if old and old.get("status") == value else None
    if not isinstance(since, str):
        since = None
    cond: dict[str, Any] = {"type": kind, "status": value, "reason": reason,
                            "message": message[:32768],
                            "lastTransitionTime": since or _time(now)}
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


def conditions(step: progress.Step | None, *, generation: int | None,
               previous: Sequence[Mapping[str, Any]], now: datetime,
               error: tuple[str, str, bool] | None = None) -> list[dict[str, Any]]:
    """Ready / Reconciling / Stalled. ``error`` is (reason, message, permanent)."""
    if error is not None:
        reason, message, permanent = error
        ready, reconciling, stalled = False, not permanent, permanent
    else:
        assert step is not None
        reason, message = step.reason, step.message
        ready = step.action in ("idle",) or (step.action == "blocked"
                                            and step.reason == reasons.SELECTION_BLOCKED)
        reconciling = step.action in ("release", "revert", "wait")
        stalled = False
    return [
        _condition(reasons.READY, ready, reason, message, generation=generation,
                   previous=previous, now=now),
        _condition(reasons.RECONCILING, reconciling, reason, message, generation=generation,
                   previous=previous, now=now),
        _condition(reasons.STALLED, stalled, reason, message, generation=generation,
                   previous=previous, now=now),
    ]


def render(*, step: progress.Step | None, records: Sequence[trailers.Record],
           previous: Mapping[str, Any] | None, generation: int | None, revision: str | None,
           candidates: Sequence[str], limit: int, now: datetime,
           error: tuple[str, str, bool] | None = None,
           kept: Sequence[progress.Bookkeeping] | None = None) -> dict[str, Any]:
    """The whole status to write. Pure. ``kept`` overrides the bookkeeping (a step
    whose git write failed still records what it decided, e.g. a failed bake)."""
    previous = previous or {}
    if kept is None:
        kept = list(step.kept) if step is not None else kept_from(previous)
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": conditions(step, generation=generation,
                                 previous=_list(previous, "conditions"), now=now,
                                 error=error),
        "history": _history(records, kept, limit),
        "availableReleases": available(known_releases(previous), candidates),
        "gitRevision": revision,
    }
    if step is not None:
        status["currentVersion"] = step.current
        status["phase"] = step.action
        status["hold"] = ({"version": step.current, "message": step.message}
                          if step.action == "held" else None)
    return status


def same(a: Mapping[str, Any] | None, b: Mapping[str, Any]) -> bool:
    """Whether writing ``b`` over ``a`` would change anything a person would see."""
    def strip(s: Mapping[str, Any] | None) -> Any:
        if not s:
            return None
        out = {k: v for k, v in s.items() if v is not None}
        out["conditions"] = [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                             for c in s.get("conditions") or [] if isinstance(c, Mapping)]
        return out
    return bool(strip(a) == strip(b))
