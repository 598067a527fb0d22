"""Where a rollout stands, at a glance: one state per Rollout, read from its status.

Part of the dashboard (``interfaces/ui``). The daemon writes kstatus conditions and
kuberik's ``history`` into every Rollout's status; this module reads them back into
the few states a person scans a list for. Pure: a Rollout object (and the clock) in,
a ``State`` out. Only kuberik's fields are needed (``conditions``, ``history``), so
a status whose extra fields a kuberik CRD pruned reads the same.

=============  =========================================================  ==============
state          when                                                       Ready reasons
=============  =========================================================  ==============
baking         Flux applied the release; HealthChecks watched for the     Baking,
               bake time (with the time left, once the bake started)      HealthCheckNotReady
deploying      a release commit is written; waiting for Flux to apply it  Deploying,
                                                                          ReleaseWritten,
                                                                          ReleaseCancelled
waiting        newer candidates wait: for a deploy window, for promotion  OutsideDeploy-
               from an upstream environment, for a gate, for a pull       Window,
               request to merge, for a person's approval or a test hook   SelectionBlocked
                                                                          (promotion),
                                                                          GateBlocked,
                                                                          PullRequestOpen,
                                                                          AwaitingApproval,
                                                                          WaitingFor-
                                                                          Confirmation,
                                                                          PreRollout-
                                                                          HookFailed
held           a person changed a target by hand: nothing automatic       HeldByManualChange
failed         the newest release failed (reverted), or the daemon        BakeFailed,
               cannot work on it (invalid spec, set-up, git, cluster)     DeployTimeout, ...
suspended      ``spec.suspend``                                           Suspended
blocked        newer candidates exist, none is eligible                   SelectionBlocked
up to date     nothing to do (also: pinned by ``spec.wantedVersion``)     UpToDate, Pinned,
                                                                          BakeSucceeded
unknown        no status yet (the daemon has not reconciled it)
=============  =========================================================  ==============
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reconciler.core import bake, reasons
from reconciler.core import status as rollout_status

STATES = ("baking", "deploying", "waiting", "held", "failed", "suspended", "blocked",
          "up-to-date", "unknown")
LABELS = {"up-to-date": "up to date"}

_BAKING = {reasons.BAKING, reasons.HEALTH_CHECK_NOT_READY}
_DEPLOYING = {reasons.DEPLOYING, reasons.RELEASE_WRITTEN, reasons.RELEASE_CANCELLED}
_WAITING = {reasons.GATE_BLOCKED, reasons.PULL_REQUEST_OPEN, reasons.PULL_REQUEST_OPENED,
            reasons.PULL_REQUEST_UPDATED, reasons.IMAGE_POLICY_NOT_READY,
            reasons.OUTSIDE_DEPLOY_WINDOW, reasons.AWAITING_APPROVAL,
            reasons.WAITING_FOR_CONFIRMATION, reasons.PRE_ROLLOUT_HOOK_FAILED}
_FAILED = {reasons.BAKE_FAILED, reasons.DEPLOY_TIMEOUT, reasons.RELEASE_REVERTED}
_IDLE = {reasons.UP_TO_DATE, reasons.PINNED, reasons.BAKE_SUCCEEDED}
# Words of a promotion's verdict (core/promotion) in a blocked selection's message.
_PROMOTION = ("waiting for ", "soaking in ")


@dataclass(frozen=True)
class State:
    name: str  # one of STATES
    detail: str  # a few words beside the state: "1m20s left", "6.5.0 reverted"
    reason: str  # the Ready condition's reason, as written
    message: str  # the Ready condition's message, as written
    since: datetime | None  # the Ready condition's lastTransitionTime
    current: str | None  # the release the targets hold (or the newest history entry's)
    in_flight: str | None  # the release being deployed or baked
    bake_ends: datetime | None  # when a running bake ends, for a live countdown

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)


def label(name: str) -> str:
    return LABELS.get(name, name)


def _ready(status: Mapping[str, Any]) -> Mapping[str, Any]:
    return next((c for c in rollout_status.entries(status, "conditions")
                 if c.get("type") == reasons.READY), {})


def _time(value: object) -> datetime | None:
    try:
        return bake.parse_time(value)
    except ValueError:
        return None


def _reverted(entry: Mapping[str, Any]) -> bool:
    action = entry.get("action")
    if isinstance(action, str):
        return action in ("revert", "rollback")
    message = entry.get("message")  # where kuberik's CRD pruned ``action``
    return isinstance(message, str) and message.startswith(("revert of ", "rollback of "))


def of(obj: Mapping[str, Any], *, now: datetime,
       bake_time: timedelta | None = None) -> State:
    """The state of one Rollout object. ``bake_time`` (the effective one, spec over
    preset) gives the time left of a running bake; without it, none is shown."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    status = obj.get("status") if isinstance(obj.get("status"), Mapping) else {}
    ready = _ready(status or {})
    reason = str(ready.get("reason") or "")
    message = str(ready.get("message") or "")
    history = rollout_status.entries(status, "history")
    newest = history[0] if history else {}
    current = status.get("currentVersion") if isinstance(status, Mapping) else None
    if not isinstance(current, str):
        current = rollout_status.tag_of(newest.get("version"))
    in_flight = (rollout_status.tag_of(newest.get("version"))
                 if newest.get("bakeStatus") in ("Deploying", "InProgress") else None)

    def state(name: str, detail: str = "", ends: datetime | None = None) -> State:
        return State(name=name, detail=detail, reason=reason, message=message,
                     since=_time(ready.get("lastTransitionTime")), current=current,
                     in_flight=in_flight, bake_ends=ends)

    if (spec and spec.get("suspend") is True) or reason == reasons.SUSPENDED:
        return state("suspended")
    if not ready:
        return state("unknown", "not reconciled yet")
    if reason in _BAKING:
        start = _time(newest.get("bakeStartTime"))
        if start is None or bake_time is None:
            return state("baking", f"{in_flight or ''} waiting for HealthChecks".strip()
                         if start is None else (in_flight or ""))
        ends = start + bake_time
        return state("baking", f"{_short(max(timedelta(0), ends - now))} left", ends)
    if reason in _DEPLOYING:
        return state("deploying", in_flight or "")
    if reason == reasons.HELD_BY_MANUAL_CHANGE:
        return state("held", f"at {current}" if current else "")
    if reason in _WAITING:
        what = {reasons.GATE_BLOCKED: "for a gate",
                reasons.OUTSIDE_DEPLOY_WINDOW: "for its deploy window",
                reasons.IMAGE_POLICY_NOT_READY: "for the ImagePolicy"}.get(
                    reason, "for a pull request")
        return state("waiting", what)
    if reason in _FAILED:
        return state("failed", f"{in_flight or current or ''} failed".strip())
    if reason == reasons.SELECTION_BLOCKED:
        if any(word in message for word in _PROMOTION):
            return state("waiting", "for promotion")
        if history and _reverted(newest):
            return state("failed", _reverted_detail(newest))
        return state("blocked")
    if reason in _IDLE:
        if history and _reverted(newest):
            return state("failed", _reverted_detail(newest))
        return state("up-to-date", "pinned" if reason == reasons.PINNED else "")
    return state("failed", reason)  # InvalidSpec, SetupError, GitError, ClusterError, ...


def _reverted_detail(entry: Mapping[str, Any]) -> str:
    message = entry.get("message")
    taken = message.split(":", 1)[0].split(" of ", 1)[-1] if isinstance(message, str) else ""
    back = rollout_status.tag_of(entry.get("version"))
    return f"{taken} reverted, back at {back}" if taken else f"reverted to {back}"


def _short(span: timedelta) -> str:
    """``1h05m``, ``4m20s``, ``35s``."""
    total = int(span.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


def ago(when: datetime | None, now: datetime) -> str:
    """``3m ago``, ``2h ago``, ``5d ago``; empty when unknown."""
    if when is None:
        return ""
    seconds = max(0, int((now - when).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def duration(seconds: float | None) -> str:
    """``2d4h``, ``3h20m``, ``12m30s``, ``45s``: the two largest units; ``-`` for None."""
    if seconds is None:
        return "-"
    total = int(seconds)
    parts = [(total // 86400, "d"), (total % 86400 // 3600, "h"),
             (total % 3600 // 60, "m"), (total % 60, "s")]
    first = next((i for i, (n, _) in enumerate(parts) if n), len(parts) - 1)
    return "".join(f"{n}{unit}" for n, unit in parts[first:first + 2] if n) or "0s"
