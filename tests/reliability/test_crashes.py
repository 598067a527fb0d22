"""Crashes: the daemon killed with SIGKILL at each step boundary, then started again.

Every run plays the same story against the end-to-end world (tests/e2e/conftest.py):
the ImagePolicy offers 6.5.0, which is released, applied, baked and kept; then
6.6.0, which is released and goes Unhealthy while baking, so it is reverted and
quarantined. The daemon runs with ``RECONCILER_FAULT_POINT`` naming one step
boundary (reconciler/engine/faults.py): when it reaches it, it kills itself with
SIGKILL, no cleanup at all. The story's driver notices, starts a fresh daemon
without the fault on the same mirror, and carries on.

Afterwards the end state must be the one an uninterrupted run reaches
(``test_uninterrupted_story`` pins it): the same commits, each exactly once, the
same status history, the same Ready reason; nothing force-pushed, nothing lost.
The default run kills each point once; ``--runslow`` kills at the second
occurrence too, and at every point in a row in one run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from reconciler.core.status import tag_of
from reconciler.engine import faults
from tests.e2e.conftest import E2E, RESYNC, WAIT, DaemonProcess

T = TypeVar("T")

LEASE_API = "coordination.k8s.io/v1"
LEADER_FLAGS = ("--leader-elect", "--leader-election-timings", "3,2,0.3")

# The end state of the story, as an uninterrupted run reaches it (oldest commit first;
# status history newest first).
EXPECTED: dict[str, Any] = {
    "commits": [("release", "6.5.0", "6.4.0"), ("release", "6.6.0", "6.5.0"),
                ("revert", "6.5.0", "6.6.0")],
    "current": "6.5.0",
    "history": [("6.5.0", "revert", None), ("6.6.0", "release", "Failed"),
                ("6.5.0", "release", "Succeeded")],
    "ready": "SelectionBlocked",  # 6.6.0 is still offered, and quarantined
}


def signature(e2e: E2E) -> dict[str, Any]:
    """What a person would compare between two runs: commits by their trailers, the
    Rollout's status history and Ready reason (commit ids and times differ)."""
    commits = [(c.action, c.trailers.get("Release"), c.trailers.get("Previous-Release"))
               for c in reversed(e2e.reconciler_commits())]
    status = e2e.status()
    history = [(tag_of(h.get("version")), h.get("action"), h.get("bakeStatus"))
               for h in status.get("history") or [] if isinstance(h, dict)]
    return {"commits": commits, "current": status.get("currentVersion"),
            "history": history, "ready": e2e.condition("Ready").get("reason")}


class Story:
    """Drives the story; replaces a daemon that a fault point killed."""

    def __init__(self, e2e: E2E, *, faults_in_order: list[str], flags: tuple[str, ...] = ()
                 ) -> None:
        self.e2e = e2e
        self.pending = list(faults_in_order)
        self.flags = flags
        self.killed: list[str] = []
        self.daemon = self._start()

    def _start(self) -> DaemonProcess:
        env = {faults.ENV: self.pending[0]} if self.pending else {}
        return self.e2e.start_daemon(*self.flags, env=env)

    def _check(self) -> None:
        if self.daemon.running():
            return
        code = self.daemon.proc.returncode
        assert code == -9 and self.pending, (
            f"the daemon exited with {code} with no fault pending:\n{self.daemon.log()}")
        point = self.pending.pop(0)
        assert f"fault point {point.split(':')[0]!r} reached" in self.daemon.log()
        self.killed.append(point)
        self.daemon = self._start()

    def wait(self, what: str, check: Callable[[], T], timeout: float = WAIT) -> T:
        deadline = time.monotonic() + timeout
        while True:
            self._check()
            value = check()
            if value:
                return value
            assert time.monotonic() < deadline, (
                f"gave up after {timeout:.0f}s waiting for {what}; killed at {self.killed}; "
                f"status: {self.e2e.status()!r}")
            time.sleep(0.1)

    def play(self) -> None:
        e2e = self.e2e
        e2e.offer("6.5.0")
        self.wait("6.5.0 to bake", lambda: newest_is(e2e, "6.5.0", "Succeeded"))
        e2e.offer("6.6.0")
        self.wait("6.6.0 to start baking", lambda: newest_is(e2e, "6.6.0", "InProgress")
                  and e2e.newest().get("bakeStartTime"))
        e2e.health("podinfo-error-rate", "Unhealthy", "error rate 7.2% > 5%")
        self.wait("the revert and the Failed status", lambda: (
            e2e.reconciler_commits(action="revert")
            and signature(e2e)["history"] == EXPECTED["history"]
            and e2e.condition("Ready").get("reason") == EXPECTED["ready"]))
        e2e.health("podinfo-error-rate", "Healthy", "within objectives")
        head = e2e.head()
        deadline = time.monotonic() + 2.5 * RESYNC  # quarantined: nothing more is written
        while time.monotonic() < deadline:
            self._check()
            assert e2e.head() == head, "a commit after the revert"
            time.sleep(0.1)


def newest_is(e2e: E2E, version: str, bake_status: str) -> bool:
    entry = e2e.newest()
    return tag_of(entry.get("version")) == version and entry.get("bakeStatus") == bake_status


def play(e2e: E2E, *points: str, flags: tuple[str, ...] = ()) -> Story:
    e2e.set_rollout_spec("podinfo", bakeTime="4s")
    story = Story(e2e, faults_in_order=list(points), flags=flags)
    story.play()
    return story


@pytest.mark.slow  # EXPECTED pins its end state; every kill test compares against it
def test_uninterrupted_story(e2e: E2E) -> None:
    story = play(e2e)
    assert story.killed == []
    assert signature(e2e) == EXPECTED
    e2e.check_history_intact()


# The default run kills at the two points that leave a commit on the remote; the
# "built" points (a commit only in the local mirror) and bake-started (which
# tests/e2e/test_daemon.py's kill mid-bake also covers) run with --runslow, to keep
# the default test run under ten minutes.
# The default run keeps one boundary (revert-pushed); a kill mid-bake is also in
# tests/e2e/test_daemon.py. The other points are the heavier variant.
POINTS = [pytest.param("release-built", marks=pytest.mark.slow),
          pytest.param("release-pushed", marks=pytest.mark.slow),
          pytest.param("bake-started", marks=pytest.mark.slow),
          pytest.param("revert-built", marks=pytest.mark.slow), "revert-pushed"]


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_a_step_boundary(e2e: E2E, point: str) -> None:
    story = play(e2e, point)
    assert story.killed == [point], f"the fault point {point} was never reached"
    assert signature(e2e) == EXPECTED
    e2e.check_history_intact()


@pytest.mark.slow
@pytest.mark.parametrize("point", ["release-built:2", "release-pushed:2", "bake-started:2"])
def test_killed_at_the_second_release(e2e: E2E, point: str) -> None:
    """The same points on 6.6.0, the release that will be reverted."""
    story = play(e2e, point)
    assert story.killed == [point]
    assert signature(e2e) == EXPECTED
    e2e.check_history_intact()


@pytest.mark.slow
def test_killed_at_every_point_in_one_run(e2e: E2E) -> None:
    """One kill after another: each replacement daemon carries the next fault."""
    points = ["release-built", "release-pushed", "bake-started", "release-built",
              "release-pushed", "revert-built", "revert-pushed"]
    story = play(e2e, *points)
    assert story.killed == points
    assert signature(e2e) == EXPECTED
    e2e.check_history_intact()


def holder(e2e: E2E) -> str:
    lease = e2e.emulator.get_object(LEASE_API, "Lease", namespace="reconciler-system",
                                    name="reconciler-leader")
    return ((lease or {}).get("spec") or {}).get("holderIdentity") or ""


# A leader killed mid-bake is in the default run (tests/e2e/test_cluster_surface.py).
@pytest.mark.slow
def test_killed_during_leader_hand_over(e2e: E2E) -> None:
    """The leader dies mid-bake; the standby wins the Lease and dies at once, before its
    first reconcile; a third replica takes over and finishes, with one commit and the
    bake resumed (not restarted)."""
    e2e.set_rollout_spec("podinfo", bakeTime="6s")
    leader = e2e.start_daemon(*LEADER_FLAGS, cache_dir=e2e.tmp / "cache-a")
    e2e.wait_until("a leader", lambda: holder(e2e).endswith(f"-{leader.pid}"))
    standby = e2e.start_daemon(*LEADER_FLAGS, cache_dir=e2e.tmp / "cache-b",
                               env={faults.ENV: "lease-acquired"})
    e2e.offer("6.5.0")
    e2e.wait_until("6.5.0 baking", lambda: newest_is(e2e, "6.5.0", "InProgress")
                   and e2e.newest().get("bakeStartTime"))
    bake_start = e2e.newest()["bakeStartTime"]

    assert leader.kill() == -9
    deadline = time.monotonic() + WAIT
    while standby.running():
        assert time.monotonic() < deadline, "the standby never won the Lease"
        time.sleep(0.1)
    assert standby.proc.returncode == -9
    assert "fault point 'lease-acquired' reached" in standby.log()
    assert newest_is(e2e, "6.5.0", "InProgress")  # nobody finished it in between

    third = e2e.start_daemon(*LEADER_FLAGS, cache_dir=e2e.tmp / "cache-c")
    e2e.wait_until("the third replica to lead", lambda: holder(e2e).endswith(f"-{third.pid}"))
    e2e.wait_until("6.5.0 to bake", lambda: newest_is(e2e, "6.5.0", "Succeeded"))
    assert e2e.newest()["bakeStartTime"] == bake_start
    releases = e2e.reconciler_commits(action="release")
    assert [c.trailers["Release"] for c in releases] == ["6.5.0"]
    e2e.check_history_intact()
