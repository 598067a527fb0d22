"""A Rollout's status as the status tests render it (reconciler.core.status): three
records of podinfo (1.1.0 released, 1.2.0 released, then reverted) and the bake
bookkeeping kept for them, a ``step`` to render (idle, up to date, by default) and
``render``, which writes the status from them at ``NOW``. Used by test_status_*.py
and test_kuberik_shape.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.core import planning, progress, reasons, status, trailers
from reconciler.core.manifests import Target

ROLLOUT = "apps/podinfo"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)
R1, R2, R3, REV = "1" * 40, "2" * 40, "3" * 40, "f" * 40


def _targets(value: str | None) -> list[Target]:
    return [Target(rollout=ROLLOUT, file="apps.yaml", document=0, kind="Kustomization",
                   object="flux-system/podinfo",
                   path=("spec", "postBuild", "substitute", "VERSION"), value=value)]


def _release(sha: str, version: str, previous: str | None,
             when: datetime) -> tuple[str, str, datetime]:
    changes = planning.changes_for(ROLLOUT, _targets(previous), version)
    return sha, trailers.release_message(changes, release=version, previous=previous), when


def _revert(sha: str, *, of: str, failed: str, back_to: str,
            when: datetime) -> tuple[str, str, datetime]:
    return sha, trailers.revert_message(
        reverted_subject=f"podinfo: {back_to} -> {failed}", reverted_sha=of, rollout=ROLLOUT,
        release=back_to, previous=failed, reason="HealthCheck apps/errors failed"), when


# Newest first: 1.2.0 reverted, 1.2.0 released, 1.1.0 released.
RECORDS = trailers.records([
    _revert(REV, of=R3, failed="1.2.0", back_to="1.1.0", when=NOW - 5 * M),
    _release(R3, "1.2.0", "1.1.0", NOW - 30 * M),
    _release(R2, "1.1.0", "1.0.0", NOW - 120 * M),
])
KEPT = (
    progress.Bookkeeping(R3, "Failed", applied_at=NOW - 28 * M, bake_start=NOW - 27 * M,
                         bake_end=NOW - 6 * M, failed_checks=("apps/errors", "apps/slo"),
                         message="HealthCheck failed after deploy: apps/errors: Unhealthy"),
    progress.Bookkeeping(R2, "Succeeded", applied_at=NOW - 118 * M,
                         bake_start=NOW - 117 * M, bake_end=NOW - 107 * M,
                         message="healthy for 0:10:00 after the deploy"),
)


def step(action: progress.Action = "idle", reason: str = reasons.UP_TO_DATE,
         message: str = "Up to date: no candidate is newer than 1.1.0.", *,
         kept: tuple[progress.Bookkeeping, ...] = KEPT, current: str | None = "1.1.0",
         **kw: Any) -> progress.Step:
    return progress.Step(action=action, reason=reason, message=message, kept=kept,
                         current=current, **kw)


def render(s: progress.Step | None = None, *, previous: dict[str, Any] | None = None,
           records: list[trailers.Record] = RECORDS, limit: int = 10,
           candidates: tuple[str, ...] = ("1.1.0", "1.2.0"), now: datetime = NOW,
           error: tuple[str, str, bool] | None = None) -> dict[str, Any]:
    return status.render(step=s if s is not None or error else step(), records=records,
                         previous=previous, generation=7, revision="c0ffee" * 6 + "ab",
                         candidates=list(candidates), limit=limit, now=now, error=error)


def by_type(conditions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in conditions}
