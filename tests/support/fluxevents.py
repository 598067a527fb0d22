"""A stand-in for Flux notification-controller's event endpoint (``POST /``).

It answers the way the real event server does, step by step in the order of its
middleware (fluxcd/notification-controller ``internal/server/event_server.go``,
``event_handlers.go``, ``limits.go``; main branch read 2026-08):

1. a body over 3 MiB: 413 (``readRequestBodyWithLimit``);
2. a body ``json.Unmarshal`` cannot decode into ``eventv1.Event``
   (fluxcd/pkg ``apis/event/v1beta1/event.go``): 400; Go rejects a field of the wrong
   type (``metadata`` values must be strings) and a ``timestamp`` that is not RFC 3339
   (``metav1.Time``); unknown fields are ignored;
3. ``cleanupMetadata``: only metadata keys prefixed ``event.toolkit.fluxcd.io/`` or
   the involved object's API group survive, minus ``<group>/checksum`` and
   ``<group>/digest``;
4. duplicate suppression (``httplimit`` middleware with ``eventKeyFunc``, one token
   per key per ``--rate-limit-interval``, 5 min by default): the key is the object's
   name, namespace and kind, the message, and the ``<group>/originRevision``,
   ``<group>/revision`` and ``<group>/token`` metadata; a repeat gets 429 with
   ``Retry-After`` (an RFC 1123 date, go-limiter ``httplimit``);
5. ``excludeInternalMetadata`` drops ``<group>/token``; the Alerts are matched
   (``eventMatchesAlertSource``: kind and namespace equal, name equal or ``*``,
   ``eventSeverity`` info takes all; ``inclusionList``/``exclusionList`` regexes on
   the message) and, per matching Alert, the metadata are combined as
   ``combineEventMetadata`` does (event-group keys and object-group keys stripped of
   their prefix, the Alert's ``eventMetadata`` between them); a git commit-status
   provider gets the revision ``Event.GetRevision`` finds (``commit``, then
   ``originRevision``, then ``revision``), and drops an info event without a
   ``commit`` key (``provider_commit_status.go``);
6. 202, whether or not an Alert matched.

Stricter than the real server, on purpose: the real one does not check that the
``+required`` fields of the Event type are there, so a client that forgets one is
accepted there and silently useless; here it is a 400 naming the field (``rejected``).
``matchLabels`` event sources need the object's labels from the cluster and never
match here.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.support.loopback import LoopbackServer

EVENT_GROUP = "event.toolkit.fluxcd.io"
MAX_BODY = 3 * 1024 * 1024
SEVERITIES = ("trace", "info", "error")
REQUIRED = ("involvedObject", "severity", "timestamp", "message", "reason",
            "reportingController")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_STRING_FIELDS = ("severity", "message", "reason", "reportingController",
                  "reportingInstance")
_REFERENCE_FIELDS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion",
                     "fieldPath")


@dataclass(frozen=True)
class Alert:
    """The parts of a ``notification.toolkit.fluxcd.io`` Alert (and its Provider's
    type) the event server reads."""

    name: str
    namespace: str
    event_sources: tuple[Mapping[str, Any], ...]
    event_severity: str = "info"
    inclusion: tuple[str, ...] = ()
    exclusion: tuple[str, ...] = ()
    event_metadata: Mapping[str, str] = field(default_factory=dict)
    commit_status: bool = False  # the Provider is github, gitlab, gitea, ...

    @classmethod
    def from_manifest(cls, alert: Mapping[str, Any], *, provider_type: str) -> Alert:
        spec = alert["spec"]
        return cls(name=alert["metadata"]["name"],
                   namespace=alert["metadata"].get("namespace", "default"),
                   event_sources=tuple(spec["eventSources"]),
                   event_severity=spec.get("eventSeverity", "info"),
                   inclusion=tuple(spec.get("inclusionList") or ()),
                   exclusion=tuple(spec.get("exclusionList") or ()),
                   event_metadata=dict(spec.get("eventMetadata") or {}),
                   commit_status=provider_type in ("github", "gitlab", "gitea", "bitbucket",
                                                   "bitbucketserver", "azuredevops"))


@dataclass(frozen=True)
class Dispatch:
    """What one Alert's provider would be given."""

    alert: str
    event: dict[str, Any]
    metadata: dict[str, str]
    commit: str | None  # what a commit-status provider marks (None: not one, or dropped)


class FluxEventServer(LoopbackServer):
    """notification-controller's event endpoint on loopback (see the module docstring)."""

    def __init__(self, *, alerts: tuple[Alert, ...] = (), interval: float = 300.0) -> None:
        self.alerts = alerts
        self.interval = interval
        self.lock = threading.Lock()
        self.accepted: list[dict[str, Any]] = []  # after cleanupMetadata, in order
        self.duplicates: list[dict[str, Any]] = []
        self.rejected: list[tuple[int, str]] = []
        self.dispatched: list[Dispatch] = []
        self.fail_next: list[int] = []  # statuses to answer before anything else
        self._seen: dict[str, float] = {}

    # -- the server ------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Mapping[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            if self.fail_next:
                return self.fail_next.pop(0), {}, b""
            if method != "POST":  # the real mux serves "/" for any method; events POST
                return self._reject(405, f"method {method}")
            if len(body) > MAX_BODY:
                return self._reject(413, "body over 3 MiB")
            try:
                event = json.loads(body)
            except ValueError:
                return self._reject(400, "not JSON")
            problem = decode_problem(event) or required_problem(event)
            if problem:
                return self._reject(400, problem)
            cleanup_metadata(event)
            key = event_key(event)
            now = time.monotonic()
            if key in self._seen and now - self._seen[key] < self.interval:
                self.duplicates.append(event)
                reset = datetime.fromtimestamp(time.time() + self.interval - (
                    now - self._seen[key]), UTC)
                # Go's time.RFC1123 of a UTC time says "UTC", not "GMT".
                return 429, {"Retry-After": reset.strftime("%a, %d %b %Y %H:%M:%S UTC")}, \
                    b"Too Many Requests\n"
            self._seen[key] = now
            self.accepted.append(event)
            internal = dict(event)
            internal["metadata"] = {k: v for k, v in (event.get("metadata") or {}).items()
                                    if k != f"{group_of(event)}/token"}
            for alert in self.alerts:
                dispatch = _dispatch(alert, internal)
                if dispatch is not None:
                    self.dispatched.append(dispatch)
            return 202, {}, b""

    def _reject(self, status: int, why: str) -> tuple[int, dict[str, str], bytes]:
        self.rejected.append((status, why))
        return status, {}, b""

    @property
    def events_url(self) -> str:
        return self.url + "/"


# -- the steps, as the Go code does them ---------------------------------------------


def group_of(event: Mapping[str, Any]) -> str:
    """``InvolvedObject.GroupVersionKind().Group``: ``apiVersion`` before its slash."""
    api_version = str((event.get("involvedObject") or {}).get("apiVersion") or "")
    return api_version.rpartition("/")[0]


def decode_problem(event: Any) -> str | None:
    """Why ``json.Unmarshal`` into ``eventv1.Event`` would fail, or None."""
    if not isinstance(event, dict):
        return "not a JSON object"
    for name in _STRING_FIELDS:
        if name in event and event[name] is not None and not isinstance(event[name], str):
            return f"{name}: not a string"
    involved = event.get("involvedObject")
    if involved is not None:
        if not isinstance(involved, dict):
            return "involvedObject: not an object"
        for name in _REFERENCE_FIELDS:
            if involved.get(name) is not None and not isinstance(involved[name], str):
                return f"involvedObject.{name}: not a string"
    metadata = event.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or not all(
            isinstance(v, str) for v in metadata.values())):
        return "metadata: not a map of strings"
    stamp = event.get("timestamp")
    if stamp is not None and (not isinstance(stamp, str) or not _RFC3339.match(stamp)):
        return "timestamp: not RFC 3339"
    return None


def required_problem(event: Mapping[str, Any]) -> str | None:
    """The stand-in's stricter check of the Event type's ``+required`` fields."""
    for name in REQUIRED:
        if not event.get(name):
            return f"{name}: required"
    involved = event["involvedObject"]
    for name in ("apiVersion", "kind", "namespace", "name"):
        if not involved.get(name):
            return f"involvedObject.{name}: required"
    if event["severity"] not in SEVERITIES:
        return f"severity: {event['severity']!r} is not trace, info or error"
    if len(event["message"]) > 39000:
        return "message: longer than 39000"
    return None


def cleanup_metadata(event: dict[str, Any]) -> None:
    group = group_of(event)
    drop = {f"{group}/checksum".lower(), f"{group}/digest".lower()}
    event["metadata"] = {k: v for k, v in (event.get("metadata") or {}).items()
                         if k.lower() not in drop
                         and (k.startswith(EVENT_GROUP + "/") or k.startswith(group + "/"))}


def event_key(event: Mapping[str, Any]) -> str:
    involved, metadata, group = event["involvedObject"], event["metadata"], group_of(event)
    parts = ["event", f"name={involved.get('name', '')}",
             f"namespace={involved.get('namespace', '')}", f"kind={involved.get('kind', '')}",
             f"message={event.get('message', '')}"]
    for key, label in (("originRevision", "originRevision"), ("revision", "revision"),
                       ("token", "token")):
        if f"{group}/{key}" in metadata:
            parts.append(f"{label}={metadata[f'{group}/{key}']}")
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _matches_source(alert: Alert, event: Mapping[str, Any]) -> bool:
    involved = event["involvedObject"]
    for source in alert.event_sources:
        namespace = source.get("namespace") or alert.namespace
        if involved.get("namespace") != namespace or involved.get("kind") != source["kind"]:
            continue
        if event["severity"] != alert.event_severity and alert.event_severity != "info":
            continue
        if source["name"] != "*" and source["name"] != involved.get("name"):
            continue
        if source.get("matchLabels"):
            continue  # needs the object's labels from the cluster
        return True
    return False


def _dispatch(alert: Alert, event: Mapping[str, Any]) -> Dispatch | None:
    if not _matches_source(alert, event):
        return None
    message = event["message"]
    if alert.inclusion and not any(re.search(p, message) for p in alert.inclusion):
        return None
    if any(re.search(p, message) for p in alert.exclusion):
        return None
    group = group_of(event)
    combined: dict[str, str] = {}
    for key, value in event["metadata"].items():
        if key.startswith(EVENT_GROUP + "/"):
            combined[key.removeprefix(EVENT_GROUP + "/")] = value
    combined.update(alert.event_metadata)
    for key, value in event["metadata"].items():
        if key.startswith(group + "/"):
            combined[key.removeprefix(group + "/")] = value
    commit = None
    if alert.commit_status:
        has_commit = bool(event["metadata"].get(f"{EVENT_GROUP}/commit"))
        if not has_commit and event["severity"] != "error":
            return Dispatch(alert.name, dict(event), combined, None)  # dropped there
        revision = combined.get("commit") or combined.get("originRevision") \
            or combined.get("revision")
        commit = extract_hash(revision) if revision else None
    return Dispatch(alert.name, dict(event), combined, commit)


def extract_hash(revision: str) -> str:
    """fluxcd/pkg ``git.ExtractHashFromRevision``: after the last ``:``, else after the
    last ``/``, else the whole string."""
    if ":" in revision:
        return revision.rsplit(":", 1)[1]
    return revision.rsplit("/", 1)[-1]
