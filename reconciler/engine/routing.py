"""Routing: which rollouts a change in the cluster concerns.

Where it fits: the informer stores call ``Router.on_change`` for every added,
modified or deleted object; the router enqueues the keys of the rollouts that
object can affect and nothing else, so a HealthCheck flapping in one namespace
does not reconcile every rollout of the cluster. ``concerns`` is pure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from reconciler.adapters import cluster as k8s
from reconciler.core import selectors
from reconciler.engine import interest
from reconciler.engine.informers import OnChange


def key_of(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def concerns(rollout: Mapping[str, Any], kind: k8s.Kind, obj: Mapping[str, Any]) -> bool:
    """Can ``obj`` (an ImagePolicy, RolloutGate or HealthCheck) change what ``rollout``
    decides? Pure: the two objects in, a yes or no out."""
    meta, spec = rollout.get("metadata") or {}, rollout.get("spec") or {}
    ns = meta.get("namespace")
    o_meta = obj.get("metadata") or {}
    if kind.plural == "imagepolicies":
        ref = spec.get("releasesImagePolicy") or {}
        return bool(ref.get("name") == o_meta.get("name")
                    and (ref.get("namespace") or ns) == o_meta.get("namespace"))
    if kind.plural == "rolloutgates":
        ref = (obj.get("spec") or {}).get("rolloutRef") or {}
        return bool(ref.get("name") == meta.get("name") and o_meta.get("namespace") == ns)
    if kind.plural == "healthchecks":
        selector = (spec.get("healthCheckSelector") or {})
        if not selector.get("namespaceSelector") and o_meta.get("namespace") != ns:
            return False
        return selectors.matches(selector.get("selector") or {}, o_meta.get("labels") or {})
    return False


class Router:
    """Turns store changes into work-queue keys.

    Which Rollouts an ImagePolicy, RolloutGate or HealthCheck may concern comes from
    an index of the Rollouts the router has seen (``engine/interest.py``), and
    ``concerns`` decides for each of those. Rollouts waiting for Flux register the
    Flux objects they wait on (``waiting``): a Kustomization's or source's status
    change then wakes only those rollouts, not every rollout. Schedule changes go to
    ``engine.schedules`` (``route_schedules``), which wakes the rollouts they select
    (``wake``).
    """

    def __init__(self, *, enqueue: Callable[[str], None]) -> None:
        self._enqueue = enqueue
        self._lock = threading.Lock()
        self._deploying: dict[str, frozenset[str]] = {}
        self._schedules: OnChange | None = None
        self._interest = interest.Interest()

    def route_schedules(self, to: OnChange) -> None:
        """Send schedule changes to ``to`` (``engine.schedules``): which rollouts a
        schedule concerns depends on namespace labels and on its previous selection."""
        self._schedules = to

    def wake(self, keys: Iterable[str]) -> None:
        """Reconcile these rollouts (a schedule's transition concerns them)."""
        for key in keys:
            self._enqueue(key)

    def waiting(self, key: str, on: frozenset[str]) -> None:
        """``key`` waits for Flux to apply its release on the objects ``on``
        (``Kind/namespace/name``)."""
        with self._lock:
            self._deploying[key] = on

    def done(self, key: str) -> None:
        with self._lock:
            self._deploying.pop(key, None)

    def on_change(self, kind: k8s.Kind, old: dict[str, Any] | None,
                  new: dict[str, Any] | None) -> None:
        obj = new or old
        if obj is None:
            return
        if kind.plural == "rollouts":
            with self._lock:
                self._interest.update(key_of(obj), new)
            self._enqueue(key_of(obj))
            return
        if kind.plural == "namespaces":
            return  # read when a HealthCheck selector needs it; changes wait for resync
        if kind.plural in SCHEDULE_KINDS:
            if self._schedules is not None:
                self._schedules(kind, old, new)
            return
        if kind.plural in FLUX_KINDS:
            name = f"{kind.kind}/{key_of(obj)}"
            with self._lock:
                waiting = [key for key, on in self._deploying.items() if name in on]
            for key in waiting:
                self._enqueue(key)
            return
        with self._lock:
            found = self._interest.candidates(kind, obj, old)
        for rollout in found:
            try:
                hit = concerns(rollout, kind, obj) or (
                    old is not None and concerns(rollout, kind, old))
            except Exception:  # a malformed object: let reconcile judge (and report) it
                hit = True
            if hit:
                self._enqueue(key_of(rollout))


# The Flux objects whose status says whether a release is applied.
FLUX_KINDS = frozenset({"kustomizations", "ocirepositories", "helmreleases", "gitrepositories"})
SCHEDULE_KINDS = frozenset({k8s.ROLLOUTSCHEDULE.plural, k8s.CLUSTERROLLOUTSCHEDULE.plural})
