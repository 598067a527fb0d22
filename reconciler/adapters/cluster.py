"""The Kubernetes adapter: reads, watches and writes the objects the daemon works with.

Where it fits: the engine's informers (``engine.informers``) call ``Cluster.watch``
to mirror Rollouts, ImagePolicies, HealthChecks, RolloutGates, schedules and Flux
objects in memory; the reconcile loop writes ``Rollout`` status (and the schedules')
with ``patch_status``, records Kubernetes Events with ``create_event`` and asks
Flux to fetch now with ``annotate``. This module (with ``clusterwatch``) is the
only code importing ``kubernetes``; callers get plain JSON dicts and the project's
own exceptions.

Every request goes through the official client (``CustomObjectsApi`` for API
groups, its ``ApiClient`` for the core group: ``coregroup``) with
``_preload_content=False`` and our own JSON decoding, so objects stay plain dicts
and a create answered with 200 can never come back as ``None`` (kubernetes 37 does
that for unexpected codes).

Errors are translated here, raised ``from`` the original, with one line naming
the verb, the resource and the object (never a token)::

    kubernetes / urllib3                          project error (reconciler.errors)
    ------------------------------------------    ---------------------------------
    ConfigException, no kubeconfig, no in-cluster ClusterConfigError    (permanent)
    ApiException 401, 403                         ClusterForbidden      (permanent)
    ApiException 400, 422                         ClusterInvalid        (permanent)
    ApiException 404 on get                       None is returned
    ApiException 404 otherwise                    ClusterNotFound       (transient)
    ApiException 409                              ConflictError         (transient)
    ApiException 410 in a watch                   handled: relist (see ``watch``)
    ApiException 429, 5xx, any other status       ClusterError          (transient)
    urllib3 HTTPError / OSError (refused, reset,  ClusterError          (transient)
      timeout, TLS, protocol error)
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from reconciler.adapters import clusterwatch, coregroup, kubeerrors
from reconciler.adapters.clusterwatch import WatchHandle
from reconciler.core import selectors
from reconciler.errors import (
    ClusterError,
    ClusterNotFound,
    ReconcilerError,
)

__all__ = [
    "CLUSTERROLLOUTSCHEDULE", "EVENT", "GITREPOSITORY", "HEALTHCHECK", "IMAGEPOLICY",
    "IMAGEPOLICY_V1BETA2", "KUSTOMIZATION", "LEASE", "NAMESPACE", "OCIREPOSITORY", "ROLLOUT",
    "ROLLOUTGATE", "ROLLOUTSCHEDULE", "Cluster", "Kind", "WatchHandle",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
OnEvent = Callable[[str, Obj], None]
OnSync = Callable[[list[Obj]], None]


@dataclass(frozen=True)
class Kind:
    """A resource type: where it is served and what its objects are called."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return self.version if not self.group else f"{self.group}/{self.version}"

    @property
    def resource(self) -> str:
        """``rollouts.kuberik.com``: how RBAC and API errors name it."""
        return self.plural if not self.group else f"{self.plural}.{self.group}"

    def __str__(self) -> str:
        return f"{self.resource}/{self.version}"


ROLLOUT = Kind("kuberik.com", "v1alpha1", "rollouts", "Rollout")
HEALTHCHECK = Kind("kuberik.com", "v1alpha1", "healthchecks", "HealthCheck")
ROLLOUTGATE = Kind("kuberik.com", "v1alpha1", "rolloutgates", "RolloutGate")
ROLLOUTSCHEDULE = Kind("kuberik.com", "v1alpha1", "rolloutschedules", "RolloutSchedule")
CLUSTERROLLOUTSCHEDULE = Kind("kuberik.com", "v1alpha1", "clusterrolloutschedules",
                              "ClusterRolloutSchedule", namespaced=False)
IMAGEPOLICY = Kind("image.toolkit.fluxcd.io", "v1", "imagepolicies", "ImagePolicy")
IMAGEPOLICY_V1BETA2 = Kind("image.toolkit.fluxcd.io", "v1beta2", "imagepolicies", "ImagePolicy")
KUSTOMIZATION = Kind("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization")
GITREPOSITORY = Kind("source.toolkit.fluxcd.io", "v1", "gitrepositories", "GitRepository")
OCIREPOSITORY = Kind("source.toolkit.fluxcd.io", "v1", "ocirepositories", "OCIRepository")
HELMRELEASE = Kind("helm.toolkit.fluxcd.io", "v2", "helmreleases", "HelmRelease")
NAMESPACE = Kind("", "v1", "namespaces", "Namespace", namespaced=False)
EVENT = Kind("", "v1", "events", "Event")
LEASE = Kind("coordination.k8s.io", "v1", "leases", "Lease")

CONNECT_TIMEOUT = 5.0  # seconds to open a connection to the API server
REQUEST_TIMEOUT = 30.0  # seconds to wait for the answer to a plain request
_POOL_SIZE = 32  # long-lived watch connections plus concurrent writes
_MERGE_PATCH = "application/merge-patch+json"


class Cluster:
    """One API server connection (an ``ApiClient``), safe to share between threads.

    ``namespace`` scopes ``list`` and ``watch`` when they are not given one; None
    means all namespaces. Close it (or use it as a context manager) to release the
    connection pool.
    """

    def __init__(self, api_client: client.ApiClient, *, namespace: str | None = None,
                 source: str = "") -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.source = source  # where the configuration came from, for messages
        self.host: str = api_client.configuration.host
        self._custom = client.CustomObjectsApi(api_client)
        self._core = coregroup.CoreGroup(api_client)

    @classmethod
    def connect(cls, *, kubeconfig: Path | None = None, context: str | None = None,
                namespace: str | None = None) -> Cluster:
        """Configure from in-cluster service account credentials when running in a pod
        (``KUBERNETES_SERVICE_HOST`` set) and no ``kubeconfig`` is given, else from the
        kubeconfig (the path given, else ``$KUBECONFIG``, else ``~/.kube/config``).
        Raises ``ClusterConfigError`` when neither works. Makes no request."""
        cfg = client.Configuration()
        source = _load_config(cfg, kubeconfig=kubeconfig, context=context)
        cfg.connection_pool_maxsize = max(_POOL_SIZE, cfg.connection_pool_maxsize or 0)
        log.debug("Kubernetes API at %s (from %s)", cfg.host, source)
        return cls(client.ApiClient(cfg), namespace=namespace, source=source)

    def close(self) -> None:
        self.api_client.close()  # type: ignore[no-untyped-call]

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Cluster(host={self.host!r}, namespace={self.namespace!r})"

    # -- reads ---------------------------------------------------------------

    def list(self, kind: Kind, *, namespace: str | None = None,
             label_selector: str | Mapping[str, Any] | None = None) -> tuple[list[Obj], str]:
        """Every object of ``kind`` (in ``namespace``, else the cluster's, else all) and
        the list's resourceVersion, from which a watch continues without a gap."""
        ns = self._scope(kind, namespace)
        fn, args = self._list_call(kind, ns)
        body = self._call("list", kind, _where(ns), fn, *args,
                          label_selector=_selector(label_selector))
        items = list(body.get("items") or [])
        for item in items:  # core lists leave these out of items; informers want them
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
        return items, str((body.get("metadata") or {}).get("resourceVersion") or "")

    def get(self, kind: Kind, *, namespace: str, name: str) -> Obj | None:
        """The object, or None when it does not exist."""
        if kind.group:
            fn = (self._custom.get_namespaced_custom_object if kind.namespaced
                  else self._custom.get_cluster_custom_object)
            args = _custom_args(kind, namespace, name)
        else:
            fn, args = self._core.reader(kind.plural, _ns(kind, namespace), name), ()
        try:
            return self._call("get", kind, _object(kind, namespace, name), fn, *args)
        except ClusterNotFound:
            return None

    def watch(self, kind: Kind, on_event: OnEvent, *, stop: threading.Event,
              on_sync: OnSync | None = None, namespace: str | None = None,
              label_selector: str | Mapping[str, Any] | None = None,
              timeout_seconds: int = 30) -> WatchHandle:
        """Mirror ``kind`` into callbacks from a daemon thread, until ``stop`` is set.

        The thread lists (``on_sync(items)`` with the full list; ``handle.synced`` is
        set after the first one), then watches from the list's resourceVersion and
        calls ``on_event("ADDED" | "MODIFIED" | "DELETED", obj)``. Streams end every
        ``timeout_seconds`` (the server closes them) and are resumed from the last
        resourceVersion seen, BOOKMARKs included, so nothing is lost or repeated. A
        410 Gone (history compacted) relists and calls ``on_sync`` again: the
        callback must treat it as the complete truth. Connection and server errors
        are retried after 0.2 s, doubling to 30 s, with jitter; a stream that ends at
        once without news counts as an error, so there is no busy loop. Setting
        ``stop`` ends the thread within a fraction of a second: a helper thread cuts
        the open stream's socket and the watcher ignores the resulting error.
        Exceptions raised by the callbacks are logged and do not stop the watch.
        """
        ns = self._scope(kind, namespace)
        selector = _selector(label_selector)
        fn, args = self._list_call(kind, ns)

        def translate_error(exc: BaseException) -> ReconcilerError:
            if isinstance(exc, ApiException):
                return translate(exc, verb="watch", kind=kind, what=_where(ns))
            return unreachable(exc, verb="watch", kind=kind, what=_where(ns), host=self.host)

        return clusterwatch.Watcher(
            kind=kind, relist=lambda: self.list(kind, namespace=ns, label_selector=selector),
            stream_fn=fn, stream_args=args, label_selector=selector, translate=translate_error,
            on_event=on_event, on_sync=on_sync, stop=stop, timeout_seconds=timeout_seconds,
        ).start()

    # -- writes --------------------------------------------------------------

    def patch_status(self, kind: Kind, *, namespace: str, name: str, status: Mapping[str, Any],
                     resource_version: str | None = None) -> Obj:
        """Merge-patch (RFC 7386) ``status`` into the ``/status`` subresource: keys left
        out are kept, keys set to None are removed, lists are replaced. With
        ``resource_version`` the write only happens if the object is still at that
        version (``ConflictError`` otherwise). Returns the updated object."""
        body: Obj = {"status": dict(status)}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        if kind.group:
            fn = (self._custom.patch_namespaced_custom_object_status if kind.namespaced
                  else self._custom.patch_cluster_custom_object_status)
            args: tuple[Any, ...] = (*_custom_args(kind, namespace, name), body)
        else:
            fn = self._core.patcher(kind.plural, _ns(kind, namespace), name, "status")
            args = (body,)
        return self._call("patch", kind, _object(kind, namespace, name, "status"), fn, *args,
                          _content_type=_MERGE_PATCH)

    def create(self, kind: Kind, *, namespace: str, body: Mapping[str, Any]) -> Obj:
        """Create an object of a grouped kind (a Lease, say); ``ConflictError`` when it
        already exists."""
        meta = body.get("metadata") or {}
        return self._call("create", kind, _object(kind, namespace, str(meta.get("name", ""))),
                          self._custom.create_namespaced_custom_object, kind.group,
                          kind.version, namespace, kind.plural, dict(body))

    def replace(self, kind: Kind, *, namespace: str, name: str, body: Mapping[str, Any]) -> Obj:
        """Replace an object of a grouped kind; the body's ``metadata.resourceVersion`` is
        the precondition (``ConflictError`` when someone else wrote first)."""
        return self._call("update", kind, _object(kind, namespace, name),
                          self._custom.replace_namespaced_custom_object,
                          *_custom_args(kind, namespace, name), dict(body))

    def annotate(self, kind: Kind, *, namespace: str, name: str,
                 annotations: Mapping[str, str | None]) -> None:
        """Merge ``annotations`` into the object's (None removes one). Used to set
        ``reconcile.fluxcd.io/requestedAt`` so Flux fetches the repository now."""
        body = {"metadata": {"annotations": dict(annotations)}}
        if kind.group:
            fn = (self._custom.patch_namespaced_custom_object if kind.namespaced
                  else self._custom.patch_cluster_custom_object)
            args: tuple[Any, ...] = (*_custom_args(kind, namespace, name), body)
        else:
            fn, args = self._core.patcher(kind.plural, _ns(kind, namespace), name), (body,)
        self._call("patch", kind, _object(kind, namespace, name), fn, *args,
                   _content_type=_MERGE_PATCH)

    def create_event(self, *, involved: Mapping[str, Any], type: Literal["Normal", "Warning"],
                     reason: str, message: str, action: str = "",
                     component: str = "reconciler") -> None:
        """Record a core/v1 Event about ``involved`` (a full object as read from the
        API), in its namespace (``default`` for cluster-scoped objects), named like
        client-go names them: ``<object name>.<hex nanoseconds>``."""
        meta = involved.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        now = time.time_ns()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now / 1e9))
        ref = {k: str(v) for k, v in {
            "apiVersion": involved.get("apiVersion"), "kind": involved.get("kind"),
            "name": meta.get("name"), "namespace": meta.get("namespace"),
            "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion"),
        }.items() if v}
        body: Obj = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta.get('name', 'object')}.{now:x}",
                         "namespace": namespace},
            "involvedObject": ref, "type": type, "reason": reason,
            "message": message[:1024], "action": action or reason,
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "source": {"component": component},
            "reportingComponent": component, "reportingInstance": _instance(),
        }
        what = _object(EVENT, namespace, body["metadata"]["name"])
        self._call("create", EVENT, what, self._core.creator(EVENT.plural, namespace), body)

    # -- plumbing ------------------------------------------------------------

    def _scope(self, kind: Kind, namespace: str | None) -> str | None:
        if not kind.namespaced:
            return None
        return namespace or self.namespace or None

    def _list_call(self, kind: Kind, namespace: str | None) -> tuple[Callable[..., Any],
                                                                     tuple[Any, ...]]:
        """The client function listing (and, with ``watch=True``, watching) ``kind``."""
        if kind.group:
            if not kind.namespaced:
                return self._custom.list_cluster_custom_object, (kind.group, kind.version,
                                                                 kind.plural)
            if namespace is None:
                return self._custom.list_custom_object_for_all_namespaces, (
                    kind.group, kind.version, kind.plural)
            return self._custom.list_namespaced_custom_object, (
                kind.group, kind.version, namespace, kind.plural)
        return self._core.lister(kind.plural, namespace), ()

    def _call(self, verb: str, kind: Kind, what: str, fn: Callable[..., Any], *args: Any,
              **kwargs: Any) -> Obj:
        """Call ``fn`` and decode its JSON body, translating every failure."""
        try:
            resp = fn(*args, _preload_content=False,
                      _request_timeout=(CONNECT_TIMEOUT, REQUEST_TIMEOUT), **kwargs)
            try:
                data = resp.data
            finally:
                resp.release_conn()
        except ApiException as exc:
            raise translate(exc, verb=verb, kind=kind, what=what) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise unreachable(exc, verb=verb, kind=kind, what=what, host=self.host) from exc
        try:
            decoded = json.loads(data) if data else {}
        except ValueError as exc:
            raise ClusterError(f"cannot {verb} {kind.resource} {what}: the API server at "
                               f"{self.host} answered with something that is not JSON") from exc
        return decoded if isinstance(decoded, dict) else {}


# Error translation and configuration loading live in ``kubeerrors`` (the names stay
# importable from here).
translate = kubeerrors.translate
unreachable = kubeerrors.unreachable
_load_config = kubeerrors.load_config


# -- helpers --------------------------------------------------------------------


def _selector(value: str | Mapping[str, Any] | None) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    return selectors.render(value) or None


def _custom_args(kind: Kind, namespace: str, name: str) -> tuple[str, ...]:
    if kind.namespaced:
        return kind.group, kind.version, namespace, kind.plural, name
    return kind.group, kind.version, kind.plural, name


def _ns(kind: Kind, namespace: str) -> str | None:
    return namespace if kind.namespaced else None


def _where(namespace: str | None) -> str:
    return f"in namespace {namespace}" if namespace else "in all namespaces"


def _object(kind: Kind, namespace: str, name: str, subresource: str = "") -> str:
    where = f"{namespace}/{name}" if kind.namespaced else name
    return f'"{where}"' + (f" ({subresource})" if subresource else "")


def _instance() -> str:
    return os.environ.get("POD_NAME") or socket.gethostname()
