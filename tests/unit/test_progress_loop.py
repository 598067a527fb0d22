"""The release loop of one rollout (reconciler.core.progress) end to end: release,
deploy, bake and the next release, with the bookkeeping read back through the written
status at every step as a restarted daemon reads it (mid-bake, while deploying, after
a failed bake); and pins after a manual edit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from reconciler.core import bake, progress, reasons, status, trailers
from tests.unit.progressworld import (
    APPLIED,
    BAKE_TIME,
    BEFORE,
    DEPLOY_TIMEOUT,
    IN_FLIGHT,
    NOT_APPLIED,
    R110,
    REVERTED,
    SETTLED_100,
    T0,
    M,
    baking,
    deploying,
    healthy,
    in_flight,
    mine,
    observe,
    policy,
    targets,
)

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
