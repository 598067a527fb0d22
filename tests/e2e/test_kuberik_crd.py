"""The daemon on a cluster where kuberik's own Rollout CRD is installed: the API
server (the emulator, enforcing kuberik's published schema from tests/data/kuberik/)
validates every status write and prunes the fields kuberik does not define. Every
write must be accepted, and the bake bookkeeping must survive the pruning.

Also: a daemon upgraded from the string shape resumes the bake it found."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from reconciler.core.status import tag_of
from reconciler.emulator.status import ApiError
from tests.e2e.conftest import E2E, RESYNC, ROLLOUT_API
from tests.integration.test_structural import kuberik_crd


def _time(entry: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(str(entry[key]).replace("Z", "+00:00"))


def refused_writes(e2e: E2E) -> list[str]:
    return [f"{r.method} {r.path}" for r in e2e.emulator.request_log if r.code == 422]


def test_every_status_write_passes_kuberiks_crd(e2e: E2E) -> None:
    e2e.emulator.enforce(kuberik_crd())
    e2e.start_daemon()
    e2e.offer("6.5.0")
    e2e.wait_until("6.5.0 to bake", lambda: tag_of(e2e.newest().get("version")) == "6.5.0"
                   and e2e.newest().get("bakeStatus") == "Succeeded")
    [release] = e2e.reconciler_commits(action="release")
    entry = e2e.newest()
    # kuberik's fields; ours (commit, action, appliedTime) were pruned by the schema.
    assert entry["version"] == {"tag": "6.5.0"}
    assert entry["triggeredBy"] == {"kind": "System", "name": "reconciler"}
    assert entry["id"] == 1 and "commit" not in entry and "appliedTime" not in entry
    # The bake ran its full 2s although every pass read a status without ``commit``:
    # the entry's id and tag found the release commit again.
    baked = (_time(entry, "bakeEndTime") - _time(entry, "bakeStartTime")).total_seconds()
    assert baked >= 2, entry
    assert "healthy for" in entry["bakeStatusMessage"]
    assert {"gitRevision", "currentVersion", "observedGeneration"}.isdisjoint(e2e.status())

    # A bad release: its failed HealthCheck is one of kuberik's objects.
    e2e.offer("6.6.0")
    e2e.wait_until("6.6.0 to start baking", lambda: tag_of(e2e.newest().get("version"))
                   == "6.6.0" and e2e.newest().get("bakeStartTime"))
    e2e.health("podinfo-error-rate", "Unhealthy", "error rate 7.2% > 5%")
    e2e.wait_until("the revert", lambda: e2e.reconciler_commits(action="revert"))
    failed = e2e.wait_until("6.6.0 recorded as Failed", lambda: next(
        (h for h in e2e.status().get("history", []) if h.get("id") == 2
         and h.get("bakeStatus") == "Failed" and h.get("failedHealthChecks")), None))
    assert failed["failedHealthChecks"] == [
        {"name": "podinfo-error-rate", "namespace": "apps"}], failed
    assert e2e.newest()["message"].startswith("revert of 6.6.0: ")
    e2e.health("podinfo-error-rate", "Healthy", "within objectives")
    e2e.stays("no new commit", lambda: len(e2e.reconciler_commits()) == 3, RESYNC)

    status_writes = [r for r in e2e.emulator.request_log
                     if r.verb == "patch" and r.path.endswith("/podinfo/status")]
    assert status_writes and refused_writes(e2e) == []
    # Newest first, ids counting the reconciler's commits: release, release, revert.
    assert [(h["id"], h["version"]["tag"]) for h in e2e.status()["history"]] == [
        (3, "6.5.0"), (2, "6.6.0"), (1, "6.5.0")]
    assert release.subject == "podinfo: 6.4.0 -> 6.5.0"
    e2e.check_history_intact()


def test_the_string_shape_is_refused_by_kuberiks_crd(e2e: E2E) -> None:
    """The enforcement is real: what the daemon used to write does not get in."""
    e2e.emulator.enforce(kuberik_crd())
    with pytest.raises(ApiError) as info:
        e2e.emulator.set_status(ROLLOUT_API, "Rollout", namespace="apps", name="podinfo",
                                status={"history": [{"version": "6.5.0",
                                                     "timestamp": "2026-03-02T09:00:00Z"}],
                                        "availableReleases": ["6.5.0"]})
    assert info.value.code == 422
    assert [c["field"] for c in info.value.body["details"]["causes"]] == [
        "status.history[0].version", "status.availableReleases[0]"]


def _string_shape(status: dict[str, Any]) -> dict[str, Any]:
    """The status as the previous version of the daemon wrote it."""
    history = []
    for e in status.get("history") or []:
        old = {k: v for k, v in e.items() if k not in (
            "id", "triggeredBy", "bakeStatusMessage", "message", "failedHealthChecks")}
        old["version"] = tag_of(e.get("version"))
        if e.get("bakeStatusMessage") or e.get("message"):
            old["message"] = e.get("bakeStatusMessage") or e.get("message")
        history.append(old)
    return {**status, "history": history,
            "availableReleases": [tag_of(r) for r in status.get("availableReleases") or []],
            "releaseCandidates": None, "gatedReleaseCandidates": None, "gates": None}


@pytest.mark.slow  # ~10-20 s; kept out of the default run to hold it under ten minutes
def test_an_upgraded_daemon_resumes_a_bake_from_the_string_shape(e2e: E2E) -> None:
    e2e.set_rollout_spec("podinfo", bakeTime="6s")
    first = e2e.start_daemon()
    e2e.offer("6.5.0")
    baking = e2e.wait_until("6.5.0 baking", lambda: (
        e2e.newest() if e2e.newest().get("bakeStatus") == "InProgress"
        and e2e.newest().get("bakeStartTime") else None))
    first.stop()
    old = _string_shape(e2e.status())
    e2e.emulator.set_status(ROLLOUT_API, "Rollout", namespace="apps", name="podinfo",
                            status=old)
    assert e2e.newest()["version"] == "6.5.0"  # the old shape is what the new daemon finds

    e2e.start_daemon()
    e2e.wait_until("6.5.0 to bake", lambda: e2e.newest().get("bakeStatus") == "Succeeded",
                   timeout=40)
    entry = e2e.newest()
    assert entry["version"] == {"tag": "6.5.0"}  # rewritten in kuberik's shape
    # Resumed, not restarted: the bake start is the one the first daemon recorded.
    assert entry["bakeStartTime"] == baking["bakeStartTime"]
    assert entry["commit"] == baking["commit"]
    assert len(e2e.reconciler_commits()) == 1


def test_bypass_gates_releases_that_one_version_past_a_closed_gate(e2e: E2E) -> None:
    e2e.emulator.enforce(kuberik_crd())
    e2e.gate("podinfo-freeze", passing=False)
    e2e.start_daemon()
    e2e.offer("6.5.0")
    e2e.wait_until("GateBlocked with 6.5.0 seen", lambda: e2e.condition("Ready").get(
        "reason") == "GateBlocked" and "6.5.0" in e2e.releases())
    assert e2e.status()["gates"] == [{"name": "podinfo-freeze", "passing": False,
                                      "message": "Gate is not passing",
                                      "bypassGates": False}]
    assert e2e.status()["gatedReleaseCandidates"] == [{"tag": "6.5.0"}]

    before = e2e.emulator.resource_version
    obj = e2e.rollout()
    obj["metadata"].setdefault("annotations", {})["rollout.kuberik.com/bypass-gates"] = "6.5.0"
    e2e.emulator.apply(obj)
    [release] = e2e.wait_until("the release of 6.5.0", lambda: e2e.reconciler_commits(
        action="release", release="6.5.0"))
    e2e.wait_until("6.5.0 to bake", lambda: tag_of(e2e.newest().get("version")) == "6.5.0"
                   and e2e.newest().get("bakeStatus") == "Succeeded")

    bypassed = [w["status"]["gates"] for w in e2e.rollout_writes(since=before)
                if (w.get("status") or {}).get("gates", [{}])[0].get("bypassGates")]
    assert bypassed and bypassed[0] == [{
        "name": "podinfo-freeze", "passing": False, "bypassGates": True,
        "message": "Gate bypassed for version 6.5.0"}], bypassed

    # 6.5.0 is out, so the annotation no longer names a candidate: the gate holds 6.6.0.
    e2e.offer("6.6.0")
    e2e.wait_until("GateBlocked with 6.6.0 seen", lambda: e2e.condition("Ready").get(
        "reason") == "GateBlocked" and "6.6.0" in e2e.releases())
    e2e.stays("6.6.0 not released", lambda: e2e.head() == release.sha, RESYNC)
    assert e2e.status()["gates"][0]["bypassGates"] is False
    assert refused_writes(e2e) == []
