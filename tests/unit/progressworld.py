"""One rollout's world for the release loop's tests (reconciler.core.progress): inputs
built the way the daemon builds them. Targets as the manifest scan reports them,
records parsed from real commit messages, the policy merged from the shipped presets,
bake bookkeeping; ``observe`` and ``in_flight`` give the Observed of a settled rollout
and of one with 1.1.0 in flight, ``mine`` the bookkeeping a Step kept for a commit.
Used by test_progress_*.py, test_checkpoints.py, test_windows_progress.py and
bench/checkpoints.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.core import bake, models, planning, policies, progress, trailers
from reconciler.core.manifests import Target
from reconciler.engine import presets

ROLLOUT = "apps/podinfo"
PRESETS = presets.load()
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the release commit of 1.1.0
M = timedelta(minutes=1)
# The "standard" preset: maxBump minor, bakeTime 10m, deployTimeout 10m.
DEPLOY_TIMEOUT = BAKE_TIME = 10 * M

R090 = "9" * 40
R100 = "a" * 40
R110 = "b" * 40
REVERT = "c" * 40
R111 = "d" * 40
MANUAL = "e" * 40
ADOPT = "f" * 40


def policy(**spec: Any) -> policies.Effective:
    return policies.effective(models.RolloutSpec(policy="standard", **spec), PRESETS)


def targets(first: str | None, second: str | None = None, /) -> list[Target]:
    """The rollout's two targets: a Kustomization substitute and an OCIRepository tag."""
    second = first if second is None else second
    return [
        Target(rollout=ROLLOUT, file="clusters/production/podinfo.yaml", document=0,
               kind="Kustomization", object="flux-system/podinfo",
               path=("spec", "postBuild", "substitute", "PODINFO_VERSION"), value=first,
               line=12),
        Target(rollout=ROLLOUT, file="clusters/production/sources.yaml", document=1,
               kind="OCIRepository", object="flux-system/podinfo-manifests",
               path=("spec", "ref", "tag"), value=second, line=9),
    ]


def release(sha: str, version: str, previous: str | None,
            when: datetime) -> tuple[str, str, datetime]:
    changes = planning.changes_for(ROLLOUT, targets(previous), version)
    return sha, trailers.release_message(changes, release=version, previous=previous), when


def revert(sha: str, *, of: str, failed: str, back_to: str, when: datetime,
           reason: str = "HealthCheck failed after deploy") -> tuple[str, str, datetime]:
    message = trailers.revert_message(
        reverted_subject=f"podinfo: {back_to} -> {failed}", reverted_sha=of, rollout=ROLLOUT,
        release=back_to, previous=failed, reason=reason)
    return sha, message, when


def history(*commits: tuple[str, str, datetime]) -> list[trailers.Record]:
    """Records newest first, as the daemon passes them; every commit must parse."""
    out = trailers.records(commits)
    assert [r.commit for r in out] == [c[0] for c in commits]
    return out


# 1.0.0 released a day ago and baked; 1.1.0 committed at T0.
SETTLED_100 = progress.Bookkeeping(
    R100, "Succeeded", applied_at=T0 - 24 * 60 * M, bake_start=T0 - 24 * 60 * M,
    bake_end=T0 - 23 * 60 * M, message="healthy for 10m after the deploy")
BEFORE = history(release(R100, "1.0.0", "0.9.0", T0 - 24 * 60 * M),
                 release(R090, "0.9.0", None, T0 - 48 * 60 * M))
IN_FLIGHT = history(release(R110, "1.1.0", "1.0.0", T0)) + BEFORE
REVERTED = history(revert(REVERT, of=R110, failed="1.1.0", back_to="1.0.0",
                          when=T0 + 20 * M)) + IN_FLIGHT

APPLIED = progress.Applied(True, "applied by flux-system/podinfo")
NOT_APPLIED = progress.Applied(False, "Kustomization flux-system/podinfo at main@sha1:" + R100)


def deploying(**kw: Any) -> progress.Bookkeeping:
    return progress.Bookkeeping(R110, "Deploying", **kw)


def baking(start: timedelta | None, *, applied: timedelta = 3 * M) -> progress.Bookkeeping:
    return progress.Bookkeeping(R110, "InProgress", applied_at=T0 + applied,
                                bake_start=T0 + start if start is not None else None)


def healthy(name: str = "apps/podinfo", *, last_error: datetime | None = None) -> bake.Check:
    return bake.Check(name=name, status="Healthy", last_error=last_error)


def observe(**kw: Any) -> progress.Observed:
    base: dict[str, Any] = {
        "rollout": ROLLOUT, "policy": policy(), "targets": targets("1.0.0"),
        "records": BEFORE, "candidates": ["0.9.0", "1.0.0"], "now": T0,
        "kept": [SETTLED_100],
    }
    base.update(kw)
    return progress.Observed(**base)


def in_flight(**kw: Any) -> progress.Observed:
    """1.1.0 committed at T0 and written to the targets."""
    base: dict[str, Any] = {
        "targets": targets("1.1.0"), "records": IN_FLIGHT,
        "candidates": ["1.0.0", "1.1.0"], "now": T0 + M,
    }
    base.update(kw)
    return observe(**base)


def mine(step: progress.Step, commit: str = R110) -> progress.Bookkeeping:
    found = [k for k in step.kept if k.commit == commit]
    assert len(found) == 1, step.kept
    return found[0]
