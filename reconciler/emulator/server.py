"""The emulator's HTTP server and its Python test hooks.

``Emulator`` serves the Kubernetes REST API on loopback (``http.server``, one thread
per connection, HTTP/1.1 keep-alive, chunked watch streams) so that the official
``kubernetes`` client, ``kubectl`` and the reconciler talk to it exactly as they
talk to kube-apiserver. Connections and watch streams are in ``handler``, routing
in ``api``, storage rules in ``store``; this module is the lifecycle and the hooks.

Hooks for tests and the demo (all thread-safe)::

    with Emulator() as server:                # start() on a free port, stop() on exit
        server.url, server.write_kubeconfig(path)
        server.apply(obj); server.set_status(...); server.objects(...)   # act as Flux
        server.compact()                      # old resourceVersions now get 410
        server.expire_watches()               # every watch is cut; resuming gets 410
        server.drop_watches()                 # cut every open watch stream
        server.stop(); server.start()         # the API server goes away, comes back
        server.pause(); server.resume()       # reachable, but every request gets 503
        server.fail_next(403, verb="patch")   # inject errors
        server.latency = 0.2                  # slow every request down
        server.request_log, server.count(verb="watch")

Shutdown is clean: ``stop`` ends every watch stream, closes every connection and
joins every thread it started, so tests running with warnings as errors see no
ResourceWarning.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from reconciler.emulator import api, structural
from reconciler.emulator.handler import HTTPServer
from reconciler.emulator.resources import Registry, Resource
from reconciler.emulator.status import ApiError, Obj, status_body
from reconciler.emulator.store import Store

__all__ = ["Emulator", "LoggedRequest"]

log = logging.getLogger(__name__)


@dataclass
class LoggedRequest:
    """One request as the emulator saw it; ``code`` is 0 until it is answered."""

    time: float
    method: str
    path: str
    query: dict[str, str]
    verb: str
    code: int = 0


@dataclass
class _Failure:
    code: int
    times: int
    verb: str | None
    path: str | None
    message: str | None


class Emulator:
    """A Kubernetes API server in-process, on loopback, for tests and the demo.

    ``token``: when set, requests must carry ``Authorization: Bearer <token>`` (401
    otherwise). ``strict_namespaces``: refuse objects in namespaces that do not exist
    (kube-apiserver does; off by default so tests need not create them).
    ``bookmark_interval``: seconds between BOOKMARK events on watches that allow them.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, history_limit: int = 1000,
                 bookmark_interval: float = 5.0, token: str | None = None,
                 strict_namespaces: bool = False) -> None:
        self.host, self.port = host, port
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.latency = 0.0
        self.registry = Registry()
        self.store = Store(self.registry, history_limit=history_limit,
                           strict_namespaces=strict_namespaces)
        self.request_log: list[LoggedRequest] = []
        self._log_lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._paused: int | None = None
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lifecycle = threading.Lock()

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> Emulator:
        """Listen (again) on the same host and port; objects and history survive."""
        with self._lifecycle:
            if self._httpd is not None:
                return self
            httpd = HTTPServer((self.host, self.port), self)
            self.port = httpd.server_address[1]
            self._httpd = httpd
            self._thread = threading.Thread(target=httpd.serve_forever, kwargs={
                "poll_interval": 0.05}, name=f"emulator-{self.port}", daemon=True)
            self._thread.start()
            return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening, end every watch and connection (clients see refusals)."""
        with self._lifecycle:
            httpd, thread = self._httpd, self._thread
            self._httpd = self._thread = None
            if httpd is None:
                return
            httpd.shutdown()
            if thread is not None:
                thread.join(timeout)
            httpd.server_close()
            httpd.close_all(timeout)

    close = stop

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def pause(self, status: int = 503) -> None:
        """Stay reachable but answer every request with ``status`` (a load balancer with
        no API server behind it). Open watches are cut before this returns, so nothing
        written afterwards reaches a client until ``resume``. Requests are still logged."""
        streams = self._streams()
        self._paused = status
        self._wait_cut(streams)

    def resume(self) -> None:
        self._paused = None

    @property
    def paused(self) -> int | None:
        """The status every request gets while paused, else None."""
        return self._paused

    def drop_watches(self) -> None:
        """Cut every open watch stream mid-flight (clients see an incomplete response);
        returns once they are cut."""
        httpd = self._httpd
        if httpd is not None:
            streams = self._streams()
            httpd.drops += 1
            self._wait_cut(streams)

    def _streams(self) -> set[threading.Thread]:
        httpd = self._httpd
        return httpd.streams() if httpd is not None else set()

    def _wait_cut(self, streams: set[threading.Thread], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while streams & self._streams() and time.monotonic() < deadline:
            time.sleep(0.005)

    def compact(self) -> None:
        self.store.compact()

    def expire_watches(self) -> None:
        """Every client must relist: no resourceVersion handed out so far can be watched
        from (410 Expired, in the stream as real servers send it), and every open watch
        is cut so that its client meets that at once. Returns once they are cut."""
        self.store.expire()
        self.drop_watches()

    def watchers(self) -> int:
        """How many watch streams are open right now."""
        return self.store.watchers()

    def write_kubeconfig(self, path: Path | str, *, namespace: str | None = None,
                         token: str | None = None) -> Path:
        """Write a kubeconfig whose current context points at this emulator."""
        path = Path(path)
        q = json.dumps
        lines = [
            "apiVersion: v1", "kind: Config", "preferences: {}",
            "clusters:", "- name: emulator", "  cluster:", f"    server: {q(self.url)}",
            "users:", "- name: emulator", "  user:",
            f"    token: {q(token or self.token or 'emulator-token')}",
            "contexts:", "- name: emulator", "  context:", "    cluster: emulator",
            "    user: emulator",
            *([f"    namespace: {q(namespace)}"] if namespace else []),
            "current-context: emulator", "",
        ]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines), encoding="utf-8")
        return path

    # -- objects -------------------------------------------------------------

    def register(self, api_version: str, kind: str, plural: str, *, namespaced: bool = True,
                 status_subresource: bool | None = None) -> Resource:
        group, _, version = api_version.rpartition("/")
        res = Resource(group, version, plural, kind, namespaced=namespaced,
                       status_subresource=(status_subresource if status_subresource is not None
                                           else Resource(group, version, plural, kind).crd_like))
        return self.registry.register(res)

    def enforce(self, crd: Obj) -> Resource:
        """Validate and prune every later write of the CRD's kind against its
        ``openAPIV3Schema``, as kube-apiserver does (``structural``); objects already
        stored are pruned now, as the API server prunes what it reads from etcd."""
        api_version, kind, plural, schema = structural.from_crd(crd)
        res = self.registry.by_kind(api_version, kind)
        if res.plural != plural:
            res = self.register(api_version, kind, plural)
        self.store.admission[(res.group, res.plural)] = schema.admit
        for obj in self.objects(api_version, kind):
            self.store.apply(res, obj)
        return res

    def apply(self, obj: Obj) -> Obj:
        """Create or overwrite ``obj`` (status included, no preconditions)."""
        return self.store.apply(self.registry.by_kind(obj["apiVersion"], obj["kind"]), obj)

    def set_status(self, api_version: str, kind: str, *, namespace: str | None, name: str,
                   status: Obj) -> Obj:
        """Merge ``status`` into the object's status, as its controller would."""
        res = self.registry.by_kind(api_version, kind)
        return self.store.patch(res, namespace, name, "application/merge-patch+json",
                                {"status": status}, subresource="status")

    def get_object(self, api_version: str, kind: str, *, namespace: str | None,
                   name: str) -> Obj | None:
        try:
            return self.store.get(self.registry.by_kind(api_version, kind), namespace, name)
        except ApiError:
            return None

    def delete_object(self, api_version: str, kind: str, *, namespace: str | None,
                      name: str) -> None:
        self.store.delete(self.registry.by_kind(api_version, kind), namespace, name)

    def objects(self, api_version: str | None = None, kind: str | None = None, *,
                namespace: str | None = None) -> list[Obj]:
        """Stored objects, optionally of one kind and namespace, sorted by namespace/name."""
        found = []
        for obj in self.store.all_objects():
            meta = obj.get("metadata") or {}
            if kind is not None and obj.get("kind") != kind:
                continue
            if api_version is not None and obj.get("apiVersion", "").rpartition("/")[0] != (
                    api_version.rpartition("/")[0]):
                continue
            if namespace is not None and meta.get("namespace") != namespace:
                continue
            found.append(obj)
        return sorted(found, key=lambda o: (o.get("kind", ""), o["metadata"].get("namespace", ""),
                                            o["metadata"]["name"]))

    @property
    def resource_version(self) -> str:
        return str(self.store.resource_version)

    # -- requests ------------------------------------------------------------

    def fail_next(self, code: int, *, times: int = 1, verb: str | None = None,
                  path: str | None = None, message: str | None = None) -> None:
        """Answer the next ``times`` requests matching ``verb`` (get, list, watch,
        create, update, patch, delete) and a ``path`` substring with ``code``."""
        with self._log_lock:
            self._failures.append(_Failure(code, times, verb, path, message))

    def count(self, *, verb: str | None = None, path: str | None = None,
              since: float | None = None) -> int:
        """Requests logged with that verb, path substring, at or after ``since``
        (a ``time.monotonic()`` value)."""
        with self._log_lock:
            return sum(1 for r in self.request_log
                       if (verb is None or r.verb == verb) and (path is None or path in r.path)
                       and (since is None or r.time >= since))

    def clear_log(self) -> None:
        with self._log_lock:
            self.request_log.clear()

    def record_request(self, method: str, path: str, query: dict[str, str],
                       verb: str) -> LoggedRequest:
        entry = LoggedRequest(time.monotonic(), method, path, query, verb)
        with self._log_lock:
            self.request_log.append(entry)
        return entry

    def refusal(self, entry: LoggedRequest, authorization: str | None) -> api.Reply | None:
        """The answer to a request that must not reach the API (paused, wrong token,
        an injected failure), or None."""
        if self._paused is not None:
            return api.Reply(self._paused, status_body(
                self._paused, "the API server is unavailable (paused by the test)"))
        if self.token is not None and authorization != f"Bearer {self.token}":
            return api.Reply(401, status_body(401, "Unauthorized"))
        with self._log_lock:
            for f in self._failures:
                if f.times > 0 and (f.verb is None or f.verb == entry.verb) and (
                        f.path is None or f.path in entry.path):
                    f.times -= 1
                    return api.Reply(f.code, status_body(
                        f.code, f.message or _failure_message(f.code, entry)))
        return None


def _failure_message(code: int, entry: LoggedRequest) -> str:
    if code == 403:
        return (f'{entry.path.rsplit("/", 1)[-1]} is forbidden: User '
                f'"system:serviceaccount:default:reconciler" cannot {entry.verb} resource '
                f'at "{entry.path}"')
    return f"injected failure {code} for {entry.verb} {entry.path}"
