"""Schedules: the status of every RolloutSchedule and ClusterRolloutSchedule, and the
rollouts to wake when a deploy window opens or closes.

Where it fits: the router sends it each change of a schedule
(``Router.route_schedules``). For a schedule it evaluates ``core.windows.state``,
writes ``status`` (``active``, ``activeRules``, ``nextTransition``,
``matchingRollouts``, a ``Ready`` condition) when that changed and this daemon
leads, wakes the rollouts the schedule selects when its spec or its state changed
(those it selected before a change too), and sets a timer for its next change —
``REFRESH`` from now at the latest, which also brings ``matchingRollouts`` up to
date and lets a new leader write what a standby only computed.

The decision itself reads the stores through ``engine.observe`` (``selecting``);
a rollout outside its window also has its own wake-up at the opening
(``Step.wake_at``), so a lost timer here delays only a status.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from reconciler.adapters import cluster as k8s
from reconciler.core import schedulemodels, windows
from reconciler.engine.informers import Store
from reconciler.engine.routing import Router, key_of
from reconciler.engine.timers import Timers
from reconciler.errors import ReconcilerError

log = logging.getLogger(__name__)

# Watched only where the cluster serves them (the daemon's optional kinds).
KINDS = (k8s.ROLLOUTSCHEDULE, k8s.CLUSTERROLLOUTSCHEDULE)
REFRESH = timedelta(minutes=5)
RETRY = timedelta(seconds=10)  # after a status write failed

Stores = Callable[[str], Store | None]


def namespace_labels(stores: Stores, namespace: str) -> Mapping[str, str] | None:
    """The labels of ``namespace``; None when namespaces are not watched (a daemon
    scoped with --namespace), where ``schedulemodels.selects`` assumes only
    ``kubernetes.io/metadata.name``."""
    store = stores("namespaces")
    if store is None:
        return None
    obj = store.peek("", namespace) or {}  # read only
    labels = (obj.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, Mapping) else {
        "kubernetes.io/metadata.name": namespace}


def selecting(stores: Stores, rollout: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The schedules that select ``rollout``, namespaced ones first."""
    namespace = (rollout.get("metadata") or {}).get("namespace") or ""
    labels = namespace_labels(stores, namespace)
    out: list[dict[str, Any]] = []
    for kind in KINDS:
        store = stores(kind.plural)
        if store is not None:
            out += [s for s in store.list(namespace if kind.namespaced else None)
                    if schedulemodels.selects(s, rollout, namespace_labels=labels)]
    return out


class Schedules:
    def __init__(self, *, cluster: k8s.Cluster, stores: Stores, timers: Timers, router: Router,
                 is_leader: Callable[[], bool], clock: Callable[[], datetime],
                 sharded: bool = False) -> None:
        """``sharded``: the Rollout store holds one shard's (``--watch-label-selector``),
        so ``matchingRollouts`` is not written: each shard would write its own count
        and the shards would overwrite each other's on every change. The rest of the
        status depends on the schedule and the clock alone; every shard computes it
        alike, and the first write leaves the others nothing to change."""
        self._sharded = sharded
        self._cluster = cluster
        self._stores = stores
        self._timers = timers
        self._router = router
        self._is_leader = is_leader
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, tuple[bool, tuple[str, ...]] | None] = {}
        router.route_schedules(self.changed)

    def changed(self, kind: k8s.Kind, old: dict[str, Any] | None,
                new: dict[str, Any] | None) -> None:
        """A schedule was added, changed or deleted (``Store.on_change``)."""
        obj = new or old
        if obj is None:
            return
        before = self._selected(old) if old is not None else set()
        if new is None:
            meta = obj.get("metadata") or {}
            job = _job(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
            self._timers.cancel(job)
            with self._lock:
                self._last.pop(job, None)
            self._router.wake(before)
            return
        moved = old is None or old.get("spec") != new.get("spec") or (
            (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"))
        meta = new.get("metadata") or {}
        self.refresh(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""),
                     wake=before if moved else None)

    def refresh(self, kind: k8s.Kind, namespace: str, name: str,
                wake: set[str] | None = None) -> None:
        """Evaluate one schedule now: status, rollouts to wake, the next timer.
        ``wake``: rollouts to reconcile whatever the state (a changed spec)."""
        store = self._stores(kind.plural)
        obj = store.get(namespace, name) if store is not None else None
        job = _job(kind, namespace, name)
        if obj is None:
            self._timers.cancel(job)
            return
        now = self._clock()
        found = schedulemodels.schedule(obj)
        state = windows.state(found, now) if isinstance(found, windows.Schedule) else found
        selected = self._selected(obj)
        summary = (state.active, state.active_rules) if isinstance(state, windows.State) \
            else None
        with self._lock:
            moved = self._last.get(job, ()) != summary
            self._last[job] = summary
        if wake is not None or moved:
            self._router.wake(selected | (wake or set()))
        previous = obj.get("status") if isinstance(obj.get("status"), Mapping) else None
        new = schedulemodels.status(state, matching=None if self._sharded else len(selected),
                                    previous=previous, now=now)
        retry = not self._write(kind, namespace, name, previous, new)
        when = now + (RETRY if retry else REFRESH)
        if isinstance(state, windows.State) and state.next_change is not None:
            when = min(when, state.next_change)
        self._timers.at(job, when, lambda: self.refresh(kind, namespace, name))

    def _write(self, kind: k8s.Kind, namespace: str, name: str,
               previous: Mapping[str, Any] | None, new: dict[str, Any]) -> bool:
        if not self._is_leader() or not schedulemodels.changed(previous, new):
            return True
        try:
            if kind.namespaced:
                self._cluster.patch_status(k8s.ROLLOUTSCHEDULE, namespace=namespace, name=name,
                                           status=new)
            else:
                self._cluster.patch_status(k8s.CLUSTERROLLOUTSCHEDULE, namespace="", name=name,
                                           status=new)
        except ReconcilerError as exc:
            log.warning("cannot write the status of %s %s: %s", kind.kind,
                        f"{namespace}/{name}" if namespace else name, exc)
            return False
        return True

    def _selected(self, schedule: Mapping[str, Any]) -> set[str]:
        """Keys of the rollouts ``schedule`` selects."""
        rollouts = self._stores("rollouts")
        if rollouts is None:
            return set()
        labels: dict[str, Mapping[str, str] | None] = {}
        out = set()
        for rollout in rollouts.list(copy_objects=False):
            ns = (rollout.get("metadata") or {}).get("namespace") or ""
            if ns not in labels:
                labels[ns] = namespace_labels(self._stores, ns)
            if schedulemodels.selects(schedule, rollout, namespace_labels=labels[ns]):
                out.add(key_of(rollout))
        return out


def _job(kind: k8s.Kind, namespace: str, name: str) -> str:
    return f"schedule:{kind.plural}:{namespace}/{name}"
