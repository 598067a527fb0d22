"""Leader election over a Lease, through the official client against the emulator."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.adapters import cluster as k8s
from reconciler.emulator.server import Emulator
from reconciler.engine.leader import LeaderElector


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as server:
        yield server


def connect(emulator: Emulator, tmp_path: Path, name: str) -> k8s.Cluster:
    return k8s.Cluster.connect(kubeconfig=emulator.write_kubeconfig(tmp_path / f"{name}.cfg"))


def wait(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def elector(cluster: k8s.Cluster, identity: str, events: list[str]) -> LeaderElector:
    return LeaderElector(cluster, namespace="reconciler-system", identity=identity,
                         lease_duration=1.5, renew_deadline=1.0, retry_period=0.1,
                         on_started=lambda: events.append(f"{identity} started"),
                         on_stopped=lambda: events.append(f"{identity} stopped"))


def test_one_leader_then_the_standby_takes_over_when_it_stops(
        emulator: Emulator, tmp_path: Path) -> None:
    events: list[str] = []
    a = elector(connect(emulator, tmp_path, "a"), "a", events)
    b = elector(connect(emulator, tmp_path, "b"), "b", events)
    a.start()
    wait(a.is_leader)
    b.start()
    time.sleep(0.5)
    assert a.is_leader() and not b.is_leader()
    lease = emulator.get_object("coordination.k8s.io/v1", "Lease",
                                namespace="reconciler-system", name="reconciler-leader")
    assert lease is not None and lease["spec"]["holderIdentity"] == "a"
    a.stop()  # releases the lease: the standby takes over without waiting for expiry
    wait(b.is_leader, timeout=3)
    b.stop()
    assert events == ["a started", "a stopped", "b started", "b stopped"]


def test_standby_takes_over_after_the_leader_dies_within_the_lease_duration(
        emulator: Emulator, tmp_path: Path) -> None:
    events: list[str] = []
    a = elector(connect(emulator, tmp_path, "a"), "a", events)
    b = elector(connect(emulator, tmp_path, "b"), "b", events)
    a.start()
    wait(a.is_leader)
    b.start()
    a._stop.set()  # the leader's process dies: no release, renewals just stop
    died = time.monotonic()
    wait(b.is_leader, timeout=5)
    assert time.monotonic() - died < 1.5 + 1.0  # lease duration plus retry slack
    b.stop()


def test_a_leader_that_cannot_renew_stops_before_its_lease_expires(
        emulator: Emulator, tmp_path: Path) -> None:
    events: list[str] = []
    a = elector(connect(emulator, tmp_path, "a"), "a", events)
    a.start()
    wait(a.is_leader)
    emulator.pause()  # the API server answers 503: renewals fail
    paused = time.monotonic()
    wait(lambda: not a.is_leader(), timeout=3)
    stopped_after = time.monotonic() - paused
    assert stopped_after < 1.5, "must stop leading before the 1.5 s lease can expire"
    emulator.resume()
    wait(a.is_leader, timeout=3)  # and leads again once the API server is back
    a.stop()
    assert events[:3] == ["a started", "a stopped", "a started"]


def test_a_standby_whose_clock_runs_ahead_does_not_take_a_live_lease(
        emulator: Emulator, tmp_path: Path) -> None:
    """Expiry is measured on the standby's own clock from when it saw the Lease
    change (client-go's rule), never by comparing the holder's renewTime with it."""
    events: list[str] = []
    a = elector(connect(emulator, tmp_path, "a"), "a", events)
    b = elector(connect(emulator, tmp_path, "b"), "b", events)
    b.wall = lambda: datetime.now(UTC) + timedelta(minutes=5)
    a.start()
    wait(a.is_leader)
    b.start()
    time.sleep(2 * 1.5)  # twice the lease duration
    assert a.is_leader() and not b.is_leader()
    assert events == ["a started"]
    a.stop()
    wait(b.is_leader, timeout=3)
    b.stop()
