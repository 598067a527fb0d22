"""The release loop of one rollout (reconciler.core.progress), as a table of scenarios:
selecting the next release, suspend, manual changes and pins, deploying, baking,
superseding, quarantine and gates. Each gives the inputs (progressworld.py) and the
step ``decide`` must take.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pytest

from reconciler.core import bake, progress, reasons, trailers
from tests.unit.progressworld import (
    ADOPT,
    APPLIED,
    BAKE_TIME,
    DEPLOY_TIMEOUT,
    IN_FLIGHT,
    MANUAL,
    NOT_APPLIED,
    R100,
    R110,
    REVERTED,
    ROLLOUT,
    SETTLED_100,
    T0,
    M,
    baking,
    deploying,
    healthy,
    history,
    in_flight,
    observe,
    policy,
    targets,
)

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
