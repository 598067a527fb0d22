"""The Rollout's status (reconciler.core.status), its conditions: Ready, Reconciling
and Stalled for every kind of step and error, their lastTransitionTime kept while a
condition holds and moved when it flips; and ``same``, which compares two statuses as
a person would see them (everything but lastTransitionTime) to decide whether to write.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core import progress, reasons, status
from tests.unit.statusworld import NOW, M, by_type, render, step

# --- conditions ---------------------------------------------------------------------------

T, F = "True", "False"


@pytest.mark.parametrize(("s", "error", "expect"), [
    pytest.param(step(), None, (T, F, F), id="idle"),
    pytest.param(step("idle", reasons.BAKE_SUCCEEDED, "1.2.0 is released"), None, (T, F, F),
                 id="bake-succeeded"),
    pytest.param(step("wait", reasons.DEPLOYING, "waiting for Flux"), None, (F, T, F),
                 id="wait"),
    pytest.param(step("release", reasons.RELEASE_WRITTEN, "Release 1.2.0"), None, (F, T, F),
                 id="release"),
    pytest.param(step("revert", reasons.BAKE_FAILED, "HealthCheck failed"), None, (F, T, F),
                 id="revert"),
    pytest.param(step("held", reasons.HELD_BY_MANUAL_CHANGE, "held: by hand"), None,
                 (F, F, F), id="held"),
    pytest.param(step("blocked", reasons.GATE_BLOCKED, "RolloutGate apps/f is not passing"),
                 None, (F, F, F), id="gate-blocked"),
    pytest.param(step("suspended", reasons.SUSPENDED, "spec.suspend is true"), None,
                 (F, F, F), id="suspended"),
    pytest.param(None, (reasons.INVALID_SPEC, "spec.maxBump: must be one of", True),
                 (F, F, T), id="error-permanent"),
    pytest.param(None, (reasons.GIT_ERROR, "fetch failed: timeout", False), (F, T, F),
                 id="error-transient"),
])
def test_conditions(s: progress.Step | None, error: tuple[str, str, bool] | None,
                    expect: tuple[str, str, str]) -> None:
    conds = status.conditions(s, generation=7, previous=[], now=NOW, error=error)
    assert [c["type"] for c in conds] == [reasons.READY, reasons.RECONCILING, reasons.STALLED]
    assert tuple(c["status"] for c in conds) == expect
    if error is not None:
        reason, message = error[0], error[1]
    else:
        assert s is not None
        reason, message = s.reason, s.message
    for c in conds:
        assert (c["reason"], c["message"], c["observedGeneration"]) == (reason, message, 7)
        assert c["lastTransitionTime"] == "2026-03-02T09:00:00Z"


def test_conditions_without_generation_omit_it() -> None:
    conds = status.conditions(step(), generation=None, previous=[], now=NOW)
    assert all("observedGeneration" not in c for c in conds)


def test_condition_message_is_bounded() -> None:
    conds = status.conditions(step(message="x" * 40000), generation=1, previous=[], now=NOW)
    assert all(len(c["message"]) == 32768 for c in conds)


def test_last_transition_time_kept_while_the_status_holds() -> None:
    first = render(step("wait", reasons.DEPLOYING, "waiting for Flux"))
    later = render(step("wait", reasons.BAKING, "baking, 300s left"), previous=first,
                   now=NOW + 5 * M)
    old, new = by_type(first["conditions"]), by_type(later["conditions"])
    for kind in (reasons.READY, reasons.RECONCILING, reasons.STALLED):
        assert new[kind]["lastTransitionTime"] == old[kind]["lastTransitionTime"]
    assert new[reasons.READY]["reason"] == reasons.BAKING


def test_last_transition_time_moves_when_the_status_flips() -> None:
    first = render(step("wait", reasons.BAKING, "baking"))
    later = render(step("idle", reasons.BAKE_SUCCEEDED, "released"), previous=first,
                   now=NOW + 10 * M)
    new = by_type(later["conditions"])
    assert new[reasons.READY]["lastTransitionTime"] == "2026-03-02T09:10:00Z"
    assert new[reasons.RECONCILING]["lastTransitionTime"] == "2026-03-02T09:10:00Z"
    assert new[reasons.STALLED]["lastTransitionTime"] == "2026-03-02T09:00:00Z"


# --- same(): what a person would see ------------------------------------------------------


def test_same_ignores_only_last_transition_time() -> None:
    first = render()
    again = render(previous=first, now=NOW + 60 * M)
    assert again["conditions"] == first["conditions"]  # kept, nothing flipped
    moved = {**first, "conditions": [{**c, "lastTransitionTime": "2030-01-01T00:00:00Z"}
                                     for c in first["conditions"]]}
    assert status.same(first, moved)
    assert status.same(first, render())


@pytest.mark.parametrize("change", [
    pytest.param(lambda s: {**s, "conditions": [{**c, "message": "other"}
                                                for c in s["conditions"]]}, id="message"),
    pytest.param(lambda s: {**s, "conditions": [{**c, "reason": "Other"}
                                                for c in s["conditions"]]}, id="reason"),
    pytest.param(lambda s: {**s, "conditions": [{**c, "observedGeneration": 8}
                                                for c in s["conditions"]]},
                 id="condition-generation"),
    pytest.param(lambda s: {**s, "conditions": s["conditions"][:2]}, id="condition-dropped"),
    pytest.param(lambda s: {**s, "history": s["history"][1:]}, id="history"),
    pytest.param(lambda s: {**s, "availableReleases": ["9.9.9"]}, id="available"),
    pytest.param(lambda s: {**s, "gitRevision": "0" * 40}, id="revision"),
    pytest.param(lambda s: {**s, "observedGeneration": 8}, id="generation"),
    pytest.param(lambda s: {**s, "phase": "wait"}, id="phase"),
])
def test_same_sees_every_other_change(change: Any) -> None:
    first = render()
    assert not status.same(first, change(first))


def test_same_with_no_previous_status() -> None:
    assert not status.same(None, render())
