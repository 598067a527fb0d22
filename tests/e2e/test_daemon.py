"""End-to-end: ``reconciler run`` as a process, against a served bare repository,
the API emulator and FakeFlux (see conftest.py for the world each test gets).

The tests run one after another and take a few seconds each: bake times are
seconds, the daemon fetches every 0.3 s and resyncs every 2 s.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from reconciler.core.status import tag_of
from tests.e2e.conftest import APPS, DEPLOY_TIMEOUT, E2E, RESYNC


def bake_seconds(entry: dict[str, Any]) -> float:
    start, end = (datetime.fromisoformat(entry[k].replace("Z", "+00:00"))
                  for k in ("bakeStartTime", "bakeEndTime"))
    return (end - start).total_seconds()


def released(e2e: E2E, version: str) -> bool:
    entry = e2e.newest()
    return tag_of(entry.get("version")) == version and entry.get("bakeStatus") == "Succeeded"


def test_good_release_is_baked_and_kept(e2e: E2E) -> None:
    e2e.start_daemon()
    e2e.offer("6.5.0")

    e2e.wait_until("6.5.0 to bake", lambda: released(e2e, "6.5.0"))

    [commit] = e2e.reconciler_commits()
    assert commit.subject == "podinfo: 6.4.0 -> 6.5.0"
    assert commit.parents == [e2e.initial]
    assert commit.trailers == {"Rollout": "apps/podinfo", "Release": "6.5.0",
                               "Previous-Release": "6.4.0", "Action": "release",
                               "Environment": "default"}
    apps = e2e.file(APPS).decode()
    assert 'PODINFO_VERSION: "6.5.0"   # written by reconciler' in apps
    assert 'PODINFO_UI_TAG: "6.5.0"' in apps
    entry = e2e.newest()
    assert entry["commit"] == commit.sha
    baked = bake_seconds(entry)
    assert baked >= 2, f"baked for {baked}s, bakeTime is 2s"
    assert e2e.status()["currentVersion"] == "6.5.0"
    e2e.wait_until("a BakeSucceeded Event", lambda: e2e.events("BakeSucceeded"))
    # The verdict is in git: a note on the release commit, the branch untouched.
    e2e.wait_until("the verdict in git", lambda: "Bake: Succeeded" in e2e.note(commit.sha))
    note = e2e.note(commit.sha)
    assert "Verified in default: 6.5.0 of apps/podinfo stayed healthy" in note
    assert "Environment: default" in note and "Release: 6.5.0" in note
    # Kept: nothing more is written once the release has baked.
    e2e.stays("no further commit", lambda: e2e.head() == commit.sha, RESYNC)
    assert e2e.note(commit.sha) == note  # recorded once
    e2e.check_history_intact()


def test_bad_release_is_reverted_and_quarantined(e2e: E2E) -> None:
    e2e.set_rollout_spec("podinfo", bakeTime="3s")
    e2e.start_daemon()
    e2e.offer("6.5.0")
    e2e.wait_until("6.5.0 to bake", lambda: released(e2e, "6.5.0"))

    e2e.offer("6.6.0")
    e2e.wait_until("6.6.0 to start baking", lambda: tag_of(e2e.newest().get("version")) == "6.6.0"
                   and e2e.newest().get("bakeStatus") == "InProgress"
                   and e2e.newest().get("bakeStartTime"))
    e2e.health("podinfo-error-rate", "Unhealthy", "error rate 7.2% > 5%")

    reverts = e2e.wait_until("the revert", lambda: e2e.reconciler_commits(action="revert"))
    [release] = e2e.reconciler_commits(action="release", release="6.6.0")
    [revert] = reverts
    assert revert.subject == 'Revert "podinfo: 6.5.0 -> 6.6.0"'
    assert f"This reverts commit {release.sha}." in revert.body
    assert revert.parents == [release.sha]
    assert revert.trailers["Reverts"] == release.sha
    assert revert.trailers["Release"] == "6.5.0"
    assert revert.trailers["Previous-Release"] == "6.6.0"
    assert "podinfo-error-rate" in revert.trailers["Reason"]
    assert e2e.file(APPS) == e2e.file(APPS, e2e.initial).replace(b'"6.4.0"', b'"6.5.0"')
    e2e.wait_until("a ReleaseReverted Event", lambda: e2e.events("ReleaseReverted"))

    # The check recovers and the ImagePolicy keeps offering 6.6.0: quarantined,
    # it is never written again, and the status says why.
    e2e.health("podinfo-error-rate", "Healthy", "within objectives")
    e2e.emulator.set_status("image.toolkit.fluxcd.io/v1", "ImagePolicy", namespace="apps",
                            name="podinfo", status={"latestRef": {"tag": "6.6.0",
                                                                  "digest": "sha256:0"}})
    e2e.stays("no new commit", lambda: e2e.head() == revert.sha, 2.5 * RESYNC)
    ready = e2e.condition("Ready")
    assert "6.6.0" in ready["message"] and "quarantined" in ready["message"], ready
    status = e2e.status()
    assert status["currentVersion"] == "6.5.0"
    assert {"tag": "6.6.0", "digest": "sha256:0"} in status["availableReleases"]
    failed = next(h for h in status["history"] if h.get("commit") == release.sha)
    assert failed["bakeStatus"] == "Failed", failed
    assert failed["failedHealthChecks"] == [
        {"name": "podinfo-error-rate", "namespace": "apps"}], failed
    assert failed["version"] == {"tag": "6.6.0", "digest": "sha256:0"}, failed
    # git says it too: a Failed verdict naming the HealthCheck, on the release commit.
    note = e2e.wait_until("the Failed verdict in git", lambda: e2e.note(release.sha))
    assert "Bake: Failed" in note and "Release: 6.6.0" in note, note
    assert "Failed-HealthCheck: apps/podinfo-error-rate: error rate 7.2% > 5%" in note, note
    bake_failed = e2e.events("BakeFailed")
    assert bake_failed and all("podinfo-error-rate" in e["message"] for e in bake_failed)
    e2e.check_history_intact()


def test_deploy_timeout_reverts(e2e: E2E) -> None:
    e2e.flux.paused = True  # Flux never applies anything from now on
    e2e.start_daemon()
    e2e.offer("6.5.0")

    [release] = e2e.wait_until("the release commit",
                               lambda: e2e.reconciler_commits(action="release"))
    e2e.wait_until("the Deploying status", lambda: e2e.newest().get("bakeStatus")
                   == "Deploying")
    [revert] = e2e.wait_until("the revert", lambda: e2e.reconciler_commits(action="revert"))

    assert release.subject == "podinfo: 6.4.0 -> 6.5.0"
    assert revert.subject == 'Revert "podinfo: 6.4.0 -> 6.5.0"'
    assert revert.trailers["Reverts"] == release.sha
    assert "not applied by Flux" in revert.trailers["Reason"]
    assert e2e.file(APPS) == e2e.file(APPS, e2e.initial)
    events = e2e.wait_until("a DeployTimeout Event", lambda: e2e.events("DeployTimeout"))
    assert all("not applied by Flux" in e["message"] for e in events)
    entry = e2e.wait_until("the failed release in the history", lambda: next(
        (h for h in e2e.status().get("history", []) if h.get("commit") == release.sha
         and h.get("bakeStatus") == "Failed"), None))
    assert "not applied by Flux" in entry["bakeStatusMessage"], entry
    e2e.check_history_intact()


def test_gate_blocks_then_opens(e2e: E2E) -> None:
    e2e.gate("podinfo-freeze", passing=False)
    e2e.start_daemon()
    e2e.offer("6.5.0")

    e2e.wait_until("GateBlocked with 6.5.0 seen", lambda: e2e.condition("Ready").get(
        "reason") == "GateBlocked" and "6.5.0" in e2e.releases())
    assert "podinfo-freeze" in e2e.condition("Ready")["message"]
    assert e2e.status()["phase"] == "blocked"
    e2e.stays("nothing released", lambda: e2e.head() == e2e.initial, RESYNC)

    e2e.gate("podinfo-freeze", passing=True)
    [release] = e2e.wait_until("the release", lambda: e2e.reconciler_commits(
        action="release", release="6.5.0"))
    assert release.parents == [e2e.initial]
    e2e.check_history_intact()


def test_manual_rollback_is_respected(e2e: E2E) -> None:
    e2e.start_daemon()
    e2e.offer("6.5.0")
    e2e.wait_until("6.5.0 to bake", lambda: released(e2e, "6.5.0"))

    # A person rolls back by hand: a commit without trailers, straight to the remote.
    manual = e2e.human_commit(
        {APPS: e2e.file(APPS).replace(b'"6.5.0"', b'"6.4.0"')},
        "Roll podinfo back to 6.4.0 while we look at the latency")

    e2e.wait_until("the hold", lambda: e2e.status().get("phase") == "held")
    ready = e2e.condition("Ready")
    assert ready["reason"] == "HeldByManualChange"
    assert "reconciler release apps/podinfo <tag> --push" in ready["message"]
    assert f"in commit {manual[:12]} by Test Human" in ready["message"], ready
    assert e2e.status()["hold"]["version"] == "6.4.0"
    e2e.wait_until("a HeldByManualChange Event", lambda: e2e.events("HeldByManualChange"))

    e2e.offer("6.6.0")
    e2e.wait_until("6.6.0 to be seen", lambda: "6.6.0" in e2e.releases())
    e2e.stays("nothing written while held", lambda: e2e.head() == manual, 2.5 * RESYNC)
    assert e2e.status()["phase"] == "held"

    adopt = e2e.cli("release", "apps/podinfo", "6.4.0", "--push")
    assert adopt.returncode == 0, adopt.stderr
    [adopted] = e2e.reconciler_commits(release="6.4.0")
    assert adopted.subject == "podinfo: adopt 6.4.0 (set by hand)"
    assert adopted.parents == [manual]

    [release] = e2e.wait_until("6.6.0 to be released", lambda: e2e.reconciler_commits(
        action="release", release="6.6.0"))
    assert release.trailers["Previous-Release"] == "6.4.0"
    assert b'"6.6.0"' in e2e.file(APPS, release.sha)
    e2e.check_history_intact()


def test_kill_and_restart_mid_bake_resumes(e2e: E2E) -> None:
    e2e.set_rollout_spec("podinfo", bakeTime="6s")
    first = e2e.start_daemon()
    e2e.offer("6.5.0")
    baking = e2e.wait_until("6.5.0 to start baking", lambda: (
        e2e.newest() if e2e.newest().get("bakeStatus") == "InProgress"
        and e2e.newest().get("bakeStartTime") else {}))

    assert first.kill() == -9
    assert e2e.newest()["bakeStatus"] == "InProgress"  # killed mid-bake
    e2e.start_daemon()
    e2e.wait_until("6.5.0 to bake", lambda: released(e2e, "6.5.0"))

    [commit] = e2e.reconciler_commits()
    assert commit.trailers["Release"] == "6.5.0"
    entry = e2e.newest()
    assert entry["commit"] == commit.sha
    assert entry["bakeStartTime"] == baking["bakeStartTime"]  # resumed, not restarted
    assert bake_seconds(entry) >= 6
    e2e.check_history_intact()


def test_invalid_rollout_spec_stalls_only_that_rollout(e2e: E2E) -> None:
    e2e.set_rollout_spec("frontend", maxBump="huge")
    e2e.start_daemon()
    e2e.offer("6.5.0")

    stalled = e2e.wait_until("frontend to stall", lambda: (
        e2e.condition("Stalled", "frontend")
        if e2e.condition("Stalled", "frontend").get("status") == "True" else {}))
    assert stalled["reason"] == "InvalidSpec"
    assert "spec.maxBump" in stalled["message"]
    assert e2e.condition("Ready", "frontend")["status"] == "False"

    e2e.wait_until("podinfo to be released", lambda: e2e.reconciler_commits(
        action="release", release="6.5.0"))
    assert not [c for c in e2e.commits() if c.trailers.get("Rollout") == "apps/frontend"]
    e2e.check_history_intact()


def test_sigterm_exits_cleanly(e2e: E2E) -> None:
    daemon = e2e.start_daemon()
    e2e.wait_until("the daemon to write podinfo's status",
                   lambda: e2e.condition("Ready").get("reason") == "UpToDate")

    started = time.monotonic()
    code = daemon.terminate(timeout=10)
    elapsed = time.monotonic() - started

    assert code == 0, f"exit code {code}"
    assert elapsed < 5, f"took {elapsed:.1f}s to exit"
    assert "daemon stopped" in daemon.log()


def test_failed_release_stays_failed_when_the_watch_lags(e2e: E2E) -> None:
    """The API server's Rollout watch hiccups just as a deploy timeout reverts a
    release: the record of the failure must not be overwritten from a stale cache."""
    e2e.flux.paused = True
    e2e.start_daemon()
    e2e.offer("6.5.0")
    [release] = e2e.wait_until("the release commit",
                               lambda: e2e.reconciler_commits(action="release"))
    e2e.wait_until("the Deploying status", lambda: e2e.newest().get("commit") == release.sha
                   and e2e.newest().get("bakeStatus") == "Deploying")

    # One second before the deploy deadline, cut the watches; the Rollout watch then
    # fails four reconnects (at least 2.4 s of backoff), so the daemon's copy of the
    # Rollout still says Deploying when the revert is written.
    deadline = release.time + int(DEPLOY_TIMEOUT.rstrip("s"))
    e2e.wait_until("a second before the deadline", lambda: time.time() >= deadline - 1.0)
    before = e2e.rollout()["metadata"]["resourceVersion"]
    cut = time.monotonic()
    e2e.emulator.fail_next(500, verb="watch", path="/v1alpha1/rollouts", times=4)
    e2e.emulator.drop_watches()

    [revert] = e2e.wait_until("the revert", lambda: e2e.reconciler_commits(action="revert"))
    e2e.wait_until("the Rollout watch to be back", lambda: e2e.emulator.count(
        verb="watch", path="/v1alpha1/rollouts", since=cut) >= 5)
    e2e.wait_until("the revert in the status", lambda: e2e.newest().get("commit")
                   == revert.sha and e2e.status().get("phase") == "blocked")
    e2e.stays("no new commit", lambda: e2e.head() == revert.sha, RESYNC)

    # Every status the daemon wrote since the cut: once the release is recorded as
    # Failed, no later write may say otherwise.
    states = [next((h.get("bakeStatus") for h in (obj.get("status") or {}).get("history", [])
                    if h.get("commit") == release.sha), None)
              for obj in e2e.rollout_writes(since=before)]
    assert "Failed" in states, states
    assert set(states[states.index("Failed"):]) == {"Failed"}, states
    failed = e2e.entry("6.5.0")
    assert "not applied by Flux" in failed["bakeStatusMessage"]
