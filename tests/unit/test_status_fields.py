"""The Rollout's status (reconciler.core.status), its other fields: availableReleases
(sorted, bounded, merged with new candidates), the generation, git revision, current
version, phase and hold; and a status someone else wrote, of any shape, written over.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core import reasons, status
from tests.unit.statusworld import NOW, R3, RECORDS, render, step

# --- availableReleases --------------------------------------------------------------------


def test_available_releases_sorted_highest_first_invalid_dropped() -> None:
    assert status.available(["1.0.0", "latest", "1.10.0"],
                            ["1.9.0", "bad tag", "1.2.0-rc.1", "1.10.0", ""]) == [
        "1.10.0", "1.9.0", "1.2.0-rc.1", "1.0.0"]


def test_available_releases_bounded_keep_the_highest() -> None:
    previous = [f"1.{i}.0" for i in range(60)]
    out = status.available(previous, ["2.0.0"])
    assert len(out) == status.MAX_AVAILABLE
    assert out[0] == "2.0.0"
    assert out[-1] == f"1.{60 - status.MAX_AVAILABLE + 1}.0"


def test_render_merges_new_candidates_into_available_releases() -> None:
    written = render(previous={"availableReleases": ["1.0.0", "1.1.0"]},
                     candidates=("1.2.0",))
    assert written["availableReleases"] == [{"tag": "1.2.0"}, {"tag": "1.1.0"}, {"tag": "1.0.0"}]


# --- the rest of the status ----------------------------------------------------------------


def test_render_records_generation_revision_current_and_phase() -> None:
    written = render(step("wait", reasons.BAKING, "1.2.0: baking, 300s left",
                          current="1.2.0", in_flight=R3))
    assert written["observedGeneration"] == 7
    assert written["gitRevision"] == "c0ffee" * 6 + "ab"
    assert (written["currentVersion"], written["phase"], written["hold"]) == (
        "1.2.0", "wait", None)


def test_render_hold_says_what_is_held_and_how_to_lift_it() -> None:
    message = "held: the targets hold 1.0.5, set by hand; set spec.wantedVersion"
    written = render(step("held", reasons.HELD_BY_MANUAL_CHANGE, message, current="1.0.5"))
    assert written["hold"] == {"version": "1.0.5", "message": message}


@pytest.mark.parametrize("previous", [
    pytest.param([1, 2], id="status-a-list"),
    pytest.param({"history": 42, "conditions": "Ready", "availableReleases": "1.2.0"},
                 id="fields-not-lists"),
    pytest.param({"history": [7, None], "availableReleases": [1, {}, ["1.2.0"]],
                  "conditions": [3, {"type": "Ready", "status": "False",
                                     "lastTransitionTime": {"a": 1}}]},
                 id="entries-of-every-type"),
])
def test_render_over_a_status_someone_else_wrote(previous: Any) -> None:
    out = status.render(step=step(), records=RECORDS, previous=previous if isinstance(
        previous, dict) else None, generation=1, revision=None, candidates=["1.1.0"],
        limit=10, now=NOW)
    assert out["availableReleases"] == [{"tag": "1.1.0"}]
    assert all(c["lastTransitionTime"] == "2026-03-02T09:00:00Z" for c in out["conditions"])
    assert status.known_releases(previous) == []
    assert status.kept_from(previous if isinstance(previous, dict) else None) == []
    assert all(isinstance(e, dict) for e in status.entries(previous, "conditions"))
    # Whether to write is decided over it too: it lacks gitRevision, as a status
    # pruned by kuberik's CRD does, so only kuberik's fields are compared.
    assert not status.same(previous if isinstance(previous, dict) else None, render())
