"""In-memory mirrors of cluster objects, fed by ``Cluster.watch`` (the informer pattern).

Where it fits: the daemon keeps one ``Store`` per kind it reads (Rollouts,
ImagePolicies, HealthChecks, RolloutGates, Kustomizations), passes ``store.on_event``
and ``store.on_sync`` to ``Cluster.watch``, and reads objects from the stores
instead of asking the API server on every reconcile. ``on_change(kind, old, new)``
is how the daemon learns what to enqueue: ``old`` is None for an addition, ``new``
is None for a deletion.

The store reports changes to itself, not raw watch events: an event that carries
the resourceVersion the store already holds (a replay after a reconnect) is not a
change, and a relist (``on_sync``, after start or after a 410) replaces the
contents and reports what was added, what changed and what vanished while the
watch was not looking — deletions included.

Objects are stored without ``metadata.managedFields`` (never read here), their keys
and short strings interned (one copy across the store, see ``_slim``).
``get`` and ``list`` return copies (``peek`` and ``list(copy_objects=False)`` the
stored objects, for readers); the objects passed to ``on_change`` are the stored
ones and must be treated as read-only: a change replaces a stored object, never
edits it. Thread-safe; callbacks run on the
watch thread, outside the store's lock, in the order of the changes.
"""

from __future__ import annotations

import copy
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from reconciler.adapters import cluster as k8s
from reconciler.adapters.cluster import Kind
from reconciler.core import selectors
from reconciler.errors import ClusterNotFound, ReconcilerError

__all__ = ["OnChange", "Store", "adapt_to_served", "watch"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
OnChange = Callable[[Kind, Obj | None, Obj | None], None]
_Key = tuple[str, str]
_Changes = list[tuple[Obj | None, Obj | None]]


class Store:
    """Objects of one kind by (namespace, name). ``synced`` is set once the first list
    is stored and every ``on_change`` it caused has returned."""

    def __init__(self, kind: Kind, *, on_change: OnChange | None = None) -> None:
        self.kind = kind
        self.on_change = on_change
        self.synced = threading.Event()
        self._lock = threading.RLock()
        self._objects: dict[_Key, Obj] = {}
        # Indexes of ``_objects`` so that a rollout's HealthChecks are found without
        # reading every HealthCheck (10,000 rollouts, docs/performance.md).
        self._by_ns: dict[str, dict[str, Obj]] = {}
        self._by_label: dict[tuple[str, str, str], set[_Key]] = {}
        # How many changes the store has reported: a cheap "did anything change" for
        # the dashboard's live updates.
        self.changes = 0

    # -- reads ---------------------------------------------------------------

    def get(self, namespace: str, name: str) -> Obj | None:
        """A copy of the object, or None. Cluster-scoped kinds use namespace ``""``."""
        obj = self.peek(namespace, name)
        # Copied outside the lock: a stored object is replaced by a change, never
        # changed in place, so the watch thread need not wait for the copy.
        return copy.deepcopy(obj) if obj is not None else None

    def peek(self, namespace: str, name: str) -> Obj | None:
        """The stored object itself, or None: for callers that only read it, and never
        keep or change it (as ``list(copy_objects=False)``)."""
        with self._lock:
            return self._objects.get((namespace or "", name))

    def list(self, namespace: str | None = None,
             label_selector: Mapping[str, Any] | str | None = None, *,
             copy_objects: bool = True) -> list[Obj]:
        """Copies of the objects in ``namespace`` (None: all), sorted by (namespace,
        name), that match ``label_selector`` (a LabelSelector dict or its string form;
        None: no filter). Raises ``InvalidSelector`` for a malformed selector."""
        selector = (selectors.parse(label_selector) if isinstance(label_selector, str)
                    else label_selector)
        if selector is not None:
            selectors.requirements(selector)  # malformed selectors fail even on no objects
        with self._lock:
            found = [obj for _, obj in sorted(self._candidates(namespace, selector))
                     if selector is None or selectors.matches(selector, _labels(obj))]
        # copy_objects=False hands out the stored dicts themselves: for callers that
        # only read (routing a watch event to rollouts), and never keep or change them.
        return copy.deepcopy(found) if copy_objects else found

    def _candidates(self, namespace: str | None,
                    selector: Mapping[str, Any] | None) -> Iterable[tuple[_Key, Obj]]:
        """The objects that may match: those of ``namespace`` carrying the rarest of the
        selector's ``matchLabels`` pairs (from the index), else all of ``namespace``,
        else all. ``selectors.matches`` still judges each one."""
        if namespace is None:
            return list(self._objects.items())
        labels = selector.get("matchLabels") if selector is not None else None
        pairs = [(namespace, k, v) for k, v in labels.items()
                 if isinstance(k, str) and isinstance(v, str)] if isinstance(labels, Mapping) \
            else []
        if pairs:
            keys = min((self._by_label.get(p, set()) for p in pairs), key=len)
            return [(k, self._objects[k]) for k in keys]
        return [((namespace, name), obj)
                for name, obj in self._by_ns.get(namespace, {}).items()]

    def _index(self, key: _Key, old: Obj | None, new: Obj | None) -> None:
        """Keep the namespace and label indexes in step with ``_objects`` (lock held)."""
        ns, name = key
        if old is not None:
            self._by_ns[ns].pop(name, None)
            if not self._by_ns[ns]:
                del self._by_ns[ns]
            for pair in _pairs(ns, old):
                self._by_label[pair].discard(key)
                if not self._by_label[pair]:
                    del self._by_label[pair]
        if new is not None:
            self._by_ns.setdefault(ns, {})[name] = new
            for pair in _pairs(ns, new):
                self._by_label.setdefault(pair, set()).add(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._objects

    # -- feeding (the watch thread) --------------------------------------------

    def on_event(self, type_: str, obj: Obj) -> None:
        """Apply one watch event (ADDED, MODIFIED or DELETED)."""
        obj = _slim(obj)
        key = _key(obj)
        with self._lock:
            old = self._objects.get(key)
            if type_ == "DELETED":
                if old is None:
                    return
                del self._objects[key]
                self._index(key, old, None)
                change: tuple[Obj | None, Obj | None] = (old, None)
            elif type_ in ("ADDED", "MODIFIED"):
                if old is not None and _rv(old) == _rv(obj):
                    return
                self._objects[key] = obj
                self._index(key, old, obj)
                change = (old, obj)
            else:
                return
        self._notify([change])

    def on_sync(self, items: Iterable[Obj]) -> None:
        """Replace everything with a fresh list; report additions, changes and the
        objects that disappeared since the last list or event."""
        fresh = {_key(obj): obj for obj in map(_slim, items)}
        with self._lock:
            old = self._objects
            self._objects = fresh
            self._by_ns, self._by_label = {}, {}
            for key, obj in fresh.items():
                self._index(key, None, obj)
            changes: _Changes = [
                (old[k], None) for k in sorted(old.keys() - fresh.keys())]
            for k in sorted(fresh):
                before = old.get(k)
                if before is None or _rv(before) != _rv(fresh[k]):
                    changes.append((before, fresh[k]))
        self._notify(changes)
        self.synced.set()

    def _notify(self, changes: _Changes) -> None:
        self.changes += len(changes)
        if self.on_change is None:
            return
        for old, new in changes:
            try:
                self.on_change(self.kind, old, new)
            except Exception:  # one bad callback must not starve the others
                log.exception("on_change for %s failed", self.kind)


def _key(obj: Mapping[str, Any]) -> _Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _rv(obj: Mapping[str, Any]) -> str | None:
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    return str(rv) if rv is not None else None


def _slim(obj: Obj) -> Obj:
    """``obj`` as the store keeps it: without ``metadata.managedFields`` and with its
    names shared.

    ``managedFields`` is server-side apply's bookkeeping, often the larger part of an
    object, which the reconciler never reads (controller-runtime's informers drop it
    the same way, ``cache.TransformStripManagedFields``).

    Every object a watch delivers is decoded from its own JSON, so each carries its
    own copy of every key (``lastTransitionTime``, ``observedGeneration``...) and of
    every short value (``True``, ``Ready``, its namespace): a third to a half of the
    object's memory. Interned, the stores hold one copy of each across all objects:
    a Rollout with its status as the daemon writes it went from 11.5 to 7.3 KB, a
    Kustomization from 4.1 to 2.3 KB (tracemalloc, 1,000 copies, docs/performance.md).
    Longer strings (messages, timestamps, digests) are mostly unique and kept as
    they are. Costs ~40 us per Rollout event, once, on the watch thread."""
    meta = obj.get("metadata")
    if isinstance(meta, Mapping) and "managedFields" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    shared = _shared(obj)
    return shared if type(shared) is dict else obj


_SHARED_LENGTH = 32  # values up to this long are interned; longer ones are rarely repeated


def _shared(value: Any) -> Any:
    """A copy of decoded JSON with its keys and short strings interned."""
    kind = type(value)
    if kind is dict:
        return {_intern(k) if type(k) is str else k: _shared(v) for k, v in value.items()}
    if kind is list:
        return [_shared(v) for v in value]
    if kind is str and len(value) <= _SHARED_LENGTH:
        return _intern(value)
    return value


_intern = sys.intern


def _pairs(namespace: str, obj: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    return [(namespace, k, v) for k, v in _labels(obj).items()
            if isinstance(k, str) and isinstance(v, str)]


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    labels = (obj.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, Mapping) else {}


def adapt_to_served(cluster: k8s.Cluster, stores: dict[str, Store], *,
                    optional: tuple[k8s.Kind, ...], on_change: OnChange) -> None:
    """Fit the stores to what the API server serves, before the watches start.

    Flux before 2.6 serves ImagePolicy only as v1beta2 (``status.latestImage``): its
    store is swapped for that version. The ``optional`` kinds (OCIRepository,
    HelmRelease) matter only where Flux serves them — a cluster without
    helm-controller has no HelmRelease API — and are not watched elsewhere."""
    try:
        cluster.list(k8s.IMAGEPOLICY)
    except ClusterNotFound:
        log.info("image.toolkit.fluxcd.io/v1 is not served; watching v1beta2 ImagePolicies")
        stores["imagepolicies"] = Store(k8s.IMAGEPOLICY_V1BETA2, on_change=on_change)
    except ReconcilerError as exc:
        log.warning("cannot list ImagePolicies yet: %s", exc)
    for kind in optional:
        try:
            cluster.list(kind)
        except ClusterNotFound:
            log.info("%s is not served; not watching %s", kind.api_version, kind.plural)
            stores.pop(kind.plural, None)
        except ReconcilerError as exc:
            log.warning("cannot list %s yet: %s", kind.plural, exc)


def watch(cluster: k8s.Cluster, stores: Mapping[str, Store], *, stop: threading.Event,
          namespace: str | None, selector: str | None) -> list[k8s.WatchHandle]:
    """Start one watch per store, feeding it; the handles.

    ``namespace`` (``--namespace``) scopes the Rollouts and the kuberik objects beside
    them; Flux's Kustomizations and ImagePolicies usually live elsewhere (flux-system).
    ``selector`` (``--watch-label-selector``) filters the Rollouts only, on the API
    server, as Flux filters a controller's own kind: a shard lists and watches the
    Rollouts it owns, and a Rollout relabelled away reaches it as a deletion. The
    inputs a Rollout reads (ImagePolicies, HealthChecks, RolloutGates, schedules,
    Flux objects) stay unfiltered: one of them may serve Rollouts of several shards,
    and they are looked up only for the Rollouts in the store."""
    handles = []
    for store in stores.values():
        kind = store.kind
        scoped = kind.group == k8s.ROLLOUT.group and kind.namespaced
        handles.append(cluster.watch(
            kind, store.on_event, stop=stop, on_sync=store.on_sync,
            namespace=namespace if scoped else None,
            label_selector=selector if kind == k8s.ROLLOUT else None))
    return handles
