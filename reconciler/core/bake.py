"""Is the bake of a release over, and how did it go? (kuberik's semantics)

After Flux has applied a release (the *deploy time*), the selected HealthChecks
decide:

* the release **fails** as soon as a HealthCheck is ``Unhealthy``, or reports a
  ``lastErrorTime`` at or after the deploy time (so a check that flapped to
  unhealthy and back still fails the bake; one that was unhealthy only before
  the deploy does not);
* the bake **starts** when every selected HealthCheck is ``Healthy`` (at once
  when none is selected) and **succeeds** once ``bakeTime`` has passed since;
* a bake that cannot start (checks ``Pending``, without status, or with a
  malformed one) waits, and fails after ``start_timeout`` when one is given.

Pure: parsed HealthCheck data and times in, a ``Verdict`` out. The caller keeps
``bake_start`` (in the Rollout's status) so a restart resumes with the time left.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from reconciler.core import durations

State = Literal["Pending", "InProgress", "Succeeded", "Failed"]
HEALTHY, UNHEALTHY, PENDING = "Healthy", "Unhealthy", "Pending"


@dataclass(frozen=True)
class Check:
    """One HealthCheck as the bake sees it."""

    name: str  # namespace/name
    status: str | None  # Healthy | Unhealthy | Pending | None (no status yet)
    last_error: datetime | None = None
    message: str = ""
    malformed: str | None = None  # why the status could not be read, if it could not


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as Kubernetes writes it; ValueError when malformed."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a timestamp")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return parsed


def check_from(obj: Mapping[str, Any]) -> Check:
    """A ``Check`` from a HealthCheck object; never raises, marks bad status instead."""
    meta = obj.get("metadata") or {}
    name = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    status = obj.get("status")
    if status is None:
        return Check(name=name, status=None)
    if not isinstance(status, Mapping):
        return Check(name=name, status=None, malformed="status is not an object")
    value = status.get("status")
    if value not in (HEALTHY, UNHEALTHY, PENDING, None):
        return Check(name=name, status=None,
                     malformed=f"status.status is {value!r}, not Healthy/Unhealthy/Pending")
    try:
        last_error = parse_time(status.get("lastErrorTime"))
    except ValueError as exc:
        # An unreadable timestamp must not hide an Unhealthy verdict.
        return Check(name=name, status=value if value == UNHEALTHY else None,
                     malformed=f"status.lastErrorTime: {exc}")
    message = status.get("message")
    return Check(name=name, status=value, last_error=last_error,
                 message=message if isinstance(message, str) else "")


@dataclass(frozen=True)
class Verdict:
    state: State
    bake_start: datetime | None
    message: str
    failed: tuple[str, ...] = ()
    ends_at: datetime | None = None  # when to look again if nothing changes


def evaluate(
    checks: Iterable[Check],
    *,
    deployed_at: datetime,
    bake_start: datetime | None,
    bake_time: timedelta,
    now: datetime,
    start_timeout: timedelta | None = None,
) -> Verdict:
    """Decide the bake. Pure."""
    checks = sorted(checks, key=lambda c: c.name)
    failed = [c for c in checks if c.status == UNHEALTHY
              or (c.last_error is not None and c.last_error >= deployed_at)]
    if failed:
        detail = "; ".join(
            f"{c.name}: {c.message or c.status or 'error'}"
            + (f" (last error {c.last_error.isoformat()})"
               if c.status != UNHEALTHY and c.last_error is not None else "")
            for c in failed)
        return Verdict("Failed", bake_start, f"HealthCheck failed after deploy: {detail}",
                       failed=tuple(c.name for c in failed))
    if bake_start is not None and any(c.status != HEALTHY for c in checks):
        # Every check must stay healthy for the whole bake: one that went Pending or
        # lost its status starts the clock over once all are healthy again.
        bake_start = None
    if bake_start is None:
        waiting = [c for c in checks if c.status != HEALTHY]
        if not waiting:
            bake_start = now
        else:
            detail = ", ".join(
                f"{c.name} ({c.malformed or (c.status or 'no status yet')})" for c in waiting)
            if start_timeout is not None and now >= deployed_at + start_timeout:
                return Verdict("Failed", None,
                               f"HealthChecks not healthy within "
                               f"{durations.render(start_timeout)} of the "
                               f"deploy: {detail}", failed=tuple(c.name for c in waiting))
            deadline = deployed_at + start_timeout if start_timeout is not None else None
            return Verdict("Pending", None, f"waiting for HealthChecks: {detail}",
                           ends_at=deadline)
    ends = bake_start + bake_time
    if now >= ends:
        return Verdict("Succeeded", bake_start,
                       f"healthy for {durations.render(bake_time)} after the deploy" if checks
                       else f"baked for {durations.render(bake_time)} (no HealthCheck selected)")
    left = ends - now
    return Verdict("InProgress", bake_start,
                   f"baking, {int(left.total_seconds())}s left", ends_at=ends)
