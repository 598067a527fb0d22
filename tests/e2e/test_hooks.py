"""End-to-end: test hooks and approvals with the daemon as a process.

The hooks are served by a loopback receiver in the test (tests/support/hookserver.py),
the daemon signs its calls with ``--hook-secret-file``. A ``pre-rollout`` hook that
answers 500 blocks the release with the reason, then 200 lets it be written; a
``rollout`` hook failing mid-bake gives one revert whose reason names the hook, and
the ``rollback`` hook hears of it; a release of a Rollout with ``spec.approval:
manual`` waits (AwaitingApproval) until ``reconciler approve`` runs as a process, and
the note in git says who approved.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.core import hooks
from tests.e2e.conftest import E2E, RESYNC
from tests.support.hookserver import HookServer

SECRET = b"hook-signing-secret-for-e2e"


@pytest.fixture
def receiver() -> Iterator[HookServer]:
    server = HookServer([200]).start()
    yield server
    server.stop()


def start(e2e: E2E) -> None:
    secret = e2e.tmp / "hook-secret"
    secret.write_bytes(SECRET + b"\n")
    e2e.start_daemon("--hook-secret-file", str(secret))


def reason(e2e: E2E) -> str:
    return str(e2e.condition("Ready").get("reason"))


def test_a_pre_rollout_hook_answering_500_blocks_the_release_then_200_lets_it_through(
        e2e: E2E, receiver: HookServer) -> None:
    # Two 500s: the block lasts the first retry (1 s) and the next (2 s more), long
    # enough to be seen; with one, a fast machine's retry cleared it within a poll.
    receiver.script(500, 500, 200)
    e2e.set_rollout_spec("podinfo", hooks=[{
        "name": "smoke", "type": "pre-rollout", "url": f"{receiver.url}/smoke",
        "timeout": "20s", "metadata": {"suite": "smoke"}}])
    start(e2e)
    e2e.wait_until("the daemon to report", lambda: e2e.condition("Ready").get("reason"))
    e2e.offer("6.5.0")

    ready = e2e.wait_until("PreRolloutHookFailed", lambda: (
        c := e2e.condition("Ready")).get("reason") == "PreRolloutHookFailed" and c)
    assert ready["message"].startswith(
        "6.5.0 is blocked: pre-rollout hook smoke answered HTTP 500: answer 500; asking again")
    # (Not "no commit yet": the retry, 1 s later, may already have passed on a loaded
    # machine. The calls below say the release waited for the 200.)
    [release] = e2e.wait_until("the release of 6.5.0", lambda: e2e.reconciler_commits(
        action="release", release="6.5.0"))

    calls = receiver.received("/smoke")
    assert [c.status for c in calls] == [500, 500, 200], \
        "released without the 200, or a passed hook called again"
    assert calls[-1].at <= release.time + 1
    for call in calls:
        assert hooks.verify(SECRET, call.body, call.headers["X-Signature"])
        assert call.json() == {"name": "podinfo", "namespace": "apps", "phase": "Progressing",
                               "release": "6.5.0", "previous": "6.4.0", "step": None,
                               "metadata": {"suite": "smoke"}}
    failed = e2e.events("HookFailed")
    assert failed and all("pre-rollout hook smoke answered HTTP 500" in f["message"]
                          for f in failed)
    assert e2e.events("HookPassed")
    # The status is written after the push, on the same pass or the next.
    entry = e2e.wait_until("the passed hook in the status", lambda: next(
        (h for h in e2e.status().get("hooks") or []
         if h["name"] == "smoke" and h["result"] == "Succeeded"), None))
    assert (entry["type"], entry["release"], entry["code"]) == ("pre-rollout", "6.5.0", 200)
    assert [h["name"] for h in e2e.status()["hooks"]] == ["smoke"]  # one entry per hook
    e2e.check_history_intact()


def test_a_rollout_hook_failing_mid_bake_reverts_once_naming_the_hook(
        e2e: E2E, receiver: HookServer) -> None:
    receiver.script(200, 500)  # passes at the bake's start, fails a second later
    e2e.set_rollout_spec("podinfo", bakeTime="10s", hooks=[
        {"name": "load-test", "type": "rollout", "url": f"{receiver.url}/load",
         "interval": "1s", "timeout": "20s"},
        {"name": "tell", "type": "rollback", "url": f"{receiver.url}/rollback"}])
    start(e2e)
    e2e.offer("6.5.0")

    [release] = e2e.wait_until("the release", lambda: e2e.reconciler_commits(
        action="release", release="6.5.0"))
    [revert] = e2e.wait_until("the revert", lambda: e2e.reconciler_commits(action="revert"))
    assert revert.trailers["Reverts"] == release.sha
    assert "hook load-test: rollout hook load-test answered HTTP 500" in revert.trailers["Reason"]
    assert len(receiver.received("/load")) == 2
    entry = e2e.wait_until("the failed bake", lambda: (
        e := e2e.entry("6.5.0")).get("bakeStatus") == "Failed" and e)
    assert "hook load-test" in entry["bakeStatusMessage"]
    [told] = e2e.wait_until("the rollback hook", lambda: receiver.received("/rollback"))
    assert told.json()["release"] == "6.5.0" and told.json()["previous"] == "6.4.0"
    assert told.json()["phase"] == "Failed"
    e2e.stays("no second revert", lambda: len(e2e.reconciler_commits(action="revert")) == 1,
              RESYNC)
    assert len(receiver.received("/rollback")) == 1
    e2e.check_history_intact()


def test_a_manual_approval_holds_the_release_until_reconciler_approve(
        e2e: E2E, tmp_path: Path) -> None:
    e2e.set_rollout_spec("podinfo", approval="manual")
    start(e2e)
    e2e.wait_until("the daemon to report", lambda: e2e.condition("Ready").get("reason"))
    e2e.offer("6.5.0")

    ready = e2e.wait_until("AwaitingApproval", lambda: (
        c := e2e.condition("Ready")).get("reason") == "AwaitingApproval" and c)
    assert ready["message"] == (
        f"6.5.0 waits for a person's approval (spec.approval: manual): run "
        f"`reconciler approve apps/podinfo 6.5.0 --repo {e2e.url}`")
    assert e2e.status()["phase"] == "wait"
    e2e.stays("the release held", lambda: not e2e.reconciler_commits(release="6.5.0"), RESYNC)
    assert len(e2e.events("AwaitingApproval")) == 1

    done = e2e.cli("approve", "apps/podinfo", "6.5.0", "--by", "Ana <ana@example.com>")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("apps/podinfo: approved 6.5.0 in default by Ana "
                                  "<ana@example.com>")
    [release] = e2e.wait_until("the release of 6.5.0", lambda: e2e.reconciler_commits(
        action="release", release="6.5.0"))
    assert release.parents == [e2e.initial]  # the approval is a note, not a commit
    note = e2e.note(e2e.initial)
    assert "Decision: Approved\nRollout: apps/podinfo\nRelease: 6.5.0\nEnvironment: default" \
        in note
    assert "By: Ana <ana@example.com>" in note
    again = e2e.cli("approve", "apps/podinfo", "6.5.0")
    assert again.returncode == 0 and "already approved" in again.stdout
    bad = e2e.cli("approve", "apps/nope", "6.5.0")
    assert bad.returncode == 2 and "no Rollout apps/nope" in bad.stderr
    e2e.check_history_intact()
