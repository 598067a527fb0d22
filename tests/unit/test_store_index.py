"""``informers.Store.list`` answers from its namespace and label indexes exactly what
reading every object would (random adds, relabels, deletes and relists); the store
keeps no ``metadata.managedFields``."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from reconciler.adapters import cluster as k8s
from reconciler.core import selectors
from reconciler.engine.informers import Store

NAMESPACES = ("apps", "web", "")
LABELS = ({}, {"app": "a"}, {"app": "b"}, {"app": "a", "tier": "x"}, {"tier": "x"},
          {"app": 5})
SELECTORS: list[dict[str, Any] | None] = [
    None, {}, {"matchLabels": {"app": "a"}}, {"matchLabels": {"app": "a", "tier": "x"}},
    {"matchLabels": {"app": "b"},
     "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]},
    {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}]},
    {"matchLabels": {"app": "5"}},
]


def brute(objects: dict[tuple[str, str], dict[str, Any]], namespace: str | None,
          selector: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [o for (ns, _), o in sorted(objects.items())
            if (namespace is None or ns == namespace)
            and (selector is None or selectors.matches(
                selector, (o.get("metadata") or {}).get("labels") or {}))]


@pytest.mark.parametrize("seed", range(3))
def test_indexed_list_equals_reading_every_object(seed: int) -> None:
    rng = random.Random(seed)
    store = Store(k8s.HEALTHCHECK)
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    for rv in range(200):
        ns, name = rng.choice(NAMESPACES), f"hc{rng.randrange(12)}"
        if rng.random() < 0.03:
            fresh = [{"metadata": {"namespace": n, "name": f"hc{i}", "resourceVersion": str(rv),
                                   "labels": dict(rng.choice(LABELS))}}
                     for n in NAMESPACES for i in range(rng.randrange(4))]
            store.on_sync(fresh)
            objects = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in fresh}
        elif rng.random() < 0.25 and (ns, name) in objects:
            store.on_event("DELETED", objects.pop((ns, name)))
        else:
            obj = {"metadata": {"namespace": ns, "name": name, "resourceVersion": str(rv),
                                "labels": dict(rng.choice(LABELS))}}
            store.on_event("MODIFIED", obj)
            objects[(ns, name)] = obj
        for namespace in (*NAMESPACES, None):
            for selector in SELECTORS:
                assert store.list(namespace, selector) == brute(objects, namespace, selector)


def test_the_store_keeps_no_managed_fields() -> None:
    store = Store(k8s.HEALTHCHECK)
    managed = [{"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {}}}]
    event = {"metadata": {"namespace": "apps", "name": "a", "resourceVersion": "1",
                          "labels": {"app": "a"}, "managedFields": managed},
             "status": {"status": "Healthy"}}
    store.on_event("ADDED", event)
    store.on_sync([{**event, "metadata": {**event["metadata"], "name": "b"}}])
    got = store.list("apps", {"matchLabels": {"app": "a"}})
    assert [o["metadata"]["name"] for o in got] == ["b"]
    assert "managedFields" not in got[0]["metadata"]
    assert got[0]["status"] == {"status": "Healthy"}
    assert event["metadata"]["managedFields"] == managed  # the event itself is not changed


def test_objects_decoded_apart_share_their_names_in_the_store() -> None:
    """Two watch events are two JSON documents, each with its own copy of every key
    and short value; the store keeps one copy of each (docs/performance.md, "Daemon
    latency"), and the objects read back are the objects delivered."""
    def decoded(name: str) -> dict[str, Any]:
        return json.loads(json.dumps({
            "apiVersion": "kuberik.com/v1alpha1", "kind": "HealthCheck",
            "metadata": {"namespace": "apps", "name": name, "resourceVersion": "7",
                         "labels": {"app": name}},
            "status": {"status": "Healthy", "lastErrorTime": None, "count": 3,
                       "ratio": 0.5, "ok": True, "message": "x" * 40,
                       "checks": [{"type": "Ready", "status": "True"}]}}))
    a, b = decoded("a"), decoded("b")
    assert a["status"]["checks"][0]["status"] is not b["status"]["checks"][0]["status"]
    store = Store(k8s.HEALTHCHECK)
    store.on_event("ADDED", a)
    store.on_sync([a, b])
    x, y = store.peek("apps", "a"), store.peek("apps", "b")
    assert x == a and y == b
    assert x is not None and y is not None
    assert next(iter(x["status"])) is next(iter(y["status"]))  # the key "status"
    assert x["status"]["checks"][0]["status"] is y["status"]["checks"][0]["status"]  # "True"
    assert x["metadata"]["namespace"] is y["metadata"]["namespace"]
