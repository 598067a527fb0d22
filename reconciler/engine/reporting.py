"""Reporting: the Rollout status, Kubernetes Events, notifications and metrics.

Where it fits: after each decision the daemon hands the rendered status here.
The status is written only when it changed (guarded by the resourceVersion the
decision was made from), and an Event is emitted only when the Ready reason
changes — not on every pass. Releases and reverts record their Events once they
are pushed (``pushed``), since only then did anything happen. Every Event is
also told to ``notices`` (``engine/notices.py``, set by ``reconciler run`` when
notifications are configured), with what is known of the change, so Flux's
notification-controller and chat webhooks hear of exactly the changes Events
record, once each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from reconciler.adapters import cluster as k8s
from reconciler.core import progress, reasons, status, trailers
from reconciler.engine import faults
from reconciler.engine.releaser import Result
from reconciler.engine.routing import key_of
from reconciler.errors import ConflictError, PermanentError, ReconcilerError

log = logging.getLogger(__name__)


class MetricsSink(Protocol):
    """What the daemon reports; ``interfaces.metrics.Metrics`` implements it."""

    def observe_reconcile(self, result: str, seconds: float) -> None: ...
    def release_pushed(self) -> None: ...
    def revert_pushed(self, reason: str) -> None: ...
    def bake_ended(self, result: str) -> None: ...
    def observe_push(self, result: str, seconds: float) -> None: ...
    def observe_notes_push(self, result: str, seconds: float, notes: int) -> None: ...
    def track_queue(self, depth: Callable[[], int]) -> None: ...
    def set_leader(self, leading: bool) -> None: ...


class NoMetrics:
    def observe_reconcile(self, result: str, seconds: float) -> None:
        pass

    def release_pushed(self) -> None:
        pass

    def revert_pushed(self, reason: str) -> None:
        pass

    def bake_ended(self, result: str) -> None:
        pass

    def observe_push(self, result: str, seconds: float) -> None:
        pass

    def observe_notes_push(self, result: str, seconds: float, notes: int) -> None:
        pass

    def track_queue(self, depth: Callable[[], int]) -> None:
        pass

    def set_leader(self, leading: bool) -> None:
        pass


class NoticeSink(Protocol):
    """Who hears of every Event (``engine.notices.Notifier``)."""

    def occurred(self, obj: Mapping[str, Any], type_: str, reason: str, message: str, *,
                 step: progress.Step | None = None, result: Result | None = None,
                 revision: str | None = None) -> None: ...


class NoNotices:
    def occurred(self, obj: Mapping[str, Any], type_: str, reason: str, message: str, *,
                 step: progress.Step | None = None, result: Result | None = None,
                 revision: str | None = None) -> None:
        pass


class Reporter:
    def __init__(self, *, cluster: k8s.Cluster, metrics: MetricsSink,
                 is_leader: Callable[[], bool], on_conflict: Callable[[str], None],
                 on_written: Callable[[str], None], retry_later: Callable[[str], None],
                 environment: str | None = None) -> None:
        self._cluster = cluster
        # Written into every status: which cluster's reconciler speaks (fleet repositories).
        self._environment = environment
        self.metrics = metrics
        self._is_leader = is_leader
        self._on_conflict = on_conflict
        # rollout -> the bookkeeping of a step whose status write was refused (409):
        # the next pass reads it back (progress.settled_first) until a write lands.
        self.unwritten: dict[str, tuple[progress.Bookkeeping, ...]] = {}
        self._on_written = on_written
        self._retry_later = retry_later
        self.notices: NoticeSink = NoNotices()

    def fail(self, obj: Mapping[str, Any], previous: Mapping[str, Any] | None, *,
             generation: int | None, now: datetime, records: Sequence[trailers.Record],
             revision: str | None, error: tuple[str, str, bool],
             kept: tuple[progress.Bookkeeping, ...] | None = None) -> None:
        """Write a status that reports ``error`` (reason, message, permanent)."""
        new = status.render(step=None, records=records, previous=previous,
                            generation=generation, revision=revision,
                            candidates=[], limit=10, now=now, error=error, kept=kept)
        self.write_status(obj, previous, new, None)

    def write_status(self, obj: Mapping[str, Any], previous: Mapping[str, Any] | None,
                     new: dict[str, Any], step: progress.Step | None) -> bool:
        """Write ``new`` if it differs; True when the status is as wanted afterwards."""
        if self._environment is not None:
            new = {**new, "environment": self._environment}
        old_reason = ready_reason(previous)
        new_reason = ready_reason(new)
        if status.same(previous, new):
            return True
        if not self._is_leader():
            return False
        meta = obj.get("metadata") or {}
        key = key_of(obj)
        try:
            # Precondition on the resourceVersion we decided from: a status computed
            # from a stale copy (our watch has not delivered our own last write yet)
            # must not overwrite a newer one.
            self._cluster.patch_status(k8s.ROLLOUT, namespace=meta["namespace"],
                                       name=meta["name"], status=new,
                                       resource_version=meta.get("resourceVersion"))
        except ConflictError:
            if step is not None and any(k.bake_status in progress.SETTLED for k in step.kept):
                self.unwritten[key] = step.kept
            self._on_conflict(key)
            return False
        except PermanentError as exc:
            log.error("%s: cannot write status (not retried until the Rollout changes): %s",
                      key, exc)
            return False
        except ReconcilerError as exc:
            log.warning("%s: cannot write status: %s", key, exc)
            self._retry_later(key)
            return False
        self.unwritten.pop(key, None)
        self._on_written(key)
        self._count_bakes(previous, new)
        if faults.armed and _bake_started(previous, new):
            faults.hit("bake-started")
        # A release or revert recorded its Events in ``pushed``.
        acted = step is not None and step.action in ("release", "revert")
        if old_reason != new_reason and not acted:
            if step is not None and step.events:
                for type_, reason, message in step.events:
                    self.emit(obj, type_, reason, message, step=step)
            elif new_reason and step is None:
                message = next((c.get("message", "") for c in new["conditions"]
                                if c.get("type") == reasons.READY), "")
                self.emit(obj, "Warning", new_reason, message)
            elif step is not None and step.action in ("held", "blocked", "wait"):
                self.emit(obj, "Warning" if step.action == "held" else "Normal",
                          step.reason, step.message, step=step,
                          revision=new.get("gitRevision"))
        return True

    def pushed(self, obj: Mapping[str, Any], step: progress.Step, result: Result) -> None:
        """A release or revert commit reached the remote: metrics, log, Events."""
        if step.action == "release":
            self.metrics.release_pushed()
        else:
            self.metrics.revert_pushed(step.reason)
        for type_, reason, message in step.events:
            self.emit(obj, type_, reason, message, step=step)
        log.info("%s: %s %s -> %s pushed as %s", key_of(obj), result.action, result.previous,
                 result.release, (result.commit or "")[:12])
        self.emit(obj, "Normal" if step.action == "release" else "Warning",
                  reasons.RELEASE_WRITTEN if step.action == "release"
                  else reasons.RELEASE_REVERTED,
                  f"{result.action}{f' {step.stage}' if step.stage else ''} "
                  f"{result.previous} -> {result.release} "
                  f"(commit {(result.commit or '')[:12]})", step=step, result=result)

    def emit(self, obj: Mapping[str, Any], type_: str, reason: str, message: str, *,
             step: progress.Step | None = None, result: Result | None = None,
             revision: str | None = None) -> None:
        """Record an Event on ``obj`` and tell ``notices``; what the change is about
        (``step``, the pushed ``result``, the branch head ``revision``) goes along."""
        try:
            self._cluster.create_event(involved=dict(obj), reason=reason, message=message,
                                       type=type_)  # type: ignore[arg-type]
        except ReconcilerError as exc:
            log.info("could not record event %s on %s: %s", reason, key_of(obj), exc)
        self.notices.occurred(obj, type_, reason, message, step=step, result=result,
                              revision=revision)

    def _count_bakes(self, previous: Mapping[str, Any] | None, new: Mapping[str, Any]) -> None:
        def states(s: Mapping[str, Any] | None) -> dict[Any, Any]:
            return {h.get("commit"): h.get("bakeStatus") for h in status.entries(s, "history")
                    if isinstance(h.get("commit"), str)}
        before = states(previous)
        for commit, state in states(new).items():
            if state in progress.SETTLED and before.get(commit) != state:
                self.metrics.bake_ended(state)


def ready_reason(s: Mapping[str, Any] | None) -> str | None:
    for c in status.entries(s, "conditions"):
        if c.get("type") == reasons.READY:
            reason = c.get("reason")
            return reason if isinstance(reason, str) else None
    return None


def _bake_started(previous: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Did this status write start a bake (a bakeStartTime the old status lacked)?"""
    def started(s: Mapping[str, Any] | None) -> set[Any]:
        return {h.get("commit") for h in status.entries(s, "history")
                if isinstance(h.get("commit"), str) and h.get("bakeStartTime")}
    return bool(started(new) - started(previous))
