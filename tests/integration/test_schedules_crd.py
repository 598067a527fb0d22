"""RolloutSchedule and ClusterRolloutSchedule against kuberik's own CRDs and ours, in
the API emulator (which enforces a CRD's structural schema like kube-apiserver):

* kuberik's sample schedules (tests/data/kuberik/schedule_samples.yaml) pass our
  CRD unchanged, validate in our models and evaluate;
* the status ``engine.schedules`` writes passes kuberik's CRD, nothing pruned, and
  is written only when it changes and only by the leader;
* our ``rrule``/``duration`` extension is kept by our CRD and pruned by kuberik's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from reconciler.adapters import cluster as k8s
from reconciler.core import schedulemodels, windows
from reconciler.emulator import Emulator
from reconciler.emulator.status import ApiError
from reconciler.engine.informers import Store
from reconciler.engine.routing import Router
from reconciler.engine.schedules import Schedules
from reconciler.engine.timers import Timers
from reconciler.interfaces import schemas

DATA = Path(__file__).parents[1] / "data" / "kuberik"
API = "kuberik.com/v1alpha1"
KINDS = ("RolloutSchedule", "ClusterRolloutSchedule")
MONDAY_11_NY = datetime(2026, 7, 20, 15, tzinfo=UTC)  # 11:00 in New York (EDT)


def load(path: Path) -> list[dict[str, Any]]:
    return [d for d in YAML(typ="safe").load_all(path.read_text("utf-8")) if d]


def kuberik_crd(plural: str) -> dict[str, Any]:
    [crd] = load(DATA / f"kuberik.com_{plural}.yaml")
    return crd


def our_crd(plural: str) -> dict[str, Any]:
    return next(schemas.crd(c) for c in schemas.CRDS if c.plural == plural)


def samples() -> list[dict[str, Any]]:
    return load(DATA / "schedule_samples.yaml")


def schedule_samples() -> list[dict[str, Any]]:
    found = [s for s in samples() if s["kind"] in KINDS]
    assert len(found) == 9  # two files both define production-peak-hours-deny
    return found


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


def test_kuberiks_samples_pass_our_crd_unchanged_and_evaluate(emulator: Emulator) -> None:
    for plural in ("rolloutschedules", "clusterrolloutschedules"):
        emulator.enforce(our_crd(plural))
    for obj in schedule_samples():
        stored = emulator.apply(obj)
        assert stored["spec"] == obj["spec"], obj["metadata"]["name"]
        assert schedulemodels.problems(obj) == []
        found = schedulemodels.schedule(obj)
        assert isinstance(found, windows.Schedule), found
        windows.state(found, MONDAY_11_NY)
    hours = next(s for s in schedule_samples() if s["metadata"]["name"] == "business-hours-allow")
    state = windows.state(schedulemodels.schedule(hours), MONDAY_11_NY)  # type: ignore[arg-type]
    assert state == windows.State(True, ("weekday-business-hours",),
                                  datetime(2026, 7, 20, 21, tzinfo=UTC),
                                  datetime(2026, 7, 20, 21, tzinfo=UTC))


def test_our_crd_keeps_rrule_and_refuses_what_kuberiks_refuses(emulator: Emulator) -> None:
    emulator.enforce(our_crd("rolloutschedules"))
    obj = {"apiVersion": API, "kind": "RolloutSchedule",
           "metadata": {"name": "saturdays", "namespace": "apps"},
           "spec": {"rolloutSelector": {}, "action": "Allow", "rules": [
               {"name": "morning", "rrule": "FREQ=WEEKLY;BYDAY=SA;BYHOUR=6", "duration": "4h"}]}}
    assert emulator.apply(obj)["spec"]["rules"][0]["rrule"] == "FREQ=WEEKLY;BYDAY=SA;BYHOUR=6"
    for bad in ({"daysOfWeek": ["Funday"]}, {"timeRange": {"start": "9:00", "end": "17:00"}},
                {"dateRange": {"start": "2026-1-1", "end": "2026-01-02"}}):
        with pytest.raises(ApiError):
            emulator.apply({**obj, "spec": {**obj["spec"], "rules": [bad]}})
    with pytest.raises(ApiError):
        emulator.apply({**obj, "spec": {**obj["spec"], "rules": []}})


def test_kuberiks_crd_prunes_the_rrule_extension(emulator: Emulator) -> None:
    """Why docs/progressive.md says to install our CRDs: on kuberik's, a rule with
    only an rrule is stored empty, and an empty rule always holds."""
    emulator.enforce(kuberik_crd("rolloutschedules"))
    stored = emulator.apply({
        "apiVersion": API, "kind": "RolloutSchedule",
        "metadata": {"name": "saturdays", "namespace": "apps"},
        "spec": {"rolloutSelector": {}, "rules": [
            {"name": "morning", "rrule": "FREQ=WEEKLY;BYDAY=SA", "duration": "4h"}]}})
    assert stored["spec"]["rules"] == [{"name": "morning"}]


class World:
    """The daemon's schedule machinery, in process, against the emulator."""

    def __init__(self, emulator: Emulator, kubeconfig: Path, *, leader: bool = True) -> None:
        self.cluster = k8s.Cluster.connect(kubeconfig=kubeconfig)
        self.stores = {kind.plural: Store(kind) for kind in (
            k8s.ROLLOUT, k8s.NAMESPACE, k8s.ROLLOUTSCHEDULE, k8s.CLUSTERROLLOUTSCHEDULE)}
        self.woken: list[str] = []
        self.leader = leader
        self.timers = Timers(enqueue=self.woken.append, stop=threading.Event(),
                             clock=lambda: MONDAY_11_NY, error_backoff=(1.0, 5.0))
        router = Router(enqueue=self.woken.append)
        self.schedules = Schedules(cluster=self.cluster, stores=self.stores.get,
                                   timers=self.timers, router=router,
                                   is_leader=lambda: self.leader, clock=lambda: MONDAY_11_NY)
        self.sync()

    def sync(self) -> None:
        for store in self.stores.values():
            store.on_sync(self.cluster.list(store.kind)[0])

    def evaluate_all(self) -> None:
        for kind in (k8s.ROLLOUTSCHEDULE, k8s.CLUSTERROLLOUTSCHEDULE):
            for obj in self.stores[kind.plural].list():
                self.schedules.changed(kind, None, obj)


def test_the_status_we_write_passes_kuberiks_crd_once_and_only_by_the_leader(
        emulator: Emulator, tmp_path: Path) -> None:
    for plural in ("rolloutschedules", "clusterrolloutschedules"):
        emulator.enforce(kuberik_crd(plural))
    for obj in samples():
        emulator.apply(obj)
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")

    standby = World(emulator, kubeconfig, leader=False)
    standby.evaluate_all()
    assert not [r for r in emulator.request_log if r.method == "PATCH"]

    world = World(emulator, kubeconfig)
    world.evaluate_all()
    patches = [r for r in emulator.request_log if r.method == "PATCH"]
    assert len(patches) == 8 and all(r.code == 200 for r in patches), patches
    hours = emulator.get_object(API, "RolloutSchedule", namespace="default",
                                name="business-hours-allow")
    assert hours is not None
    assert hours["status"] == {
        "active": True, "activeRules": ["weekday-business-hours"],
        "nextTransition": "2026-07-20T21:00:00Z", "matchingRollouts": 0,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Active", "message": "",
                        "lastTransitionTime": "2026-07-20T15:00:00Z"}]}
    freeze = emulator.get_object(API, "ClusterRolloutSchedule", namespace=None,
                                 name="holiday-freeze")
    assert freeze is not None
    assert freeze["status"]["active"] is False
    assert freeze["status"]["nextTransition"] == "2026-11-26T05:00:00Z"  # Thanksgiving
    assert freeze["status"]["matchingRollouts"] == 1  # production-east/frontend-rollout
    assert "production-east/frontend-rollout" in world.woken

    world.sync()  # the statuses as written
    world.evaluate_all()
    assert len([r for r in emulator.request_log if r.method == "PATCH"]) == 8  # unchanged
