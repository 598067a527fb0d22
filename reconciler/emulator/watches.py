"""What one watch sees: the change records, the per-watch filter and its queue.

A ``Change`` is one write as the store records it (with the object before and
after). A ``WatchFilter`` turns it into the event a given watch receives — an
object that starts or stops matching the watch's selectors arrives as ADDED or
DELETED, as with the real watch cache — and a ``Subscription`` queues changes for
the thread serving the stream.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, field
from typing import Any

from reconciler.core import selectors
from reconciler.emulator.resources import Resource
from reconciler.emulator.status import ApiError, Obj

__all__ = ["Change", "Subscription", "WatchFilter", "parse_fields"]

# Fields every resource can be selected by; Events add their own (as kube-apiserver does).
_FIELDS = ("metadata.name", "metadata.namespace")
_EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                 "involvedObject.uid", "involvedObject.apiVersion", "reason", "type",
                 "source", "reportingComponent")


@dataclass(frozen=True)
class Change:
    """One write, as watchers see it. ``old`` is the object before the write."""

    rv: int
    group: str
    plural: str
    type: str  # ADDED | MODIFIED | DELETED
    obj: Obj
    old: Obj | None


@dataclass(frozen=True)
class WatchFilter:
    """What one watch asks for: a namespace (or all) and label/field selectors."""

    namespace: str | None = None
    labels: selectors.LabelSelector = field(default_factory=lambda: selectors.LabelSelector())
    fields: tuple[tuple[str, str, str], ...] = ()  # (path, "="|"!=", value)

    def accepts(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        meta = obj.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        if not selectors.matches(self.labels, meta.get("labels") or {}):
            return False
        for path, op, value in self.fields:
            have = _field(obj, path)
            if (have == value) != (op == "="):
                return False
        return True

    def view(self, change: Change) -> tuple[str, Obj] | None:
        """The event this watcher gets for ``change``: an object that starts or stops
        matching the selectors is ADDED or DELETED, like the real watch cache does."""
        now, before = self.accepts(change.obj), self.accepts(change.old)
        if change.type == "DELETED":
            return ("DELETED", change.obj) if before or now else None
        if change.type == "ADDED":
            return ("ADDED", change.obj) if now else None
        if now and before:
            return "MODIFIED", change.obj
        if now:
            return "ADDED", change.obj
        if before:
            return "DELETED", change.obj
        return None


def _field(obj: Obj, path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict) and path == "source":
        node = node.get("component")
    return "" if node is None else str(node)


def parse_fields(text: str, res: Resource) -> tuple[tuple[str, str, str], ...]:
    """``metadata.name=x,metadata.namespace!=y`` → requirements; unknown fields are 400."""
    allowed = _FIELDS + (_EVENT_FIELDS if res.plural == "events" else ())
    result = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        for op in ("!=", "==", "="):
            if op in term:
                path, _, value = term.partition(op)
                break
        else:
            raise ApiError(400, f"invalid field selector: {term!r}")
        path = path.strip()
        if path not in allowed:
            raise ApiError(400, f'field label not supported: {path}')
        result.append((path, "!=" if op == "!=" else "=", value.strip()))
    return tuple(result)


class Subscription:
    """A live watch: changes to one resource, queued for the serving thread."""

    def __init__(self, res: Resource, after: int, initial: list[Change]) -> None:
        self.res = res
        self.after = after  # changes at or before this resourceVersion are not sent
        self.initial = initial
        self.queue: queue.SimpleQueue[Change | None] = queue.SimpleQueue()

    def close(self) -> None:
        self.queue.put(None)
