"""The Rollout's status (reconciler.core.status): history, releases, conditions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from reconciler.core import planning, progress, reasons, status, trailers
from reconciler.core.manifests import Target

ROLLOUT = "apps/podinfo"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)
R1, R2, R3, REV = "1" * 40, "2" * 40, "3" * 40, "f" * 40


def _targets(value: str | None) -> list[Target]:
    return [Target(rollout=ROLLOUT, file="apps.yaml", document=0, kind="Kustomization",
                   object="flux-system/podinfo",
                   path=("spec", "postBuild", "substitute", "VERSION"), value=value)]


def _release(sha: str, version: str, previous: str | None,
             when: datetime) -> tuple[str, str, datetime]:
    changes = planning.changes_for(ROLLOUT, _targets(previous), version)
    return sha, trailers.release_message(changes, release=version, previous=previous), when


def _revert(sha: str, *, of: str, failed: str, back_to: str,
            when: datetime) -> tuple[str, str, datetime]:
    return sha, trailers.revert_message(
        reverted_subject=f"podinfo: {back_to} -> {failed}", reverted_sha=of, rollout=ROLLOUT,
        release=back_to, previous=failed, reason="HealthCheck apps/errors failed"), when


# Newest first: 1.2.0 reverted, 1.2.0 released, 1.1.0 released.
RECORDS = trailers.records([
    _revert(REV, of=R3, failed="1.2.0", back_to="1.1.0", when=NOW - 5 * M),
    _release(R3, "1.2.0", "1.1.0", NOW - 30 * M),
    _release(R2, "1.1.0", "1.0.0", NOW - 120 * M),
])
KEPT = (
    progress.Bookkeeping(R3, "Failed", applied_at=NOW - 28 * M, bake_start=NOW - 27 * M,
                         bake_end=NOW - 6 * M, failed_checks=("apps/errors", "apps/slo"),
                         message="HealthCheck failed after deploy: apps/errors: Unhealthy"),
    progress.Bookkeeping(R2, "Succeeded", applied_at=NOW - 118 * M,
                         bake_start=NOW - 117 * M, bake_end=NOW - 107 * M,
                         message="healthy for 0:10:00 after the deploy"),
)


def step(action: progress.Action = "idle", reason: str = reasons.UP_TO_DATE,
         message: str = "Up to date: no candidate is newer than 1.1.0.", *,
         kept: tuple[progress.Bookkeeping, ...] = KEPT, current: str | None = "1.1.0",
         **kw: Any) -> progress.Step:
    return progress.Step(action=action, reason=reason, message=message, kept=kept,
                         current=current, **kw)


def render(s: progress.Step | None = None, *, previous: dict[str, Any] | None = None,
           records: list[trailers.Record] = RECORDS, limit: int = 10,
           candidates: tuple[str, ...] = ("1.1.0", "1.2.0"), now: datetime = NOW,
           error: tuple[str, str, bool] | None = None) -> dict[str, Any]:
    return status.render(step=s if s is not None or error else step(), records=records,
                         previous=previous, generation=7, revision="c0ffee" * 6 + "ab",
                         candidates=list(candidates), limit=limit, now=now, error=error)


def by_type(conditions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in conditions}


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
