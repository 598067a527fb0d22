"""The checkpoints at a canary's stages (engine/checkpoints with core/steps): what is
asked before step 1, before a later step and before promotion, and the rollout hooks
in a step's bake. Decisions come from the real ``core.progress``; the only fake is the
HTTP call (``test_checkpoints.Scripted``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reconciler.core import declines, models, progress, reasons, steps
from tests.unit.test_checkpoints import OBJ, Scripted, World, hook
from tests.unit.test_steps import ROLLOUT, T0, S, history, observed, record

ONE, TWO = "1" * 40, "2" * 40


def spec(*, second: str = "auto", **kw: Any) -> models.RolloutSpec:
    return models.RolloutSpec(steps=[models.CanaryStep(weight=10, bakeTime="5m"),
                                     models.CanaryStep(weight=50, bakeTime="10m",
                                                       approval=second)], **kw)


def review(world: World, s: models.RolloutSpec, o: progress.Observed) -> progress.Step:
    return world.cp.review(ROLLOUT, OBJ, s, o, progress.decide(o))


def approval(step: int | None) -> declines.Decline:
    return declines.Decline(commit="a" * 40, rollout=ROLLOUT, release="1.1.0",
                            environment="production", number=0, at=T0, decision="Approved",
                            step=step)


def step_one_baked() -> progress.Observed:
    """Step 1 of 1.1.0 written and baked its 5m: step 2 is due."""
    records = history(record(ONE, steps.Stage("step", 1, 2, 10)))
    kept = progress.decide(observed(records, now=T0 + S)).kept
    return observed(records, now=T0 + 302 * S, kept=kept)


def test_step_one_asks_the_release_approval_then_the_hooks_before_a_rollout() -> None:
    caller = Scripted(smoke=[200], promote=[503])
    world = World(caller)
    s = spec(approval="manual", hooks=[hook("smoke", "pre-rollout"),
                                       hook("promote", "confirm-promotion")])
    held = review(world, s, observed([], now=T0))
    assert (held.action, held.reason) == ("wait", reasons.AWAITING_APPROVAL)
    assert "1.1.0 waits for a person's approval (spec.approval: manual)" in held.message
    assert not caller.calls

    world.decided = [approval(None)]
    go = review(world, s, observed([], now=T0))
    assert (go.action, go.release, go.stage) == ("release", "1.1.0", "1/2")
    # pre-rollout was asked with the step in its payload; confirm-promotion was not:
    # with canary steps promotion is a stage of its own.
    assert [(name, body["step"]) for name, body in caller.calls] == [("smoke", 1)]


def test_a_later_step_with_manual_approval_waits_with_its_step_baked() -> None:
    world = World(Scripted())
    o = step_one_baked()
    held = review(world, spec(second="manual"), o)
    assert (held.action, held.reason, held.stage) == ("wait", reasons.AWAITING_APPROVAL, "2/2")
    assert held.message == (
        "step 2 of 1.1.0 waits for a person's approval (spec.steps[1].approval: manual): "
        "run `reconciler approve apps/podinfo 1.1.0 --step 2 --repo "
        "https://git.example/fleet.git`")
    assert held.in_flight == ONE and held.release is None
    assert [k.bake_status for k in held.kept] == ["Succeeded"]
    assert world.cp.awaiting(ROLLOUT) == ("1.1.0", 2)

    world.decided = [approval(None)]  # the release's approval is not step 2's
    assert review(world, spec(second="manual"), o).reason == reasons.AWAITING_APPROVAL
    world.decided = [approval(2)]
    go = review(world, spec(second="manual"), o)
    assert (go.action, go.release, go.stage, go.weight) == ("release", "1.1.0", "2/2", 50)
    # While step 2 waits, step 1 stays under watch: a failing HealthCheck aborts the canary.
    world.decided = []
    bad = replace(o, checks=[replace(c, status="Unhealthy", last_error=o.now)
                             for c in o.checks])
    aborted = review(world, spec(second="manual"), bad)
    assert (aborted.action, aborted.revert, aborted.stage) == ("revert", ONE, steps.ABORT)
    # Without steps[1].approval the step goes on its own.
    assert review(World(Scripted()), spec(), o).stage == "2/2"


def test_promotion_waits_for_confirm_promotion() -> None:
    caller = Scripted(promote=[503, 200])
    world = World(caller, now=T0 + 602 * S)
    s = spec(hooks=[hook("promote", "confirm-promotion")])
    records = history(record(TWO, steps.Stage("step", 2, 2, 50)),
                      record(ONE, steps.Stage("step", 1, 2, 10)))
    kept = progress.decide(observed(records, now=T0 + S)).kept
    o = observed(records, now=T0 + 602 * S, kept=kept)
    assert progress.decide(o).stage == steps.PROMOTE
    held = review(world, s, o)
    assert (held.action, held.reason) == ("wait", reasons.WAITING_FOR_CONFIRMATION)
    assert held.in_flight == TWO and held.wake_at is not None
    world.now = held.wake_at
    go = review(world, s, replace(o, now=held.wake_at))
    assert (go.action, go.stage) == ("release", steps.PROMOTE)
    assert [body["phase"] for _, body in caller.calls] == ["WaitingPromotion"] * 2


def test_a_rollout_hook_failing_in_a_step_bake_aborts_the_canary() -> None:
    caller = Scripted(load=[500])
    world = World(caller)
    s = spec(hooks=[hook("load", "rollout")])
    records = history(record(ONE, steps.Stage("step", 1, 2, 10)))
    kept = progress.decide(observed(records, now=T0 + S)).kept
    failed = review(world, s, observed(records, now=T0 + 2 * S, kept=kept))
    assert (failed.action, failed.revert, failed.stage) == ("revert", ONE, steps.ABORT)
    assert "hook load" in failed.message
    assert [(name, body["step"]) for name, body in caller.calls] == [("load", 1)]


def test_a_held_later_step_decided_again_stays_held_and_never_rewrites_step_one() -> None:
    # The daemon keeps what review returned (the step's bake Succeeded) in the status
    # and decides from it on the next reconcile or after a restart.
    world = World(Scripted())
    o = step_one_baked()
    held = review(world, spec(second="manual"), o)
    again = replace(o, kept=held.kept, now=o.now + 60 * S)
    still = review(world, spec(second="manual"), again)
    assert (still.action, still.reason, still.stage) == ("wait", reasons.AWAITING_APPROVAL,
                                                         "2/2")
    assert still.release is None and still.in_flight == ONE
    world.decided = [approval(2)]
    go = review(world, spec(second="manual"), again)
    assert (go.action, go.release, go.stage, go.weight) == ("release", "1.1.0", "2/2", 50)
    # (A failure while held aborts: test_steps, the closed deploy window.)
