"""The router's index (engine/interest.py): routing a change through it wakes exactly
the rollouts that asking ``routing.concerns`` of every Rollout would."""

from __future__ import annotations

import random
from typing import Any

import pytest

from reconciler.adapters import cluster as k8s
from reconciler.engine import routing

KINDS = (k8s.IMAGEPOLICY, k8s.HEALTHCHECK, k8s.ROLLOUTGATE)
NAMESPACES = ("apps", "web")
SELECTORS: list[Any] = [
    None, {}, {"selector": {"matchLabels": {"app": "a"}}},
    {"selector": {"matchLabels": {"app": "a", "tier": "x"}}},
    {"selector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}},
    {"selector": {"matchLabels": {"app": "b"}}, "namespaceSelector": {}},
    {"selector": {"matchLabels": {"app": "a"}},
     "namespaceSelector": {"matchLabels": {"team": "x"}}},
    "not a selector",
]


def rollout(rng: random.Random, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"releasesImagePolicy": rng.choice(
        [{"name": "p1"}, {"name": "p2"}, {"name": "p1", "namespace": "web"}, None, "bad"])}
    selector = rng.choice(SELECTORS)
    if selector is not None:
        spec["healthCheckSelector"] = selector
    return {"metadata": {"namespace": rng.choice(NAMESPACES), "name": name}, "spec": spec}


def other(rng: random.Random, kind: k8s.Kind) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": rng.choice(NAMESPACES),
                            "name": rng.choice(["p1", "p2", "r1", "r2"])}
    obj: dict[str, Any] = {"metadata": meta}
    if kind is k8s.HEALTHCHECK:
        meta["labels"] = rng.choice([{}, {"app": "a"}, {"app": "b", "tier": "x"},
                                     {"app": "a", "tier": "x"}])
    if kind is k8s.ROLLOUTGATE:
        obj["spec"] = {"rolloutRef": {"name": rng.choice(["r1", "r2", "r3"])}}
    return obj


@pytest.mark.parametrize("seed", range(3))
def test_routing_through_the_index_wakes_what_asking_every_rollout_would(seed: int) -> None:
    rng = random.Random(seed)
    woken: list[str] = []
    router = routing.Router(enqueue=woken.append)
    rollouts: dict[str, dict[str, Any]] = {}
    for _ in range(300):
        if rng.random() < 0.4:
            name = rng.choice(["r1", "r2", "r3", "r4"])
            new = rollout(rng, name)
            key = routing.key_of(new)
            if rng.random() < 0.2 and key in rollouts:
                router.on_change(k8s.ROLLOUT, rollouts.pop(key), None)
            else:
                router.on_change(k8s.ROLLOUT, rollouts.get(key), new)
                rollouts[key] = new
            woken.clear()
            continue
        kind = rng.choice(KINDS)
        old = other(rng, kind) if rng.random() < 0.5 else None
        new = other(rng, kind)
        router.on_change(kind, old, new)
        want = []
        for key, r in sorted(rollouts.items(), key=lambda kr: kr[0].split("/", 1)):
            try:
                hit = routing.concerns(r, kind, new) or (
                    old is not None and routing.concerns(r, kind, old))
            except Exception:
                hit = True
            if hit:
                want.append(key)
        assert woken == want
        woken.clear()
