"""Requests to the core API group (``/api/v1``) through the official client's
``ApiClient``, without loading ``CoreV1Api``.

Where it fits: part of the cluster adapter. ``cluster.Cluster`` sends the few core
kinds the daemon works with (Namespaces, for namespace selectors, and Events) through
``CoreGroup``, and every grouped kind through the client's ``CustomObjectsApi``.

Why not ``CoreV1Api``: in kubernetes 37 its module imports the model class of every
core resource it can return (``V1Pod``, ``V1Service``... about 250 modules) as it
loads, and the daemon never builds one (it asks for raw JSON). Loading it cost 21 MiB
of the daemon's resident memory, a seventh of the whole at 1,000 rollouts
(docs/performance.md, "Daemon latency"). The requests are the ones ``CoreV1Api``
sends (``_list_namespace_serialize`` and its siblings in
``kubernetes/client/api/core_v1_api.py``): the same path, query parameters and
headers, serialised by ``ApiClient.param_serialize`` (default headers, the bearer
token or client certificate, the user agent) and sent by ``ApiClient.call_api``
over the same connection pool. As ``CoreV1Api`` does when asked for the raw answer
(``_preload_content=False``), an answer outside 2xx raises the client's
``ApiException``, and the urllib3 response is returned for the caller to read (or to
stream, for a watch: ``kubernetes.watch.Watch`` reads it line by line).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

# The list/watch options the adapter passes, by the client's keyword names, and the
# query parameter each one is (the API server's names).
_QUERY = {
    "label_selector": "labelSelector",
    "field_selector": "fieldSelector",
    "resource_version": "resourceVersion",
    "allow_watch_bookmarks": "allowWatchBookmarks",
    "timeout_seconds": "timeoutSeconds",
    "watch": "watch",
}


class CoreGroup:
    """The core group's endpoints, each a callable taking the client's keyword
    arguments (``_preload_content`` must be False: the adapter decodes JSON itself)."""

    def __init__(self, api_client: ApiClient) -> None:
        self.api_client = api_client

    def lister(self, plural: str, namespace: str | None = None) -> Callable[..., Any]:
        """List (or with ``watch=True``, watch) ``plural``, in ``namespace`` or in all."""
        return functools.partial(self.request, "GET", _path(plural, namespace))

    def reader(self, plural: str, namespace: str | None, name: str) -> Callable[..., Any]:
        return functools.partial(self.request, "GET", _path(plural, namespace, name))

    def patcher(self, plural: str, namespace: str | None, name: str,
                subresource: str = "") -> Callable[..., Any]:
        """Patch the object (or its ``subresource``); the body is the call's argument and
        ``_content_type`` says which kind of patch it is."""
        return functools.partial(self.request, "PATCH",
                                 _path(plural, namespace, name, subresource))

    def creator(self, plural: str, namespace: str | None) -> Callable[..., Any]:
        return functools.partial(self.request, "POST", _path(plural, namespace))

    def request(self, method: str, path: str, body: Any = None, *,
                _preload_content: bool = False, _request_timeout: Any = None,
                _content_type: str | None = None, **options: Any) -> Any:
        """Send one request; the urllib3 response of a 2xx answer, else ApiException."""
        if _preload_content:
            raise ValueError("CoreGroup returns raw answers only (_preload_content=False)")
        unknown = sorted(set(options) - set(_QUERY))
        if unknown:
            raise TypeError(f"unexpected argument(s) for {method} {path}: {', '.join(unknown)}")
        query = [(_QUERY[key], value) for key, value in options.items() if value is not None]
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = _content_type or "application/json"
        serialized = self.api_client.param_serialize(
            method=method, resource_path=path, query_params=query, header_params=headers,
            body=body, auth_settings=["BearerToken"])
        answer = self.api_client.call_api(*serialized, _request_timeout=_request_timeout)
        if not 200 <= answer.status <= 299:
            answer.read()  # type: ignore[no-untyped-call]
            raise ApiException.from_response(http_resp=answer, body=None, data=None)
        return answer.response


def _path(plural: str, namespace: str | None, name: str = "", subresource: str = "") -> str:
    parts = ["/api/v1"]
    if namespace:
        parts.append(f"/namespaces/{quote(namespace, safe='')}")
    parts.append(f"/{plural}")
    if name:
        parts.append(f"/{quote(name, safe='')}")
    if subresource:
        parts.append(f"/{subresource}")
    return "".join(parts)
