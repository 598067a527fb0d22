"""End-to-end: canary steps as git commits, with the daemon as a process.

The podinfo Kustomization of sample-repo gets the three canary targets (a person's
commit: the canary's version, its weight and the stable weight) and the Rollout
three steps of 1 s. FakeFlux applies every commit, so each step waits for a real
apply before its bake. Checked byte for byte: the file after every commit. The
default run has the three-step canary baked to promotion; a failure at step 2 and
a SIGKILL mid-step are slow.
"""

from __future__ import annotations

import itertools

import pytest

from tests.e2e.conftest import APPS, E2E, RESYNC

STEPS = [{"weight": 10, "bakeTime": "1s"}, {"weight": 50, "bakeTime": "1s"},
         {"weight": 80, "bakeTime": "1s"}]
ROLLOUT = "apps/podinfo/rollout.yaml"

ANNOTATIONS = b"""    rollout.kuberik.com/substitute.PODINFO_UI_TAG.from: apps/podinfo
"""
CANARY_ANNOTATIONS = ANNOTATIONS + b"""\
    rollout.kuberik.com/canary-substitute.PODINFO_CANARY_VERSION.from: apps/podinfo
    rollout.kuberik.com/canary-weight.PODINFO_CANARY_WEIGHT.from: apps/podinfo
    rollout.kuberik.com/stable-weight.PODINFO_STABLE_WEIGHT.from: apps/podinfo
"""
SUBSTITUTES = b"""      PODINFO_REPLICAS: "2"
"""
CANARY_SUBSTITUTES = SUBSTITUTES + b"""      PODINFO_CANARY_VERSION: "6.4.0"
      PODINFO_CANARY_WEIGHT: "0"
      PODINFO_STABLE_WEIGHT: "100"
"""


def apps(start: bytes, *, stable: str = "6.4.0", canary: str = "6.4.0",
         weight: int = 0) -> bytes:
    """clusters/production/apps.yaml as it must read, byte for byte: ``start`` (the file
    after the person's set-up commit) with the given values."""
    text = start.replace(b'PODINFO_VERSION: "6.4.0"', f'PODINFO_VERSION: "{stable}"'.encode())
    text = text.replace(b'PODINFO_UI_TAG: "6.4.0"', f'PODINFO_UI_TAG: "{stable}"'.encode())
    text = text.replace(b'PODINFO_CANARY_VERSION: "6.4.0"',
                        f'PODINFO_CANARY_VERSION: "{canary}"'.encode())
    text = text.replace(b'PODINFO_CANARY_WEIGHT: "0"', f'PODINFO_CANARY_WEIGHT: "{weight}"'
                        .encode())
    return text.replace(b'PODINFO_STABLE_WEIGHT: "100"',
                        f'PODINFO_STABLE_WEIGHT: "{100 - weight}"'.encode())


def canary_setup(e2e: E2E) -> str:
    """A person's commit: the canary targets and spec.steps (in git and the cluster)."""
    original = e2e.file(APPS)
    assert original.count(ANNOTATIONS) == 1 and original.count(SUBSTITUTES) == 1
    start = original.replace(ANNOTATIONS, CANARY_ANNOTATIONS).replace(
        SUBSTITUTES, CANARY_SUBSTITUTES)
    rollout = e2e.file(ROLLOUT).replace(b"  bakeTime: 5m ", b"  bakeTime: 2s ")
    steps = b"".join(f"    - weight: {s['weight']}\n      bakeTime: {s['bakeTime']}\n".encode()
                     for s in STEPS)
    rollout = rollout.replace(b"  deployTimeout: 5m\n",
                              b"  deployTimeout: 5m\n  steps:\n" + steps)
    sha = e2e.human_commit({APPS: start, ROLLOUT: rollout}, "podinfo: canary targets")
    e2e.set_rollout_spec("podinfo", steps=STEPS, deployTimeout="10s")
    return sha


def test_three_step_canary_is_baked_to_promotion(e2e: E2E) -> None:
    setup = canary_setup(e2e)
    e2e.start_daemon()
    e2e.offer("6.5.0")
    e2e.wait_until("the promotion to bake", lambda: e2e.newest().get("action") == "promote"
                   and e2e.newest().get("bakeStatus") == "Succeeded", timeout=60)

    commits = list(reversed(e2e.reconciler_commits()))
    assert [(c.action, c.trailers.get("Step"), c.trailers.get("Weight")) for c in commits] == [
        ("step", "1/3", "10"), ("step", "2/3", "50"), ("step", "3/3", "80"),
        ("promote", None, "0")]
    assert commits[0].parents == [setup]
    for before, after in itertools.pairwise(commits):
        assert after.parents == [before.sha]  # one commit per stage, none written twice
    for c in commits:
        assert c.trailers["Release"] == "6.5.0" and c.trailers["Previous-Release"] == "6.4.0"
        assert c.trailers["Rollout"] == "apps/podinfo"
    assert commits[0].subject == "podinfo: canary 6.5.0 step 1/3 at 10%"
    start = e2e.file(APPS, setup)
    assert [e2e.file(APPS, c.sha) for c in commits] == [
        apps(start, canary="6.5.0", weight=10), apps(start, canary="6.5.0", weight=50),
        apps(start, canary="6.5.0", weight=80),
        apps(start, stable="6.5.0", canary="6.5.0", weight=0)]
    # The rest of the file never moved: the substitutes are the only bytes that changed.
    assert apps(start) == start
    history = e2e.status()["history"]
    by_commit = {h["commit"]: h for h in history}
    assert [by_commit[c.sha].get("step") for c in commits] == ["1/3", "2/3", "3/3", None]
    assert [by_commit[c.sha]["weight"] for c in commits] == [10, 50, 80, 0]
    assert all(by_commit[c.sha]["bakeStatus"] == "Succeeded" for c in commits)
    assert e2e.status()["currentVersion"] == "6.5.0"
    # Only the promotion's bake is the release's verdict in git.
    e2e.wait_until("the verdict in git", lambda: "Bake: Succeeded" in e2e.note(commits[-1].sha))
    assert not any(e2e.note(c.sha) for c in commits[:-1])
    e2e.check_history_intact()



@pytest.mark.slow  # ~10-20 s; kept out of the default run to hold it under ten minutes
def test_a_step_held_for_approval_stays_at_its_weight_until_approved(e2e: E2E) -> None:
    # steps[1].approval: manual. The held step's bake is over and kept in the status;
    # every reconcile while it waits (resyncs, the status write's own watch event)
    # must leave git alone: no second step 1, no step 2.
    canary_setup(e2e)
    e2e.set_rollout_spec("podinfo", steps=[STEPS[0], {**STEPS[1], "approval": "manual"},
                                           STEPS[2]], deployTimeout="10s")
    e2e.start_daemon()
    e2e.offer("6.5.0")
    ready = e2e.wait_until("step 2 to wait for its approval", lambda: (
        c := e2e.condition("Ready")).get("reason") == "AwaitingApproval" and c, timeout=60)
    assert "step 2 of 6.5.0 waits for a person's approval" in ready["message"]
    [one] = e2e.reconciler_commits()
    e2e.stays("step 1 alone in git, held at 10%", lambda: e2e.reconciler_commits() == [one]
              and e2e.condition("Ready").get("reason") == "AwaitingApproval", 3 * RESYNC)

    done = e2e.cli("approve", "apps/podinfo", "6.5.0", "--step", "2", "--by", "Ana")
    assert done.returncode == 0, done.stderr
    e2e.wait_until("the promotion to bake", lambda: e2e.newest().get("action") == "promote"
                   and e2e.newest().get("bakeStatus") == "Succeeded", timeout=60)
    assert [(c.action, c.trailers.get("Step")) for c in reversed(e2e.reconciler_commits())
            ] == [("step", "1/3"), ("step", "2/3"), ("step", "3/3"), ("promote", None)]
    e2e.check_history_intact()


@pytest.mark.slow
def test_failure_at_step_two_reverts_the_canary_in_one_commit(e2e: E2E) -> None:
    setup = canary_setup(e2e)
    e2e.set_rollout_spec("podinfo", steps=[STEPS[0], {"weight": 50, "bakeTime": "30s"},
                                           STEPS[2]], deployTimeout="10s")
    e2e.start_daemon()
    e2e.offer("6.5.0")
    e2e.wait_until("step 2 to bake", lambda: e2e.newest().get("step") == "2/3"
                   and e2e.newest().get("bakeStatus") == "InProgress"
                   and e2e.newest().get("bakeStartTime"), timeout=60)
    e2e.health("podinfo-error-rate", "Unhealthy", "error rate 7.2% > 5%")
    [revert] = e2e.wait_until("the revert", lambda: e2e.reconciler_commits(action="revert"))

    commits = list(reversed(e2e.reconciler_commits()))
    assert [(c.action, c.trailers.get("Step")) for c in commits] == [
        ("step", "1/3"), ("step", "2/3"), ("revert", None)]
    assert revert.subject == 'Revert "podinfo: canary 6.5.0 step 2/3 at 50%"'
    assert revert.trailers["Reverts"] == commits[1].sha
    assert revert.trailers["Release"] == "6.4.0"
    assert revert.trailers["Previous-Release"] == "6.5.0"
    assert e2e.file(APPS, revert.sha) == e2e.file(APPS, setup)  # canary and weights back
    for c in commits:  # the stable value never changed
        assert b'PODINFO_VERSION: "6.4.0"   # written by reconciler' in e2e.file(APPS, c.sha)
    e2e.health("podinfo-error-rate", "Healthy", "within objectives")
    ready = e2e.wait_until("the quarantine", lambda: "quarantined" in (
        c := e2e.condition("Ready")).get("message", "") and c)
    assert "6.5.0" in ready["message"]
    e2e.stays("no new commit", lambda: e2e.head() == revert.sha, 3)
    e2e.check_history_intact()


@pytest.mark.slow
def test_sigkill_mid_step_resumes_without_a_duplicate_commit(e2e: E2E) -> None:
    canary_setup(e2e)
    e2e.set_rollout_spec("podinfo", steps=[STEPS[0], {"weight": 50, "bakeTime": "4s"},
                                           STEPS[2]], deployTimeout="10s")
    first = e2e.start_daemon()
    e2e.offer("6.5.0")
    baking = e2e.wait_until("step 2 to bake", lambda: (
        e2e.newest() if e2e.newest().get("step") == "2/3"
        and e2e.newest().get("bakeStatus") == "InProgress"
        and e2e.newest().get("bakeStartTime") else {}), timeout=60)
    assert first.kill() == -9
    e2e.start_daemon()
    e2e.wait_until("the promotion to bake", lambda: e2e.newest().get("action") == "promote"
                   and e2e.newest().get("bakeStatus") == "Succeeded", timeout=60)
    commits = list(reversed(e2e.reconciler_commits()))
    assert [(c.action, c.trailers.get("Step")) for c in commits] == [
        ("step", "1/3"), ("step", "2/3"), ("step", "3/3"), ("promote", None)]
    entry = next(h for h in e2e.status()["history"] if h.get("step") == "2/3")
    assert entry["bakeStartTime"] == baking["bakeStartTime"]  # resumed, not restarted
    e2e.check_history_intact()
