"""A deploy window in the release loop (reconciler.core.progress): it holds a new
release and says when it opens; it never holds a bake in flight, a revert or a pin."""

from __future__ import annotations

from reconciler.core import bake, progress, reasons, windows
from tests.unit.progressworld import (
    APPLIED,
    BAKE_TIME,
    IN_FLIGHT,
    R110,
    T0,
    M,
    baking,
    in_flight,
    mine,
    observe,
    policy,
)

OPENS = T0 + 90 * M
CLOSED = windows.Verdict(False, "outside the deploy window: RolloutSchedule apps/freeze "
                                "denies deploys now (rule x); it opens at 2026-03-02T10:30:00Z",
                         OPENS)
OPEN = windows.Verdict(True, "inside the deploy window: RolloutSchedule apps/hours")


def test_a_new_release_waits_for_the_window_and_wakes_when_it_opens() -> None:
    step = progress.decide(observe(candidates=["1.1.0"], window=CLOSED))
    assert (step.action, step.reason) == ("wait", reasons.OUTSIDE_DEPLOY_WINDOW)
    assert step.release is None and step.wake_at == OPENS
    assert step.message.startswith("1.1.0 waits: outside the deploy window")
    assert "2026-03-02T10:30:00Z" in step.message
    opened = progress.decide(observe(candidates=["1.1.0"], window=OPEN, now=OPENS))
    assert (opened.action, opened.release) == ("release", "1.1.0")


def test_nothing_to_release_is_not_reported_as_waiting_for_a_window() -> None:
    step = progress.decide(observe(candidates=["1.0.0"], window=CLOSED))
    assert (step.action, step.reason) == ("idle", reasons.UP_TO_DATE)


def test_a_window_that_never_opens_waits_without_a_wake_up() -> None:
    never = windows.Verdict(False, "outside the deploy window: ...; it does not open "
                                   "within 732 days")
    step = progress.decide(observe(candidates=["1.1.0"], window=never))
    assert step.reason == reasons.OUTSIDE_DEPLOY_WINDOW and step.wake_at is None


def test_a_bake_in_flight_finishes_inside_a_closed_window() -> None:
    now = T0 + 4 * M + BAKE_TIME
    step = progress.decide(in_flight(kept=[baking(4 * M)], now=now,
                                     checks=[bake.Check("apps/podinfo", "Healthy")],
                                     window=CLOSED))
    assert (step.action, step.reason) == ("idle", reasons.BAKE_SUCCEEDED)
    assert mine(step).bake_status == "Succeeded"


def test_a_deploy_in_flight_is_followed_inside_a_closed_window() -> None:
    step = progress.decide(in_flight(kept=[progress.Bookkeeping(R110, "Deploying")],
                                     applied=APPLIED, now=T0 + 3 * M,
                                     checks=[bake.Check("apps/podinfo", "Healthy")],
                                     window=CLOSED))
    assert (step.action, step.reason) == ("wait", reasons.BAKING)


def test_a_closed_window_keeps_a_newer_release_from_cancelling_the_bake() -> None:
    step = progress.decide(in_flight(kept=[baking(4 * M)], now=T0 + 6 * M,
                                     candidates=["1.1.1"], window=CLOSED))
    assert (step.action, step.reason) == ("wait", reasons.BAKING)
    assert mine(step).bake_status == "InProgress"
    open_ = progress.decide(in_flight(kept=[baking(4 * M)], now=T0 + 6 * M,
                                      candidates=["1.1.1"], window=OPEN))
    assert (open_.action, open_.release) == ("release", "1.1.1")


def test_a_failed_bake_is_reverted_inside_a_closed_window() -> None:
    step = progress.decide(in_flight(kept=[baking(4 * M)], now=T0 + 6 * M,
                                     checks=[bake.Check("apps/podinfo", "Unhealthy")],
                                     window=CLOSED))
    assert (step.action, step.reason, step.revert) == ("revert", reasons.BAKE_FAILED, R110)


def test_a_deploy_timeout_is_reverted_inside_a_closed_window() -> None:
    step = progress.decide(in_flight(kept=[progress.Bookkeeping(R110, "Deploying")],
                                     now=T0 + 11 * M, window=CLOSED))
    assert (step.action, step.reason) == ("revert", reasons.DEPLOY_TIMEOUT)


def test_a_failed_release_whose_revert_was_not_pushed_is_asked_again() -> None:
    failed = progress.Bookkeeping(R110, "Failed", message="apps/podinfo Unhealthy")
    step = progress.decide(in_flight(kept=[failed], records=IN_FLIGHT, window=CLOSED))
    assert (step.action, step.revert) == ("revert", R110)
    # The BakeFailed Event goes out with the revert that reaches git (the first
    # attempt's push failed, so its Event was never sent).
    [(kind, reason, message)] = step.events
    assert (kind, reason) == ("Warning", reasons.BAKE_FAILED)
    assert "failed its bake: apps/podinfo Unhealthy; reverting" in message


def test_a_pin_passes_the_window_as_a_manual_deployment_passes_kuberiks_gates() -> None:
    step = progress.decide(observe(candidates=["1.1.0"], window=CLOSED,
                                   policy=policy(wantedVersion="1.1.0")))
    assert (step.action, step.release) == ("release", "1.1.0")


def test_a_gate_is_reported_before_the_window() -> None:
    step = progress.decide(observe(candidates=["1.1.0"], window=CLOSED,
                                   gate_blocks=["RolloutGate apps/a is not passing"]))
    assert step.reason == reasons.GATE_BLOCKED
