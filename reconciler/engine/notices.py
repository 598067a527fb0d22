"""The notifier: which state changes people are told about, and who is told.

Where it fits: the ``Reporter`` (``engine/reporting.py``) records a Kubernetes
Event for every state change and tells the notifier (``occurred``) with what it
knows then (the step decided, the pushed commit, the branch head). The notifier
makes a ``core.notices.Notice`` of the changes that are notices
(``notices.BY_REASON``: released, baked, failed, reverted, held, proposed,
declined), names the Flux objects the change concerns, renders a payload per
receiver and queues it on the ``adapters.notify.Outbox``, which delivers it from
its own threads. Nothing here waits on the network.

The Flux objects of a change are where its rollout's targets live: the
``Kustomization`` whose ``postBuild.substitute`` holds the release, the
``OCIRepository`` whose ``spec.ref.tag`` does, the ``HelmRelease`` or
``Kustomization`` a marker sits in; a marker in any other object (a Deployment, a
kustomize file) reaches the cluster through the ``--flux-source`` GitRepository,
which stands for it. Each gets its own Flux event, so an Alert on any of them fires.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from reconciler.adapters import cluster as k8s
from reconciler.core import destinations, manifests, notices, progress
from reconciler.engine.releaser import Result
from reconciler.engine.routing import key_of

log = logging.getLogger(__name__)

FLUX = "notification-controller"  # its Outbox channel; no chat destination may take it
_KINDS = {k.kind: k for k in (k8s.KUSTOMIZATION, k8s.OCIREPOSITORY, k8s.HELMRELEASE)}
# The --flux-source GitRepository is only named, never read: no watch, no API call.
_GIT_REPOSITORY = ("source.toolkit.fluxcd.io/v1", "GitRepository")


class Outbox(Protocol):
    """Where payloads go (``adapters.notify.Outbox``): queued, never waited on."""

    def send(self, name: str, payload: Any, what: str) -> None: ...


class Notifier:
    def __init__(self, *, outbox: Outbox, flux: bool,
                 chats: Sequence[destinations.Destination],
                 targets: Callable[[str], Sequence[manifests.Target]],
                 cluster_object: Callable[[k8s.Kind, str, str], Mapping[str, Any] | None],
                 environment: str, branch: str, flux_source: str, instance: str,
                 clock: Callable[[], datetime]) -> None:
        self._outbox = outbox
        self._flux = flux
        self._chats = tuple(chats)
        self._targets = targets
        self._cluster_object = cluster_object
        self._environment = environment
        self._branch = branch
        self._flux_source = flux_source
        self._instance = instance
        self._clock = clock

    def occurred(self, obj: Mapping[str, Any], type_: str, reason: str, message: str, *,
                 step: progress.Step | None = None, result: Result | None = None,
                 revision: str | None = None) -> None:
        """A Kubernetes Event was recorded for ``obj``; tell whom it concerns.
        Never raises: a notice is worth less than the reconcile that made it."""
        try:
            notice = self.notice(obj, type_, reason, message, step=step, result=result,
                                 revision=revision)
            if notice is not None:
                self.deliver(notice)
        except Exception:
            log.exception("cannot send the notice of %s on %s", reason, key_of(obj))

    def notice(self, obj: Mapping[str, Any], type_: str, reason: str, message: str, *,
               step: progress.Step | None, result: Result | None,
               revision: str | None) -> notices.Notice | None:
        """The notice of that Event, or None when it is not one people are told."""
        change = notices.BY_REASON.get(reason)
        if change is None:
            return None
        key = key_of(obj)
        release = previous = commit = wrote = None
        detail = message
        if result is not None and change in ("released", "reverted"):
            release, previous = result.release, result.previous
            commit, wrote = result.commit, None
            if change == "reverted":
                commit, wrote = (step.revert if step else None), result.commit
                detail = step.message if step else ""
            else:
                detail = ""  # the headline says it all
        elif step is not None:
            release = step.release if change == "proposed" else step.current
            commit = {"baked": step.in_flight, "failed": step.revert or step.in_flight,
                      "held": revision, "released": step.in_flight}.get(change)
        return notices.Notice(
            change=change, rollout=key, reason=reason, detail=detail,
            warning=type_ == "Warning", time=self._clock(), environment=self._environment,
            release=release, previous=previous, commit=commit, wrote=wrote,
            objects=self.objects(key))

    def objects(self, key: str) -> tuple[notices.FluxObject, ...]:
        """The Flux objects ``key``'s targets live in (see the module docstring)."""
        out: dict[tuple[str, str], notices.FluxObject] = {}
        for t in self._targets(key):
            kind = _KINDS.get(t.kind)
            if kind is None or t.group not in ("", kind.group):
                namespace, _, name = self._flux_source.partition("/")
                api_version, kind_name = _GIT_REPOSITORY
                found: Mapping[str, Any] = {}
            else:
                namespace, _, name = t.object.partition("/")
                api_version, kind_name = kind.api_version, kind.kind
                found = self._cluster_object(kind, namespace, name) or {}
            if (kind_name, f"{namespace}/{name}") in out:
                continue
            meta = found.get("metadata") or {}
            served = found.get("apiVersion")
            out[(kind_name, f"{namespace}/{name}")] = notices.FluxObject(
                api_version=served if isinstance(served, str) and "/" in served
                else api_version, kind=kind_name, namespace=namespace, name=name,
                uid=meta.get("uid") if isinstance(meta.get("uid"), str) else None)
        return tuple(out.values())

    def deliver(self, notice: notices.Notice) -> None:
        what = f"{notice.change} {notice.rollout} {notice.release or ''}".strip()
        if self._flux:
            for obj in notice.objects:
                self._outbox.send(FLUX, notices.flux_event(
                    notice, obj, branch=self._branch, instance=self._instance),
                    f"{what} ({obj.kind} {obj.namespace}/{obj.name})")
        for chat in self._chats:
            if chat.wants(notice):
                self._outbox.send(chat.name, notices.RENDERERS[chat.kind](notice), what)
