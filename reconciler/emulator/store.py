"""The emulator's storage: objects, one resourceVersion counter, the event history.

This is where the emulator is faithful to kube-apiserver and etcd, because the
reconciler's informers and its conflict handling depend on these rules:

- one global, monotonically increasing ``metadata.resourceVersion`` (a string),
  bumped by every write; a write that changes nothing is not a write (no bump, no
  event), as with the real server;
- ``metadata.generation`` starts at 1 and is bumped when anything outside
  ``metadata`` (and outside ``status`` for kinds with a status subresource) changes;
- updates, and patches that carry ``metadata.resourceVersion``, are preconditions:
  a stale one is 409 Conflict;
- deleting an object with finalizers only sets ``deletionTimestamp``; it goes away
  when an update removes the last finalizer;
- the event history is bounded (and can be dropped with ``compact``); a watch from a
  resourceVersion older than the history is answered with 410 Expired.

Refusals are ``status.ApiError``; what each watch sees is in ``watches``.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from reconciler.emulator import patches
from reconciler.emulator.resources import Registry, Resource
from reconciler.emulator.status import ApiError, Obj, conflict, invalid, not_found
from reconciler.emulator.watches import Change, Subscription, WatchFilter

__all__ = ["Store"]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Store:
    """Objects by (group, plural) then (namespace, name); every method is thread-safe."""

    def __init__(self, registry: Registry, *, history_limit: int = 1000,
                 strict_namespaces: bool = False) -> None:
        self.registry = registry
        self.strict_namespaces = strict_namespaces
        self._lock = threading.RLock()
        self._rv = 0
        self._compacted = 0
        self._objects: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        self._history: deque[Change] = deque(maxlen=max(1, history_limit))
        self._subs: dict[tuple[str, str], set[Subscription]] = {}
        # (group, plural) -> a CRD schema's admission (``structural.Schema.admit``):
        # the object as stored, pruned, or a 422. Kinds without one take any JSON.
        self.admission: dict[tuple[str, str], Callable[[Resource, Obj], Obj]] = {}

    # -- reads ---------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    def get(self, res: Resource, namespace: str | None, name: str) -> Obj:
        with self._lock:
            return self._out(res, self._current(res, namespace, name))

    def list(self, res: Resource, flt: WatchFilter) -> tuple[list[Obj], str]:
        with self._lock:
            bucket = self._objects.get((res.group, res.plural), {})
            items = [self._out(res, obj) for _, obj in sorted(bucket.items())
                     if flt.accepts(obj)]
            return items, str(self._rv)

    def all_objects(self) -> Iterable[Obj]:
        with self._lock:
            return [copy.deepcopy(o) for bucket in self._objects.values() for o in bucket.values()]

    # -- writes --------------------------------------------------------------

    def create(self, res: Resource, namespace: str | None, body: Any, *,
               keep_status: bool = False) -> Obj:
        obj = self._incoming(res, body)
        meta = obj["metadata"]
        ns = self._namespace(res, namespace, meta)
        name = meta.get("name") or ""
        if not name:
            prefix = meta.get("generateName")
            if not prefix:
                raise invalid(res, "", "metadata.name: Required value: name or generateName "
                                       "is required")
            name = f"{prefix}{secrets.token_hex(3)[:5]}"
        if not isinstance(name, str) or "/" in name or name in (".", ".."):
            raise invalid(res, str(name), f"metadata.name: Invalid value: {name!r}")
        with self._lock:
            self._require_namespace(res, ns)
            if (ns, name) in self._objects.get((res.group, res.plural), {}):
                raise ApiError(409, f'{res.qualified} "{name}" already exists',
                               reason="AlreadyExists", res=res, name=name)
            if res.status_subresource and not keep_status:
                obj.pop("status", None)
            meta.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=_now(),
                        generation=1)
            meta.pop("deletionTimestamp", None)
            if ns:
                meta["namespace"] = ns
            else:
                meta.pop("namespace", None)
            return self._commit(res, "ADDED", self._admit(res, obj), None)

    def update(self, res: Resource, namespace: str | None, name: str, body: Any, *,
               subresource: str | None = None) -> Obj:
        obj = self._incoming(res, body)
        meta = obj["metadata"]
        if meta.get("name", name) != name:
            raise ApiError(400, f"the name of the object ({meta.get('name')}) does not match "
                                f"the name on the URL ({name})")
        self._namespace(res, namespace, meta)
        with self._lock:
            current = self._current(res, namespace, name)
            rv = meta.get("resourceVersion")
            if rv in (None, ""):
                if res.crd_like:
                    raise invalid(res, name, "metadata.resourceVersion: Invalid value: 0x0: "
                                             "must be specified for an update")
            elif rv != current["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            return self._write(res, current, obj, "status" if subresource else "main")

    def patch(self, res: Resource, namespace: str | None, name: str, content_type: str,
              patch: Any, *, subresource: str | None = None) -> Obj:
        with self._lock:
            current = self._current(res, namespace, name)
            doc = self._out(res, current)
            try:
                if content_type == "application/json-patch+json":
                    patched = patches.json_patch(doc, patch)
                elif content_type in ("application/merge-patch+json",
                                      "application/strategic-merge-patch+json"):
                    if not isinstance(patch, dict):
                        raise ApiError(400, "a merge patch must be a JSON object")
                    patched = patches.merge_patch(doc, patch)
                else:
                    raise ApiError(415, f"the body of the request was in an unknown format - "
                                        f"accepted media types include: application/json-patch"
                                        f"+json, application/merge-patch+json, application/"
                                        f"strategic-merge-patch+json (got {content_type!r})")
            except patches.PatchError as exc:
                raise invalid(res, name, f"the server rejected our request due to an error "
                                         f"in our request: {exc}") from exc
            if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
                raise invalid(res, name, "metadata: Required value")
            meta = patched["metadata"]
            if meta.get("name") != name or meta.get("namespace") != doc["metadata"].get(
                    "namespace"):
                raise invalid(res, name, "metadata.name, metadata.namespace: field is "
                                         "immutable")
            rv = meta.get("resourceVersion")
            if rv not in (None, "") and rv != current["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            obj = self._incoming(res, patched)
            return self._write(res, current, obj, "status" if subresource else "main")

    def apply(self, res: Resource, obj: Any) -> Obj:
        """Create or overwrite everything, ``status`` included, with no precondition
        (the Python hook the tests and the demo use to act as Flux or a person)."""
        body = self._incoming(res, obj)
        meta = body["metadata"]
        ns = meta.get("namespace") if res.namespaced else None
        if res.namespaced and not ns:
            raise ApiError(400, f"{res.kind} {meta.get('name')!r} needs metadata.namespace")
        with self._lock:
            current = self._objects.get((res.group, res.plural), {}).get(
                (ns or "", meta.get("name", "")))
            if current is None:
                return self.create(res, ns, body, keep_status=True)
            return self._write(res, current, body, "all")

    def delete(self, res: Resource, namespace: str | None, name: str,
               options: Any = None) -> Obj:
        pre = (options.get("preconditions") if isinstance(options, dict) else None) or {}
        with self._lock:
            current = self._current(res, namespace, name)
            meta = current["metadata"]
            if pre.get("uid") and pre["uid"] != meta.get("uid"):
                raise conflict(res, name, f"Precondition failed: UID in precondition: "
                                          f"{pre['uid']}, UID in object meta: {meta.get('uid')}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
                raise conflict(res, name, f"Precondition failed: ResourceVersion in precondition:"
                                          f" {pre['resourceVersion']}, ResourceVersion in meta: "
                                          f"{meta['resourceVersion']}")
            new = copy.deepcopy(current)
            if meta.get("finalizers"):
                if meta.get("deletionTimestamp"):
                    return self._out(res, current)
                new["metadata"].update(deletionTimestamp=_now(), deletionGracePeriodSeconds=0)
                return self._commit(res, "MODIFIED", new, current)
            return self._commit(res, "DELETED", new, current)

    def compact(self) -> None:
        """Forget the event history: watches from any earlier resourceVersion get 410."""
        with self._lock:
            self._history.clear()
            self._compacted = self._rv

    def expire(self) -> None:
        """Like ``compact``, and move the resourceVersion on (no object changes), so
        that a watch resumed from any resourceVersion handed out so far, the current
        one included, gets 410; a fresh list hands out one that works."""
        with self._lock:
            self._rv += 1
            self.compact()

    # -- watches -------------------------------------------------------------

    def subscribe(self, res: Resource, flt: WatchFilter, resource_version: str | None) -> (
            Subscription):
        """Register a watch. ``""``/``"0"``/None start with ADDED for what exists now;
        a number replays the history after it, or raises 410 if it is too old."""
        with self._lock:
            if resource_version in (None, "", "0"):
                bucket = self._objects.get((res.group, res.plural), {})
                initial = [Change(self._rv, res.group, res.plural, "ADDED",
                                  copy.deepcopy(obj), None)
                           for _, obj in sorted(bucket.items()) if flt.accepts(obj)]
                after = self._rv
            else:
                try:
                    after = int(str(resource_version))
                except ValueError:
                    raise ApiError(400, f"invalid resource version: {resource_version!r}"
                                   ) from None
                floor = self._history[0].rv - 1 if self._history else self._compacted
                if after < floor:
                    raise ApiError(410, f"too old resource version: {after} ({floor})",
                                   reason="Expired")
                initial = [c for c in self._history
                           if c.rv > after and (c.group, c.plural) == (res.group, res.plural)]
            sub = Subscription(res, after, initial)
            self._subs.setdefault((res.group, res.plural), set()).add(sub)
            return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.get((sub.res.group, sub.res.plural), set()).discard(sub)

    def watchers(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subs.values())

    def close_watches(self) -> None:
        with self._lock:
            for subs in self._subs.values():
                for sub in subs:
                    sub.close()

    def bookmark(self, sub: Subscription) -> str | None:
        """The resourceVersion a BOOKMARK may announce now, or None while changes are
        still queued for this watcher (a bookmark must not skip past them)."""
        with self._lock:
            return None if not sub.queue.empty() else str(max(self._rv, sub.after))

    # -- internals -----------------------------------------------------------

    def _incoming(self, res: Resource, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "metadata must be an object")
        kind = obj.get("kind") or res.kind
        res = self.registry.learn_kind(res, kind)
        if kind != res.kind:
            raise ApiError(400, f"the kind in the data ({kind}) does not match the resource "
                                f"({res.kind})")
        api_version = obj.get("apiVersion") or res.api_version
        if api_version.rpartition("/")[0] != res.group:
            raise ApiError(400, f"the API version in the data ({api_version}) does not match "
                                f"the expected API version ({res.api_version})")
        obj.update(apiVersion=api_version, kind=kind)
        return obj

    def _namespace(self, res: Resource, namespace: str | None, meta: Obj) -> str:
        if not res.namespaced:
            return ""
        if not namespace:
            raise ApiError(404, f"{res.qualified} is namespaced: use /namespaces/{{ns}}/")
        if meta.get("namespace") not in (None, "", namespace):
            raise ApiError(400, "the namespace of the provided object does not match the "
                                "namespace sent on the request")
        return namespace

    def _require_namespace(self, res: Resource, ns: str) -> None:
        if not (self.strict_namespaces and res.namespaced):
            return
        if ("", ns) not in self._objects.get(("", "namespaces"), {}):
            raise ApiError(404, f'namespaces "{ns}" not found', name=ns)

    def _current(self, res: Resource, namespace: str | None, name: str) -> Obj:
        ns = (namespace or "") if res.namespaced else ""
        if res.namespaced and not namespace:
            raise not_found(res, name)
        obj = self._objects.get((res.group, res.plural), {}).get((ns, name))
        if obj is None:
            raise not_found(res, name)
        return obj

    def _out(self, res: Resource, obj: Obj) -> Obj:
        out = copy.deepcopy(obj)
        out["apiVersion"] = res.api_version
        return out

    def _write(self, res: Resource, current: Obj, proposed: Obj, scope: str) -> Obj:
        """Turn ``proposed`` into the next version of ``current``. ``scope`` is what the
        request may change: ``main`` (not status, when there is a status subresource),
        ``status`` (only status) or ``all`` (the Python hook)."""
        if scope == "status":
            new = copy.deepcopy(current)
            _set_or_drop(new, "status", proposed.get("status"))
        else:
            new = copy.deepcopy(proposed)
            if scope == "main" and res.status_subresource:
                _set_or_drop(new, "status", copy.deepcopy(current.get("status")))
            new["apiVersion"], new["kind"] = current["apiVersion"], current["kind"]
        meta, old_meta = new["metadata"], current["metadata"]
        for key in ("name", "namespace", "uid", "creationTimestamp", "generation",
                    "deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            _set_or_drop(meta, key, old_meta.get(key))
        new = self._admit(res, new)
        if _spec(res, new) != _spec(res, current):
            meta["generation"] = int(old_meta.get("generation") or 0) + 1
        if new == current:
            return self._out(res, current)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._commit(res, "DELETED", new, current)
        return self._commit(res, "MODIFIED", new, current)

    def _admit(self, res: Resource, obj: Obj) -> Obj:
        admit = self.admission.get((res.group, res.plural))
        return admit(res, obj) if admit is not None else obj

    def _commit(self, res: Resource, type_: str, obj: Obj, old: Obj | None) -> Obj:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        bucket = self._objects.setdefault((res.group, res.plural), {})
        if type_ == "DELETED":
            bucket.pop(key, None)
        else:
            bucket[key] = obj
        change = Change(self._rv, res.group, res.plural, type_, copy.deepcopy(obj), old)
        self._history.append(change)
        for sub in self._subs.get((res.group, res.plural), ()):
            sub.queue.put(change)
        return self._out(res, obj)


def _set_or_drop(obj: Obj, key: str, value: Any) -> None:
    if value is None:
        obj.pop(key, None)
    else:
        obj[key] = value


def _spec(res: Resource, obj: Obj) -> Obj:
    """What ``generation`` tracks: everything but metadata (and status, when it is a
    subresource)."""
    skip = {"metadata", "apiVersion", "kind"} | ({"status"} if res.status_subresource else set())
    return {k: v for k, v in obj.items() if k not in skip}
