"""The cluster adapter's tests' world (test_cluster_adapter_*.py, test_informer_store.py):
``Watches`` starts watches for a test and stops and joins them at its end (the
``watches`` fixture in tests/integration/conftest.py, beside ``server``,
``kubeconfig`` and ``cluster``), ``Recorder`` collects watch callbacks thread-safely,
``rollout`` builds a Rollout, ``wait_for`` polls a condition."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from reconciler.adapters import cluster as k8s
from reconciler.adapters.clusterwatch import WatchHandle

NS = "apps"
Obj = dict[str, Any]


class Watches:
    """Starts watches for a test and stops and joins them at the end."""

    def __init__(self, cluster: k8s.Cluster) -> None:
        self.cluster = cluster
        self.stop = threading.Event()
        self.handles: list[WatchHandle] = []

    def start(self, kind: k8s.Kind, on_event: Callable[[str, Obj], None],
              **kwargs: Any) -> WatchHandle:
        handle = self.cluster.watch(kind, on_event, stop=self.stop, **kwargs)
        self.handles.append(handle)
        return handle

    def close(self) -> None:
        self.stop.set()
        for h in self.handles:
            assert h.join(5), f"watch of {h.kind} did not stop"


def rollout(name: str, ns: str = NS, *, labels: dict[str, str] | None = None,
            status: Obj | None = None, **spec: Any) -> Obj:
    obj: Obj = {"apiVersion": "kuberik.com/v1alpha1", "kind": "Rollout",
                "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
                "spec": spec or {"bakeTime": "5m"}}
    if status is not None:
        obj["status"] = status
    return obj


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class Recorder:
    """Collects watch callbacks, thread-safely."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, str, str]] = []
        self.syncs: list[list[str]] = []

    def on_event(self, type_: str, obj: Obj) -> None:
        with self.lock:
            self.events.append((type_, obj["metadata"]["name"],
                                obj["metadata"]["resourceVersion"]))

    def on_sync(self, items: list[Obj]) -> None:
        with self.lock:
            self.syncs.append(sorted(o["metadata"]["name"] for o in items))

    def names(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(t, n) for t, n, _ in self.events]
