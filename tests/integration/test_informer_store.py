"""The informer store (reconciler.engine.informers), fed by a real watch of the cluster
adapter against the API emulator: it mirrors the cluster, reports changes, reports
what vanished across a relist, and ignores replays and unknown deletions.
"""

from __future__ import annotations

import threading

from reconciler.adapters import cluster as k8s
from reconciler.emulator import Emulator
from reconciler.engine.informers import Store
from tests.integration.clusterworld import NS, Obj, Watches, rollout, wait_for

# -- the informer store, fed by a real watch ------------------------------------------


def test_store_mirrors_the_cluster_and_reports_changes(watches: Watches,
                                                       server: Emulator) -> None:
    server.apply(rollout("web", labels={"tier": "web"}))
    changes: list[tuple[str | None, str | None]] = []
    lock = threading.Lock()

    def on_change(kind: k8s.Kind, old: Obj | None, new: Obj | None) -> None:
        assert kind is k8s.ROLLOUT
        with lock:
            changes.append(((old or {}).get("metadata", {}).get("name"),
                            (new or {}).get("metadata", {}).get("name")))

    store = Store(k8s.ROLLOUT, on_change=on_change)
    watches.start(k8s.ROLLOUT, store.on_event, on_sync=store.on_sync)
    assert store.synced.wait(5)
    assert changes == [(None, "web")]
    server.apply(rollout("db", "data", labels={"tier": "db"}))
    server.set_status("kuberik.com/v1alpha1", "Rollout", namespace=NS, name="web",
                      status={"phase": "Baking"})
    wait_for(lambda: len(changes) == 3)
    assert changes[1:] == [(None, "db"), ("web", "web")]
    web = store.get(NS, "web")
    assert web is not None and web["status"] == {"phase": "Baking"}
    assert [o["metadata"]["name"] for o in store.list()] == ["web", "db"]  # apps/, data/
    assert [o["metadata"]["name"] for o in store.list(NS)] == ["web"]
    assert [o["metadata"]["name"] for o in store.list(label_selector={
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]})] == ["db"]
    web["status"]["phase"] = "mutated by a caller"
    assert store.get(NS, "web")["status"] == {"phase": "Baking"}  # type: ignore[index]
    server.delete_object("kuberik.com/v1alpha1", "Rollout", namespace="data", name="db")
    wait_for(lambda: len(changes) == 4)
    assert changes[3] == ("db", None) and store.get("data", "db") is None


def test_store_relist_reports_what_vanished(watches: Watches, server: Emulator) -> None:
    for name in ("stays", "changes", "goes"):
        server.apply(rollout(name))
    changes: list[tuple[str | None, str | None]] = []
    store = Store(k8s.ROLLOUT, on_change=lambda kind, old, new: changes.append(
        ((old or {}).get("metadata", {}).get("name"), (new or {}).get("metadata", {}).get(
            "name"))))
    handle = watches.start(k8s.ROLLOUT, store.on_event, on_sync=store.on_sync)
    assert store.synced.wait(5)
    changes.clear()
    server.pause()
    server.delete_object("kuberik.com/v1alpha1", "Rollout", namespace=NS, name="goes")
    server.apply(rollout("changes", bakeTime="1h"))
    server.compact()
    server.resume()
    wait_for(lambda: handle.lists == 2 and len(changes) == 2)
    assert sorted(changes, key=str) == [("changes", "changes"), ("goes", None)]
    assert sorted(o["metadata"]["name"] for o in store.list()) == ["changes", "stays"]


def test_store_ignores_replays_and_unknown_deletions() -> None:
    changes: list[tuple[Obj | None, Obj | None]] = []
    store = Store(k8s.ROLLOUT, on_change=lambda kind, old, new: changes.append((old, new)))
    obj = rollout("a")
    obj["metadata"]["resourceVersion"] = "7"
    store.on_event("ADDED", obj)
    store.on_event("MODIFIED", obj)  # same resourceVersion: a replay, not a change
    store.on_event("DELETED", rollout("never-seen"))
    store.on_event("BOOKMARK", obj)
    assert changes == [(None, obj)]
    assert not store.synced.is_set() and len(store) == 1
