"""The release loop of one rollout (reconciler.core.progress), details of single steps:
the bake bookkeeping each records (apply, start and end times, failed checks, why a
release was cancelled), and the edge cases of superseding, first releases, invalid
pins and failed releases without their revert.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.core import bake, progress, reasons
from tests.unit.progressworld import (
    APPLIED,
    BAKE_TIME,
    IN_FLIGHT,
    NOT_APPLIED,
    R110,
    R111,
    REVERTED,
    SETTLED_100,
    T0,
    M,
    baking,
    deploying,
    healthy,
    history,
    in_flight,
    mine,
    observe,
    policy,
    release,
    targets,
)

# --- details of single steps -------------------------------------------------------------


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
