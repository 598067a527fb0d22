"""The Rollout's status (reconciler.core.status), its history: entries newest first in
kuberik's shape, with the bake details, the digest, who triggered them and their
times in UTC, bounded by the history limit; and the bake bookkeeping they carry,
read back (``kept_from``) as a restarted daemon reads it, malformed entries skipped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from reconciler.core import progress, reasons, status, trailers
from tests.unit.statusworld import (
    KEPT,
    NOW,
    R1,
    R2,
    R3,
    RECORDS,
    REV,
    ROLLOUT,
    M,
    _release,
    render,
    step,
)

# --- history ------------------------------------------------------------------------------


def test_history_is_newest_first_with_id_commit_action_version_and_bake() -> None:
    history = render()["history"]
    assert [(h["id"], h["commit"], h["action"], h["version"]) for h in history] == [
        (3, REV, "revert", {"tag": "1.1.0"}), (2, R3, "release", {"tag": "1.2.0"}),
        (1, R2, "release", {"tag": "1.1.0"})]
    assert [h.get("bakeStatus") for h in history] == [None, "Failed", "Succeeded"]


def test_history_entry_carries_the_bake_details_in_kuberiks_shape() -> None:
    failed = render()["history"][1]
    assert failed == {
        "id": 2, "version": {"tag": "1.2.0"}, "timestamp": "2026-03-02T08:30:00Z",
        "triggeredBy": {"kind": "System", "name": "reconciler"},
        "commit": R3, "action": "release", "bakeStatus": "Failed",
        "appliedTime": "2026-03-02T08:32:00Z", "bakeStartTime": "2026-03-02T08:33:00Z",
        "bakeEndTime": "2026-03-02T08:54:00Z",
        "failedHealthChecks": [{"name": "errors", "namespace": "apps"},
                               {"name": "slo", "namespace": "apps"}],
        "bakeStatusMessage": "HealthCheck failed after deploy: apps/errors: Unhealthy"}


def test_history_version_carries_the_digest_the_image_policy_reported() -> None:
    written = status.render(step=step(), records=RECORDS, previous=None, generation=1,
                            revision=None, candidates=["1.2.0"], limit=10, now=NOW,
                            digests={"1.2.0": "sha256:" + "a" * 64})
    assert written["history"][1]["version"] == {"tag": "1.2.0", "digest": "sha256:" + "a" * 64}
    assert written["availableReleases"][0] == written["history"][1]["version"]
    # Kept from the previous status once the ImagePolicy has moved on.
    again = status.render(step=step(), records=RECORDS, previous=written, generation=1,
                          revision=None, candidates=["1.3.0"], limit=10, now=NOW)
    assert again["history"][1]["version"]["digest"] == "sha256:" + "a" * 64


def test_a_person_s_revert_or_adoption_is_triggered_by_a_user() -> None:
    by_hand = trailers.records([(REV, trailers.revert_message(
        reverted_subject="podinfo: 1.1.0 -> 1.2.0", reverted_sha=R3, rollout=ROLLOUT,
        release="1.1.0", previous="1.2.0", reason="reverted by hand"), NOW)])
    adopted = trailers.records([(R3, trailers.adopt_message(
        rollout=ROLLOUT, release="1.2.0", previous="1.1.0"), NOW)])
    for records in (by_hand, adopted):
        entry = render(step(kept=()), records=records)["history"][0]
        assert entry["triggeredBy"] == {"kind": "User", "name": "git"}
    assert render()["history"][0]["triggeredBy"] == {"kind": "System", "name": "reconciler"}


def test_revert_entry_says_what_was_taken_out_and_why() -> None:
    entry = render()["history"][0]
    assert entry["message"] == "revert of 1.2.0: HealthCheck apps/errors failed"
    assert "bakeStatusMessage" not in entry
    assert entry["timestamp"] == "2026-03-02T08:55:00Z"


def test_times_are_written_in_utc() -> None:
    plus2 = datetime(2026, 3, 2, 13, 0, tzinfo=timezone(timedelta(hours=2)))
    s = step(kept=(progress.Bookkeeping(R2, "InProgress", applied_at=plus2,
                                        bake_start=plus2),))
    entry = render(s)["history"][2]
    assert entry["appliedTime"] == entry["bakeStartTime"] == "2026-03-02T11:00:00Z"
    assert "bakeEndTime" not in entry


def test_history_limit_keeps_the_newest() -> None:
    commits = [_release(f"{i:040x}", f"1.{i}.0", f"1.{i - 1}.0", NOW - i * M)
               for i in range(1, 16)]
    records = trailers.records(commits)
    history = render(step(kept=()), records=records, limit=10)["history"]
    assert [h["version"]["tag"] for h in history] == [f"1.{i}.0" for i in range(1, 11)]
    assert [h["id"] for h in history] == list(range(15, 5, -1))
    assert len(render(step(kept=()), records=records, limit=3)["history"]) == 3


def test_render_then_kept_from_round_trips_the_bookkeeping() -> None:
    written = render()
    assert status.kept_from(written) == list(KEPT)


def test_round_trip_survives_a_json_like_copy() -> None:
    """What comes back from the API server is JSON, not the dict we wrote."""
    written = json.loads(json.dumps(render()))
    assert status.kept_from(written) == list(KEPT)


def test_render_without_a_step_keeps_the_previous_bookkeeping() -> None:
    previous = render()
    again = render(None, previous=previous,
                   error=(reasons.GIT_ERROR, "fetch failed: connection reset", False))
    assert again["history"] == previous["history"]
    assert "phase" not in again and "currentVersion" not in again


@pytest.mark.parametrize("entry", [
    pytest.param("not a mapping", id="not-a-mapping"),
    pytest.param({"bakeStatus": "Succeeded"}, id="no-commit"),
    pytest.param({"commit": 42, "bakeStatus": "Succeeded"}, id="commit-not-text"),
    pytest.param({"commit": R1}, id="no-bake-status"),
    pytest.param({"commit": R1, "bakeStatus": "Pending"}, id="unknown-bake-status"),
    pytest.param({"commit": R1, "bakeStatus": "InProgress", "bakeStartTime": "soon"},
                 id="bad-time"),
    pytest.param({"commit": R1, "bakeStatus": "InProgress", "appliedTime": 17},
                 id="time-not-text"),
    pytest.param({"commit": R1, "bakeStatus": "Failed", "failedHealthChecks": 3},
                 id="failed-checks-not-a-list"),
])
def test_kept_from_skips_malformed_entries(entry: Any) -> None:
    good = {"commit": R2, "bakeStatus": "Succeeded", "bakeEndTime": "2026-03-02T09:00:00Z"}
    kept = status.kept_from({"history": [entry, good]})
    assert kept == [progress.Bookkeeping(R2, "Succeeded", bake_end=NOW)]


@pytest.mark.parametrize("previous", [None, {}, {"history": None}, {"history": []}])
def test_kept_from_nothing(previous: dict[str, Any] | None) -> None:
    assert status.kept_from(previous) == []


def test_kept_from_skips_a_time_without_offset() -> None:
    kept = status.kept_from({"history": [
        {"commit": R1, "bakeStatus": "InProgress", "bakeStartTime": "2026-03-02T09:00:00"}]})
    assert kept == []


def test_the_applied_time_keeps_its_fraction_through_the_status() -> None:
    """A HealthCheck error stamped in the same second as the deploy, but before it,
    must not fail the bake once the applied time has gone through the status
    (Kubernetes stamps lastErrorTime in whole seconds; we keep microseconds)."""
    from reconciler.core import bake

    applied = datetime(2026, 12, 3, 10, 0, 0, 900_000, tzinfo=UTC)
    record = trailers.Record(commit="c" * 40, time=applied.replace(microsecond=0),
                             subject="podinfo: 6.4.0 -> 6.5.0",
                             trailers=trailers.Trailers(rollout="apps/podinfo",
                                                        action="release", release="6.5.0",
                                                        previous_release="6.4.0"))
    kept = progress.Bookkeeping(commit=record.commit, bake_status="InProgress",
                                applied_at=applied, bake_start=applied)
    rendered = status.render(step=None, records=[record], previous=None, generation=1,
                             revision=record.commit, candidates=[], limit=10,
                             now=applied + timedelta(seconds=1), kept=[kept],
                             error=(reasons.CLUSTER_ERROR, "a pass that failed later", False))
    assert rendered["history"][0]["appliedTime"] == "2026-12-03T10:00:00.900000Z"
    [back] = status.kept_from(rendered, [record])
    assert back.applied_at == applied
    assert back.bake_start == applied

    def verdict(last_error: str) -> str:
        check = bake.check_from({"metadata": {"namespace": "apps", "name": "errors"},
                                 "status": {"status": "Healthy",
                                            "lastErrorTime": last_error}})
        assert back.applied_at is not None
        return bake.evaluate([check], deployed_at=back.applied_at,
                             bake_start=back.bake_start, bake_time=timedelta(minutes=5),
                             now=applied + timedelta(seconds=30)).state
    # Same second, stamped before the deploy: the old version's error, not the release's.
    assert verdict("2026-12-03T10:00:00Z") == "InProgress"
    # The next second: after the deploy, whatever the precision.
    assert verdict("2026-12-03T10:00:01Z") == "Failed"
    # With a fraction (metav1.MicroTime), compared exactly.
    assert verdict("2026-12-03T10:00:00.950000Z") == "Failed"
    assert verdict("2026-12-03T10:00:00.850000Z") == "InProgress"
