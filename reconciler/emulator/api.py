"""Request routing: from an HTTP method, path and query to a store call and a reply.

Transport-free (``server`` owns the sockets), so the mapping of Kubernetes verbs to
URLs lives in one readable place:

    GET    .../{plural}                 list (watch with ?watch=true|1)
    POST   .../{plural}                 create → 201
    GET    .../{plural}/{name}          get
    PUT    .../{plural}/{name}          update (resourceVersion precondition)
    PATCH  .../{plural}/{name}          merge, JSON or strategic-merge patch
    DELETE .../{plural}/{name}          delete → 200 with the object
    GET|PUT|PATCH .../{name}/status     the status subresource

plus enough discovery (``/api``, ``/apis``, ``/api/v1``, ``/apis/{group}/{version}``,
``/version``, ``/healthz``) for ``kubectl get`` to work against the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.core import selectors
from reconciler.emulator.resources import Registry, Resource, Route, route
from reconciler.emulator.status import ApiError, Obj
from reconciler.emulator.store import Store
from reconciler.emulator.watches import Subscription, WatchFilter, parse_fields
from reconciler.errors import InvalidSelector

__all__ = ["Reply", "Request", "WatchReply", "dispatch", "verb"]

# What ``kubectl get ns`` and friends resolve through discovery.
SHORT_NAMES = {"namespaces": ("ns",), "events": ("ev",), "configmaps": ("cm",),
               "serviceaccounts": ("sa",), "services": ("svc",), "pods": ("po",),
               "nodes": ("no",), "kustomizations": ("ks",), "gitrepositories": ("gitrepo",),
               "ocirepositories": ("ocirepo",), "helmreleases": ("hr",)}
KUBERNETES_VERSION = {"major": "1", "minor": "31", "gitVersion": "v1.31.0-reconciler-emulator",
                      "platform": "python"}


@dataclass(frozen=True)
class Request:
    method: str
    parts: list[str]  # unquoted path segments, without the leading empty one
    query: Mapping[str, str]
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Reply:
    code: int
    body: Obj | str


@dataclass(frozen=True)
class WatchReply:
    """Start a watch stream; ``error`` instead of events when it cannot start (410)."""

    res: Resource
    flt: WatchFilter
    sub: Subscription | None
    timeout: float | None
    bookmarks: bool
    error: Obj | None = None


def _is_watch(req: Request) -> bool:
    return req.query.get("watch", "").lower() in ("true", "1")


def verb(req: Request) -> str:
    """The Kubernetes verb of a request (as audit logs and RBAC name it)."""
    r = route(req.parts)
    if r is None:
        return req.method.lower()
    collection = r.name is None
    return {
        "GET": ("watch" if _is_watch(req) else "list") if collection else "get",
        "POST": "create", "PUT": "update", "PATCH": "patch",
        "DELETE": "deletecollection" if collection else "delete",
    }.get(req.method, req.method.lower())


def dispatch(store: Store, registry: Registry, req: Request) -> Reply | WatchReply:
    try:
        found = _discovery(registry, req)
        if found is not None:
            return found
        r = route(req.parts)
        if r is None:
            raise ApiError(404, "the server could not find the requested resource")
        return _resource(store, registry.lookup(r.group, r.version, r.plural), r, req)
    except ApiError as exc:
        return Reply(exc.code, exc.body)


def _resource(store: Store, res: Resource, r: Route, req: Request) -> Reply | WatchReply:
    if r.subresource not in (None, "status") or (r.subresource and r.name is None):
        raise ApiError(404, "the server could not find the requested resource")
    if (not res.namespaced and r.namespace is not None) or (
            res.namespaced and r.namespace is None and r.name is not None):
        raise ApiError(404, "the server could not find the requested resource")
    if r.name is None:
        if req.method == "GET":
            flt = WatchFilter(r.namespace, _labels(req), parse_fields(
                req.query.get("fieldSelector", ""), res))
            if _is_watch(req):
                return _watch(store, res, flt, req)
            items, rv = store.list(res, flt)
            return Reply(200, {"kind": f"{res.kind}List", "apiVersion": res.api_version,
                               "metadata": {"resourceVersion": rv}, "items": items})
        if req.method == "POST":
            return Reply(201, store.create(res, r.namespace, _json(req)))
        raise ApiError(405, f"{req.method} is not supported on a collection of "
                            f"{res.qualified} by this emulator")
    sub = r.subresource
    if req.method == "GET":
        return Reply(200, store.get(res, r.namespace, r.name))
    if req.method == "PUT":
        return Reply(200, store.update(res, r.namespace, r.name, _json(req), subresource=sub))
    if req.method == "PATCH":
        return Reply(200, store.patch(res, r.namespace, r.name, req.content_type, _json(req),
                                      subresource=sub))
    if req.method == "DELETE" and sub is None:
        options = _json(req) if req.body.strip() else None
        return Reply(200, store.delete(res, r.namespace, r.name, options))
    raise ApiError(405, f"{req.method} is not supported here")


def _watch(store: Store, res: Resource, flt: WatchFilter, req: Request) -> WatchReply:
    timeout = None
    if req.query.get("timeoutSeconds"):
        try:
            timeout = float(int(req.query["timeoutSeconds"]))
        except ValueError:
            raise ApiError(400, "timeoutSeconds must be an integer") from None
    bookmarks = req.query.get("allowWatchBookmarks", "").lower() in ("true", "1")
    try:
        sub = store.subscribe(res, flt, req.query.get("resourceVersion"))
    except ApiError as exc:
        if exc.code != 410:
            raise
        # Real servers answer 200 and put the 410 in the stream as an ERROR event.
        return WatchReply(res, flt, None, timeout, bookmarks, error=exc.body)
    return WatchReply(res, flt, sub, timeout, bookmarks)


def _labels(req: Request) -> selectors.LabelSelector:
    try:
        return selectors.parse(req.query.get("labelSelector", ""))
    except InvalidSelector as exc:
        raise ApiError(400, f"unable to parse requirement: {exc}") from exc


def _json(req: Request) -> object:
    try:
        return json.loads(req.body or b"null")
    except ValueError as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from exc


def _discovery(registry: Registry, req: Request) -> Reply | None:
    if req.method != "GET":
        return None
    parts = req.parts
    if parts in (["healthz"], ["readyz"], ["livez"]):
        return Reply(200, "ok")
    if parts == ["version"]:
        return Reply(200, dict(KUBERNETES_VERSION))
    if parts == ["api"]:
        return Reply(200, {"kind": "APIVersions", "versions": ["v1"],
                           "serverAddressByClientCIDRs": []})
    groups: dict[str, list[str]] = {}
    for res in registry.all():
        if res.group:
            versions = groups.setdefault(res.group, [])
            if res.version not in versions:
                versions.append(res.version)
    if parts == ["apis"]:
        return Reply(200, {"kind": "APIGroupList", "apiVersion": "v1",
                           "groups": [_group(name, vs) for name, vs in sorted(groups.items())]})
    if len(parts) == 2 and parts[0] == "apis" and parts[1] in groups:
        return Reply(200, {"kind": "APIGroup", "apiVersion": "v1",
                           **_group(parts[1], groups[parts[1]])})
    if parts == ["api", "v1"] or (len(parts) == 3 and parts[0] == "apis"
                                  and parts[2] in groups.get(parts[1], [])):
        group, version = ("", "v1") if parts[0] == "api" else (parts[1], parts[2])
        return Reply(200, _resource_list(registry, group, version))
    return None


def _group(name: str, versions: list[str]) -> Obj:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    # Like kube-apiserver: prefer GA over beta over alpha, then the highest number.
    preferred = max(listed, key=lambda v: _version_rank(v["version"]))
    return {"name": name, "versions": listed, "preferredVersion": preferred}


def _version_rank(version: str) -> tuple[int, int, int]:
    head, _, tail = version[1:].partition("alpha") if "alpha" in version else (
        version[1:].partition("beta") if "beta" in version else (version[1:], "", ""))
    stability = 0 if "alpha" in version else 1 if "beta" in version else 2
    return stability, int(head or 0), int(tail or 0)


def _resource_list(registry: Registry, group: str, version: str) -> Obj:
    verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
    resources: list[Obj] = []
    for res in registry.all():
        if (res.group, res.version) != (group, version):
            continue
        entry: Obj = {"name": res.plural, "singularName": res.singular,
                      "namespaced": res.namespaced, "kind": res.kind, "verbs": verbs}
        if res.plural in SHORT_NAMES:
            entry["shortNames"] = list(SHORT_NAMES[res.plural])
        resources.append(entry)
        if res.status_subresource:
            resources.append({"name": f"{res.plural}/status", "singularName": "",
                              "namespaced": res.namespaced, "kind": res.kind,
                              "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": _gv(group, version), "resources": resources}


def _gv(group: str, version: str) -> str:
    return version if not group else f"{group}/{version}"
