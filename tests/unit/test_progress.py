"""The release loop of one rollout (reconciler.core.progress), as a table of scenarios.

Inputs are built the way the daemon builds them: targets as the manifest scan
reports them, records parsed from real commit messages, the policy merged from
the shipped presets, and bake bookkeeping round-tripped through the status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.core import bake, models, planning, policies, progress, reasons, status, trailers
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


UNSET: Any = object()


@dataclass(frozen=True)
class Scenario:
    id: str
    observed: progress.Observed
    action: progress.Action
    reason: str
    release: str | None = None
    revert: str | None = None
    wake_at: datetime | None = UNSET  # UNSET: not checked
    in_flight: str | None = UNSET
    current: str | None = UNSET
    kept: dict[str, str] | None = None  # commit -> bake status, for every kept entry
    says: tuple[str, ...] = field(default_factory=tuple)
    events: tuple[str, ...] | None = None  # event reasons, in order (None: not checked)


S = Scenario
SCENARIOS = [
    # --- selecting the next release -----------------------------------------------------
    S("first-release-from-an-image-policy-candidate",
      observe(records=[], kept=[], candidates=["1.0.0", "1.1.0"]),
      "release", reasons.RELEASE_WRITTEN, release="1.1.0", current="1.0.0",
      in_flight=None, wake_at=None, kept={}, says=("Release 1.1.0",), events=()),
    S("selection-respects-the-preset-maxbump-and-prereleases",
      observe(candidates=["1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0"]),
      "release", reasons.RELEASE_WRITTEN, release="1.1.0",
      says=("2.0.0: a major bump from 1.0.0; maxBump is minor",)),
    S("semver-order-not-text-order", observe(candidates=["1.9.0", "1.10.0", "1.2.0"]),
      "release", reasons.RELEASE_WRITTEN, release="1.10.0"),
    S("up-to-date-is-idle", observe(), "idle", reasons.UP_TO_DATE, wake_at=None,
      current="1.0.0", kept={R100: "Succeeded"}, says=("Up to date",), events=()),
    S("no-candidates-is-idle", observe(candidates=[]), "idle", reasons.UP_TO_DATE,
      says=("No release candidates yet",)),
    S("idle-mentions-an-image-policy-problem-when-candidates-are-known",
      observe(waiting_for="ImagePolicy flux-system/podinfo has no status yet"),
      "idle", reasons.UP_TO_DATE, says=("Up to date", "has no status yet")),
    S("image-policy-problem-without-candidates-blocks",
      observe(candidates=[], waiting_for="ImagePolicy flux-system/podinfo not found"),
      "blocked", reasons.IMAGE_POLICY_NOT_READY,
      says=("ImagePolicy flux-system/podinfo not found",)),
    S("targets-disagree-blocks",
      observe(records=[], kept=[], targets=targets("1.0.0", "1.0.1"),
              candidates=["1.1.0"]),
      "blocked", reasons.SELECTION_BLOCKED, current=None,
      says=("targets disagree", "PODINFO_VERSION=1.0.0", "spec.ref.tag=1.0.1")),
    S("wanted-version-settles-disagreeing-targets",
      observe(records=[], kept=[], targets=targets("1.0.0", "1.0.1"),
              policy=policy(wantedVersion="1.0.1")),
      "release", reasons.RELEASE_WRITTEN, release="1.0.1"),
    # --- suspend ------------------------------------------------------------------------
    S("suspended-does-nothing", observe(policy=policy(suspend=True), candidates=["1.1.0"]),
      "suspended", reasons.SUSPENDED, says=("spec.suspend",)),
    S("suspended-does-not-revert-a-timed-out-deploy",
      in_flight(policy=policy(suspend=True), now=T0 + 30 * M, kept=[deploying()]),
      "suspended", reasons.SUSPENDED),
    # --- a manual change holds the rollout ----------------------------------------------
    S("manual-change-holds",
      in_flight(targets=targets("1.0.5"), candidates=["1.2.0"], manual_commit=MANUAL,
                kept=[SETTLED_100, replace(baking(2 * M), bake_status="Succeeded")]),
      "held", reasons.HELD_BY_MANUAL_CHANGE, current="1.0.5",
      says=("the targets hold 1.0.5", f"commit {MANUAL[:12]}", "wrote 1.1.0",
            "reconciler release apps/podinfo <tag> --push", "spec.wantedVersion"),
      events=()),
    S("manual-change-mid-bake-cancels-the-bake",
      in_flight(targets=targets("1.0.5"), kept=[SETTLED_100, baking(2 * M)]),
      "held", reasons.HELD_BY_MANUAL_CHANGE, kept={R100: "Succeeded", R110: "Cancelled"}),
    S("manual-change-of-one-target-holds",
      in_flight(targets=targets("1.1.0", "1.0.5")),
      "held", reasons.HELD_BY_MANUAL_CHANGE, current=None,
      says=("targets disagree", "spec.ref.tag=1.0.5")),
    S("manual-change-after-a-revert-holds",
      observe(records=REVERTED, targets=targets("1.1.0"), candidates=["1.1.0"]),
      "held", reasons.HELD_BY_MANUAL_CHANGE, says=("wrote 1.0.0",)),
    S("wanted-version-lifts-the-hold-and-pins-the-manual-value",
      in_flight(targets=targets("1.0.5"), policy=policy(wantedVersion="1.0.5"),
                candidates=["1.2.0"],
                kept=[SETTLED_100, replace(baking(2 * M), bake_status="Succeeded")]),
      "idle", reasons.PINNED, says=("pinned at 1.0.5",)),
    S("wanted-version-lifts-the-hold-and-releases",
      in_flight(targets=targets("1.0.5"), policy=policy(wantedVersion="1.0.6"),
                kept=[SETTLED_100, replace(baking(2 * M), bake_status="Succeeded")]),
      "release", reasons.RELEASE_WRITTEN, release="1.0.6"),
    S("wanted-version-pins-a-downgrade",
      observe(policy=policy(wantedVersion="0.9.0"), candidates=["1.1.0"]),
      "release", reasons.RELEASE_WRITTEN, release="0.9.0", says=("downgrade",)),
    S("wanted-version-already-deployed-is-idle-despite-newer",
      observe(policy=policy(wantedVersion="1.0.0"), candidates=["1.0.1", "1.1.0"]),
      "idle", reasons.PINNED),
    S("wanted-version-overrides-gates",
      observe(policy=policy(wantedVersion="1.0.1"),
              gate_blocks=["RolloutGate apps/freeze is not passing"]),
      "release", reasons.RELEASE_WRITTEN, release="1.0.1"),
    # --- deploying: wait for Flux, bounded by deployTimeout ----------------------------
    S("just-written-waits-for-flux",
      in_flight(kept=[SETTLED_100], applied=NOT_APPLIED, now=T0 + 3 * M),
      "wait", reasons.DEPLOYING, wake_at=T0 + DEPLOY_TIMEOUT, in_flight=R110,
      current="1.1.0", kept={R110: "Deploying", R100: "Succeeded"},
      says=(f"waiting for Flux to apply {R110[:12]}", "main@sha1:"), events=()),
    S("no-kustomization-applies-it",
      in_flight(kept=[deploying()], applied=None, now=T0 + 3 * M),
      "wait", reasons.DEPLOYING, wake_at=T0 + DEPLOY_TIMEOUT,
      says=("no Flux Kustomization applies it",)),
    S("deploy-timeout-reverts",
      in_flight(kept=[deploying()], applied=NOT_APPLIED, now=T0 + DEPLOY_TIMEOUT),
      "revert", reasons.DEPLOY_TIMEOUT, revert=R110, in_flight=R110,
      kept={R110: "Failed"}, says=("not applied by Flux within 10m", "main@sha1:"),
      events=(reasons.DEPLOY_TIMEOUT,)),
    S("deploy-timeout-from-the-commit-time-even-after-a-restart",
      in_flight(kept=[], applied=NOT_APPLIED, now=T0 + 2 * DEPLOY_TIMEOUT),
      "revert", reasons.DEPLOY_TIMEOUT, revert=R110, kept={R110: "Failed"}),
    S("deploy-timeout-from-the-rollout-not-the-preset",
      in_flight(kept=[deploying()], applied=NOT_APPLIED, now=T0 + 15 * M,
                policy=policy(deployTimeout="30m")),
      "wait", reasons.DEPLOYING, wake_at=T0 + 30 * M),
    # --- baking ---------------------------------------------------------------------------
    S("applied-with-pending-check-waits-for-the-bake-to-start",
      in_flight(kept=[deploying()], applied=APPLIED, now=T0 + 3 * M,
                checks=[healthy("apps/a"), bake.Check("apps/b", "Pending")]),
      "wait", reasons.HEALTH_CHECK_NOT_READY, in_flight=R110, wake_at=T0 + 3 * M + DEPLOY_TIMEOUT,
      kept={R110: "InProgress"}, says=("apps/b (Pending)",)),
    S("applied-and-healthy-starts-the-bake",
      in_flight(kept=[deploying()], applied=APPLIED, now=T0 + 3 * M, checks=[healthy()]),
      "wait", reasons.BAKING, wake_at=T0 + 3 * M + BAKE_TIME, kept={R110: "InProgress"},
      says=("1.1.0", "600s left"), events=()),
    S("bake-in-progress-keeps-its-start",
      in_flight(kept=[baking(4 * M)], now=T0 + 9 * M, checks=[healthy()],
                applied=NOT_APPLIED),
      "wait", reasons.BAKING, wake_at=T0 + 4 * M + BAKE_TIME, says=("300s left",)),
    S("bake-succeeds-after-bake-time",
      in_flight(kept=[baking(4 * M)], now=T0 + 4 * M + BAKE_TIME, checks=[healthy()]),
      "idle", reasons.BAKE_SUCCEEDED, wake_at=None, kept={R110: "Succeeded"},
      says=("1.1.0 is released",), events=(reasons.BAKE_SUCCEEDED,)),
    S("without-health-checks-bakes-for-bake-time",
      in_flight(kept=[baking(4 * M)], now=T0 + 4 * M + BAKE_TIME - M, checks=[]),
      "wait", reasons.BAKING, wake_at=T0 + 4 * M + BAKE_TIME),
    S("after-success-the-next-release-is-selected",
      in_flight(kept=[replace(baking(4 * M), bake_status="Succeeded")], now=T0 + 20 * M,
                candidates=["1.1.0", "1.1.1"]),
      "release", reasons.RELEASE_WRITTEN, release="1.1.1", in_flight=None),
    S("after-success-and-nothing-newer-is-idle",
      in_flight(kept=[replace(baking(4 * M), bake_status="Succeeded")], now=T0 + 20 * M),
      "idle", reasons.UP_TO_DATE, kept={R110: "Succeeded"}),
    S("unhealthy-check-reverts-naming-it",
      in_flight(kept=[baking(4 * M)], now=T0 + 6 * M, checks=[
          healthy("apps/latency"),
          bake.Check("apps/errors", "Unhealthy", message="error rate 7% > 1%")]),
      "revert", reasons.BAKE_FAILED, revert=R110, kept={R110: "Failed"},
      says=("apps/errors", "error rate 7% > 1%"), events=(reasons.BAKE_FAILED,)),
    S("flapping-check-reverts",
      in_flight(kept=[baking(4 * M)], now=T0 + 6 * M,
                checks=[healthy("apps/errors", last_error=T0 + 5 * M)]),
      "revert", reasons.BAKE_FAILED, revert=R110, says=("apps/errors",)),
    S("error-before-the-deploy-is-forgiven",
      in_flight(kept=[baking(4 * M)], now=T0 + 6 * M,
                checks=[healthy("apps/errors", last_error=T0 + 2 * M)]),
      "wait", reasons.BAKING),
    S("checks-never-healthy-revert-after-deploy-timeout",
      in_flight(kept=[baking(None)], now=T0 + 3 * M + DEPLOY_TIMEOUT,
                checks=[bake.Check("apps/errors", None)]),
      "revert", reasons.BAKE_FAILED, revert=R110, says=("apps/errors (no status yet)",)),
    # --- a newer candidate supersedes the release in flight ------------------------------
    S("newer-candidate-mid-bake-supersedes",
      in_flight(kept=[SETTLED_100, baking(4 * M)], now=T0 + 6 * M, checks=[healthy()],
                candidates=["1.1.0", "1.1.1"]),
      "release", reasons.RELEASE_CANCELLED, release="1.1.1",
      kept={R100: "Succeeded", R110: "Cancelled"}, says=("1.1.1 supersedes 1.1.0",),
      events=(reasons.RELEASE_CANCELLED,)),
    S("newer-candidate-while-deploying-supersedes",
      in_flight(kept=[deploying()], applied=NOT_APPLIED, candidates=["1.1.0", "1.1.1"]),
      "release", reasons.RELEASE_CANCELLED, release="1.1.1", kept={R110: "Cancelled"}),
    S("wanted-version-supersedes-the-release-in-flight",
      in_flight(kept=[baking(4 * M)], now=T0 + 6 * M, policy=policy(wantedVersion="1.0.0")),
      "release", reasons.RELEASE_CANCELLED, release="1.0.0", kept={R110: "Cancelled"}),
    S("wanted-version-equal-to-the-release-in-flight-bakes-it",
      in_flight(kept=[baking(4 * M)], now=T0 + 6 * M, checks=[healthy()],
                policy=policy(wantedVersion="1.1.0"), candidates=["1.1.1"]),
      "wait", reasons.BAKING),
    S("a-candidate-beyond-maxbump-does-not-supersede",
      in_flight(kept=[baking(4 * M)], now=T0 + 6 * M, candidates=["2.0.0"]),
      "wait", reasons.BAKING),
    S("a-gate-not-passing-does-not-let-a-newer-one-supersede",
      in_flight(kept=[baking(4 * M)], now=T0 + 6 * M, candidates=["1.1.1"],
                gate_blocks=["RolloutGate apps/freeze is not passing"]),
      "wait", reasons.BAKING),
    S("allowed-versions-limit-what-supersedes",
      in_flight(kept=[baking(4 * M)], now=T0 + 6 * M, candidates=["1.1.1"],
                gate_allowed=frozenset({"1.1.0"})),
      "wait", reasons.BAKING),
    # --- quarantine after a revert -------------------------------------------------------
    S("reverted-release-is-quarantined",
      observe(records=REVERTED, kept=[replace(baking(4 * M), bake_status="Failed")],
              candidates=["1.0.0", "1.1.0"], now=T0 + 21 * M),
      "blocked", reasons.SELECTION_BLOCKED, current="1.0.0",
      says=("1.1.0: quarantined after a failed release",)),
    S("after-a-revert-a-newer-fix-is-released",
      observe(records=REVERTED, candidates=["1.1.0", "1.1.1"], now=T0 + 21 * M),
      "release", reasons.RELEASE_WRITTEN, release="1.1.1"),
    S("a-release-that-failed-with-no-revert-is-quarantined-too",
      # 1.1.0's bake failed just as a person set 1.0.1 by hand (nothing to revert);
      # they adopted it with `reconciler release`. The ImagePolicy still offers 1.1.0:
      # the failure in status keeps it out although git has no revert of it.
      observe(records=history((ADOPT, trailers.adopt_message(
                  rollout=ROLLOUT, release="1.0.1", previous="1.1.0"), T0 + 30 * M))
              + IN_FLIGHT,
              targets=targets("1.0.1"),
              kept=[progress.Bookkeeping(ADOPT, "Succeeded", applied_at=T0 + 30 * M,
                                         bake_start=T0 + 30 * M, bake_end=T0 + 40 * M),
                    replace(baking(4 * M), bake_status="Failed")],
              candidates=["1.0.1", "1.1.0"], now=T0 + 41 * M),
      "blocked", reasons.SELECTION_BLOCKED, current="1.0.1",
      says=("1.1.0: quarantined after a failed release",)),
    S("wanted-version-overrides-the-quarantine",
      observe(records=REVERTED, candidates=["1.1.0"], policy=policy(wantedVersion="1.1.0")),
      "release", reasons.RELEASE_WRITTEN, release="1.1.0", says=("quarantined",)),
    # --- gates -----------------------------------------------------------------------------
    S("gate-not-passing-blocks",
      observe(candidates=["1.1.0"], gate_blocks=["RolloutGate apps/a is not passing",
                                                 "RolloutGate apps/b is not passing"]),
      "blocked", reasons.GATE_BLOCKED,
      says=("RolloutGate apps/a is not passing; RolloutGate apps/b is not passing",)),
    S("allowed-versions-choose-among-candidates",
      observe(candidates=["1.1.0", "1.2.0"], gate_allowed=frozenset({"1.1.0", "3.0.0"})),
      "release", reasons.RELEASE_WRITTEN, release="1.1.0"),
    S("allowed-versions-excluding-every-newer-blocks",
      observe(candidates=["1.1.0", "1.2.0"], gate_allowed=frozenset({"1.0.0"})),
      "blocked", reasons.SELECTION_BLOCKED,
      says=("not among the versions the rollout gates allow",)),
]


@pytest.mark.parametrize("s", [pytest.param(s, id=s.id) for s in SCENARIOS])
def test_decide(s: Scenario) -> None:
    step = progress.decide(s.observed)
    assert (step.action, step.reason) == (s.action, s.reason), step.message
    assert step.release == s.release
    assert step.revert == s.revert
    if s.wake_at is not UNSET:
        assert step.wake_at == s.wake_at
    if s.in_flight is not UNSET:
        assert step.in_flight == s.in_flight
    if s.current is not UNSET:
        assert step.current == s.current
    if s.kept is not None:
        assert {k.commit: k.bake_status for k in step.kept} == s.kept
    for text in s.says:
        assert text in step.message
    if s.events is not None:
        assert [e[1] for e in step.events] == list(s.events)


@pytest.mark.parametrize("s", [pytest.param(s, id=s.id) for s in SCENARIOS])
def test_decide_is_a_function_of_its_inputs(s: Scenario) -> None:
    assert progress.decide(s.observed) == progress.decide(s.observed)


# --- details of single steps -------------------------------------------------------------


def mine(step: progress.Step, commit: str = R110) -> progress.Bookkeeping:
    found = [k for k in step.kept if k.commit == commit]
    assert len(found) == 1, step.kept
    return found[0]


def test_bake_bookkeeping_records_apply_and_start_times() -> None:
    now = T0 + 3 * M
    step = progress.decide(in_flight(kept=[deploying()], applied=APPLIED, now=now,
                                     checks=[healthy()]))
    k = mine(step)
    assert (k.applied_at, k.bake_start, k.bake_end) == (now, now, None)


def test_pending_checks_leave_bake_start_unset_but_record_the_apply() -> None:
    now = T0 + 3 * M
    step = progress.decide(in_flight(kept=[deploying()], applied=APPLIED, now=now,
                                     checks=[bake.Check("apps/podinfo", "Pending")]))
    k = mine(step)
    assert (k.applied_at, k.bake_start) == (now, None)


def test_the_apply_is_not_asked_again_once_recorded() -> None:
    """Flux moving on to a later commit must not send a baking release back to Deploying."""
    step = progress.decide(in_flight(kept=[baking(4 * M)], applied=NOT_APPLIED,
                                     now=T0 + 6 * M, checks=[healthy()]))
    assert step.reason == reasons.BAKING
    assert mine(step).applied_at == T0 + 3 * M


def test_bake_failure_records_failed_checks_and_end() -> None:
    now = T0 + 6 * M
    step = progress.decide(in_flight(kept=[baking(4 * M)], now=now, checks=[
        bake.Check("apps/errors", "Unhealthy"), bake.Check("apps/slo", "Unhealthy"),
        healthy("apps/latency")]))
    k = mine(step)
    assert k.bake_status == "Failed"
    assert k.failed_checks == ("apps/errors", "apps/slo")
    assert (k.bake_start, k.bake_end) == (T0 + 4 * M, now)
    assert "apps/latency" not in step.message
    assert step.events[0][0] == "Warning" and "reverting" in step.events[0][2]


def test_success_records_bake_end() -> None:
    now = T0 + 4 * M + BAKE_TIME
    step = progress.decide(in_flight(kept=[baking(4 * M)], now=now, checks=[healthy()]))
    k = mine(step)
    assert (k.bake_status, k.bake_start, k.bake_end) == ("Succeeded", T0 + 4 * M, now)
    assert step.events[0][0] == "Normal"


def test_superseding_marks_why_the_old_release_was_cancelled() -> None:
    step = progress.decide(in_flight(kept=[baking(4 * M)], now=T0 + 6 * M,
                                     candidates=["1.1.1"]))
    assert mine(step).message == "superseded by 1.1.1"
    assert "1.1.1 is newer" in step.events[0][2]


def test_through_pull_requests_a_newer_release_waits_for_the_bake_in_flight() -> None:
    """Proposing 1.1.1 must not cancel 1.1.0's bake: the proposal may wait for days,
    and 1.1.0 may still fail and need its revert."""
    step = progress.decide(replace(in_flight(kept=[baking(4 * M)], now=T0 + 6 * M,
                                             candidates=["1.1.1"]), direct=False))
    assert step.action == "wait" and mine(step).bake_status == "InProgress"
    done = progress.decide(replace(in_flight(kept=[baking(4 * M)], now=T0 + 4 * M + BAKE_TIME,
                                             checks=[healthy()], candidates=["1.1.1"]),
                                   direct=False))
    assert mine(done).bake_status == "Succeeded"
    after = progress.decide(replace(in_flight(kept=list(done.kept), now=T0 + 20 * M,
                                              candidates=["1.1.1"]), direct=False))
    assert (after.action, after.release) == ("release", "1.1.1")


def test_older_unsettled_bookkeeping_is_cancelled_when_a_newer_record_exists() -> None:
    """A release committed after 1.1.0 by someone else (the CLI): 1.1.0 never ended."""
    records = history(release(R111, "1.1.1", "1.1.0", T0 + 5 * M)) + IN_FLIGHT
    step = progress.decide(in_flight(records=records, targets=targets("1.1.1"),
                                     kept=[baking(4 * M)], now=T0 + 6 * M,
                                     applied=NOT_APPLIED))
    assert mine(step, R110).bake_status == "Cancelled"
    assert mine(step, R111).bake_status == "Deploying"
    assert step.in_flight == R111


def test_settled_history_is_kept_unchanged() -> None:
    failed = replace(baking(4 * M), bake_status="Failed", failed_checks=("apps/errors",))
    step = progress.decide(observe(records=REVERTED, kept=[failed, SETTLED_100],
                                   candidates=["1.1.1"]))
    assert set(step.kept) == {failed, SETTLED_100}


def test_first_release_into_empty_targets() -> None:
    step = progress.decide(observe(records=[], kept=[], targets=targets(None),
                                   candidates=["1.0.0", "1.1.0"]))
    assert (step.action, step.release) == ("release", "1.1.0")


def test_invalid_wanted_version_never_becomes_a_release_mid_bake() -> None:
    step = progress.decide(in_flight(kept=[baking(4 * M)], now=T0 + 6 * M,
                                     checks=[healthy()],
                                     policy=policy(wantedVersion="not a tag!")))
    assert step.action != "release"
    assert step.release is None
    assert mine(step).bake_status == "InProgress"


def test_superseding_without_prior_bookkeeping_still_records_the_cancel() -> None:
    step = progress.decide(in_flight(kept=[], applied=NOT_APPLIED,
                                     candidates=["1.1.0", "1.1.1"]))
    assert step.release == "1.1.1"
    assert mine(step).bake_status == "Cancelled"


def test_a_failed_release_without_its_revert_is_reverted_again() -> None:
    failed = replace(baking(4 * M), bake_status="Failed", bake_end=T0 + 6 * M,
                     failed_checks=("apps/errors",))
    step = progress.decide(in_flight(kept=[failed], now=T0 + 7 * M, checks=[healthy()]))
    assert (step.action, step.revert) == ("revert", R110)


# --- the loop end to end, and a restart in the middle of a bake --------------------------


def restart(step: progress.Step, records: Sequence[trailers.Record],
            now: datetime) -> list[progress.Bookkeeping]:
    """What a (re)started daemon reads back: the bookkeeping through the written status."""
    written = status.render(step=step, records=records, previous=None, generation=3,
                            revision=records[0].commit if records else None,
                            candidates=["1.0.0", "1.1.0"], limit=10, now=now)
    return status.kept_from(written)


def test_a_restart_mid_bake_resumes_with_the_time_left() -> None:
    started = T0 + 3 * M
    first = progress.decide(in_flight(kept=[deploying()], applied=APPLIED, now=started,
                                      checks=[healthy()]))
    assert first.wake_at == started + BAKE_TIME
    kept = restart(first, IN_FLIGHT, started)

    resumed = progress.decide(in_flight(kept=kept, applied=None, now=started + 6 * M,
                                        checks=[healthy()]))
    assert (resumed.action, resumed.reason) == ("wait", reasons.BAKING)
    assert resumed.wake_at == first.wake_at
    assert mine(resumed).bake_start == started
    assert "240s left" in resumed.message

    done = progress.decide(in_flight(kept=restart(resumed, IN_FLIGHT, started + 6 * M),
                                     now=started + BAKE_TIME, checks=[healthy()]))
    assert done.reason == reasons.BAKE_SUCCEEDED
    assert mine(done).bake_start == started


def test_a_restart_while_deploying_keeps_the_deploy_deadline() -> None:
    first = progress.decide(in_flight(kept=[], applied=NOT_APPLIED, now=T0 + 2 * M))
    kept = restart(first, IN_FLIGHT, T0 + 2 * M)
    assert [k.bake_status for k in kept if k.commit == R110] == ["Deploying"]
    again = progress.decide(in_flight(kept=kept, applied=NOT_APPLIED, now=T0 + 7 * M))
    assert (again.action, again.wake_at) == ("wait", T0 + DEPLOY_TIMEOUT)


def test_a_restart_after_the_bake_failed_does_not_start_a_new_bake() -> None:
    failed = progress.decide(in_flight(kept=[baking(4 * M)], now=T0 + 6 * M,
                                       checks=[bake.Check("apps/errors", "Unhealthy")]))
    assert failed.action == "revert"
    # The revert is pushed; the next pass sees it in git.
    after = progress.decide(observe(records=REVERTED, kept=restart(failed, REVERTED,
                                                                     T0 + 6 * M),
                                    candidates=["1.0.0", "1.1.0"], now=T0 + 30 * M,
                                    checks=[healthy()]))
    assert (after.action, after.reason) == ("blocked", reasons.SELECTION_BLOCKED)
    assert mine(after).failed_checks == ("apps/errors",)


def test_the_whole_loop_release_deploy_bake_next() -> None:
    """ImagePolicy offers 1.1.0 → release → Flux applies → bake → 1.1.1 next."""
    now = T0 - M
    step = progress.decide(observe(candidates=["1.0.0", "1.1.0"], now=now))
    assert (step.action, step.release) == ("release", "1.1.0")
    kept = restart(step, BEFORE, now)

    # The commit lands at T0; Flux has not applied it yet.
    step = progress.decide(in_flight(kept=kept, applied=NOT_APPLIED, now=T0 + M))
    assert (step.reason, step.wake_at) == (reasons.DEPLOYING, T0 + DEPLOY_TIMEOUT)
    kept = restart(step, IN_FLIGHT, T0 + M)

    step = progress.decide(in_flight(kept=kept, applied=APPLIED, now=T0 + 2 * M,
                                     checks=[bake.Check("apps/podinfo", "Pending")]))
    assert step.reason == reasons.HEALTH_CHECK_NOT_READY and mine(step).bake_start is None
    kept = restart(step, IN_FLIGHT, T0 + 2 * M)

    step = progress.decide(in_flight(kept=kept, applied=APPLIED, now=T0 + 3 * M,
                                     checks=[healthy()]))
    assert (step.reason, step.wake_at) == (reasons.BAKING, T0 + 3 * M + BAKE_TIME)
    kept = restart(step, IN_FLIGHT, T0 + 3 * M)

    step = progress.decide(in_flight(kept=kept, now=T0 + 3 * M + BAKE_TIME,
                                     checks=[healthy()]))
    assert (step.action, step.reason) == ("idle", reasons.BAKE_SUCCEEDED)
    kept = restart(step, IN_FLIGHT, T0 + 3 * M + BAKE_TIME)

    step = progress.decide(in_flight(kept=kept, now=T0 + 20 * M,
                                     candidates=["1.1.0", "1.1.1"], checks=[healthy()]))
    assert (step.action, step.reason, step.release) == (
        "release", reasons.RELEASE_WRITTEN, "1.1.1")


def test_a_pin_to_the_in_flight_release_after_a_manual_edit_writes_the_pin_never_bakes() -> None:
    """1.1.0 is baking, a person hot-fixes the targets to 1.1.1, then someone pins
    1.1.0: the pin is written as a release; the old record is neither baked nor
    reverted (a revert would undo the person's edit and write 1.0.0)."""
    step = progress.decide(in_flight(
        targets=targets("1.1.1"), policy=policy(wantedVersion="1.1.0"),
        kept=[baking(4 * M), SETTLED_100], applied=APPLIED,
        checks=[bake.Check("apps/podinfo", "Unhealthy", message="errors")]))
    assert (step.action, step.release) == ("release", "1.1.0")
    assert mine(step).bake_status == "Cancelled"


def test_a_pin_equal_to_the_hand_set_value_is_reported_pinned() -> None:
    step = progress.decide(in_flight(
        targets=targets("1.1.1"), policy=policy(wantedVersion="1.1.1"),
        kept=[baking(4 * M), SETTLED_100], applied=APPLIED))
    assert (step.action, step.reason) == ("idle", reasons.PINNED)


def test_a_failed_bake_whose_status_write_was_refused_keeps_its_checks_after_the_revert() -> None:
    # The pass that reverted 1.1.0 decided Failed with the failed check; its status write
    # was refused (409, a stale copy). The next pass reads the status, still InProgress,
    # with the revert on the branch: the settled bookkeeping the reporter kept wins.
    failed = replace(baking(5 * M), bake_status="Failed", bake_end=T0 + 19 * M,
                     failed_checks=("apps/podinfo-error-rate",),
                     message="HealthCheck failed after deploy: apps/podinfo-error-rate")
    stale = [replace(baking(5 * M), message="baking, 1s left"), SETTLED_100]
    o = observe(records=REVERTED, kept=stale, now=T0 + 21 * M, targets=targets("1.0.0"))

    lost = next(k for k in progress.decide(o).kept if k.commit == R110)
    assert (lost.bake_status, lost.failed_checks, lost.message) == ("Failed", (),
                                                                    "baking, 1s left")
    kept = progress.settled_first(o.kept, (failed,))
    assert kept == (failed, SETTLED_100)
    found = next(k for k in progress.decide(replace(o, kept=kept)).kept if k.commit == R110)
    assert found == failed
    # Nothing settled to offer, or already settled in the status: the status stands.
    assert progress.settled_first(o.kept, (baking(6 * M),)) == tuple(stale)
    assert progress.settled_first((failed,), (replace(failed, message="x"),)) == (failed,)
