"""The emulator's HTTP server and its Python test hooks.

``Emulator`` serves the Kubernetes REST API on loopback (``http.server``, one thread
per connection, HTTP/1.1 keep-alive, chunked watch streams) so that the official
``kubernetes`` client, ``kubectl`` and the reconciler talk to it exactly as they
talk to kube-apiserver. Routing is in ``api``, storage rules in ``store``.

Hooks for tests and the demo (all thread-safe)::

    with Emulator() as server:                # start() on a free port, stop() on exit
        server.url, server.write_kubeconfig(path)
        server.apply(obj); server.set_status(...); server.objects(...)   # act as Flux
        server.compact()                      # old resourceVersions now get 410
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

import contextlib
import json
import logging
import select
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from queue import Empty
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from reconciler.emulator import api
from reconciler.emulator.resources import Registry, Resource
from reconciler.emulator.store import ApiError, Change, Obj, Store, Subscription, status_body

__all__ = ["Emulator", "LoggedRequest"]

log = logging.getLogger(__name__)

_TICK = 0.05  # how often a watch stream checks for stop, drops and a vanished client


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


class _HTTPServer(ThreadingHTTPServer):
    """Tracks its connections so ``close_all`` can end them and join their threads."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self.stopping = threading.Event()
        self.drops = 0  # bumped by drop_watches; a stream that sees it change ends
        self._conn_lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self.streaming: set[threading.Thread] = set()  # connections serving a watch
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        t = threading.Thread(target=self._serve, args=(request, client_address), daemon=True,
                             name=f"emulator-conn-{client_address[1]}")
        with self._conn_lock:
            self._connections[request] = t
        t.start()

    def _serve(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # a broken client must not take the server down
            log.debug("emulator: connection from %s failed", client_address, exc_info=True)
        finally:
            with self._conn_lock:
                self._connections.pop(request, None)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("emulator: error serving %s", client_address, exc_info=True)

    def close_all(self, timeout: float) -> None:
        """End watch streams politely, then cut idle keep-alive connections; join."""
        deadline = time.monotonic() + timeout
        self.stopping.set()
        self.emulator.store.close_watches()
        with self._conn_lock:
            streams = list(self.streaming)
        for t in streams:  # watch streams notice ``stopping`` within one tick
            t.join(max(0.0, min(1.0, deadline - time.monotonic())))
        with self._conn_lock:
            conns = list(self._connections.items())
        for sock, _ in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _, t in conns:
            t.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    timeout = 120  # an idle keep-alive connection is closed after this many seconds
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("emulator: " + format, *args)

    def _handle(self, method: str) -> None:
        emu = self.server.emulator
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = [unquote(p) for p in url.path.strip("/").split("/") if p != ""]
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        req = api.Request(method, parts, query, content_type, body)
        entry = emu._record(method, url.path, query, api.verb(req))
        if emu.latency > 0:
            self.server.stopping.wait(emu.latency)
        refused = emu._refusal(entry, self.headers.get("Authorization"))
        reply = refused or api.dispatch(emu.store, emu.registry, req)
        if isinstance(reply, api.WatchReply):
            entry.code = 200
            self._stream(reply)
        else:
            entry.code = reply.code
            self._send(reply)

    def _send(self, reply: api.Reply) -> None:
        if isinstance(reply.body, str):
            data, ctype = reply.body.encode(), "text/plain; charset=utf-8"
        else:
            data, ctype = json.dumps(reply.body).encode(), "application/json"
        self.send_response(reply.code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # -- watch streams -------------------------------------------------------

    def _stream(self, watch: api.WatchReply) -> None:
        me = threading.current_thread()
        with self.server._conn_lock:
            self.server.streaming.add(me)
        try:
            self._stream_events(watch)
        finally:
            with self.server._conn_lock:
                self.server.streaming.discard(me)

    def _stream_events(self, watch: api.WatchReply) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        emu = self.server.emulator
        clean = True
        try:
            if watch.error is not None or watch.sub is None:
                self._event("ERROR", watch.error or status_body(500, "watch failed"))
                return
            clean = self._pump(watch, watch.sub)
        except OSError:  # the client went away
            clean = False
        finally:
            if watch.sub is not None:
                emu.store.unsubscribe(watch.sub)
            if clean:
                with contextlib.suppress(OSError):
                    self.wfile.write(b"0\r\n\r\n")
            else:
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

    def _pump(self, watch: api.WatchReply, sub: Subscription) -> bool:
        """Send events until the timeout, a stop or a drop; True for a clean end."""
        srv, store = self.server, self.server.emulator.store
        drops = srv.drops
        start = time.monotonic()
        deadline = start + watch.timeout if watch.timeout else None
        interval = self.server.emulator.bookmark_interval
        next_bookmark = start + interval if watch.bookmarks and interval > 0 else None
        for first in sub.initial:
            self._send_change(watch, first)
        after = sub.after
        while True:
            ended = self._ended(drops, deadline)
            if ended is not None:
                return ended
            now = time.monotonic()
            wait = _TICK if deadline is None else max(0.0, min(_TICK, deadline - now))
            try:
                change: Change | None = sub.queue.get(timeout=wait)
            except Empty:
                pass
            else:
                if change is None:
                    return True
                # Checked again so that a write made after pause() or drop_watches()
                # returned is never sent on the stream being cut.
                ended = self._ended(drops, deadline)
                if ended is not None:
                    return ended
                if change.rv > after:
                    self._send_change(watch, change)
                continue
            if next_bookmark is not None and time.monotonic() >= next_bookmark:
                rv = store.bookmark(sub)
                if rv is not None:
                    self._event("BOOKMARK", {"kind": watch.res.kind,
                                             "apiVersion": watch.res.api_version,
                                             "metadata": {"resourceVersion": rv}})
                    next_bookmark = time.monotonic() + interval
            if self._client_gone():
                return False

    def _ended(self, drops: int, deadline: float | None) -> bool | None:
        """None while the stream should go on; True to end it cleanly (stop, timeout),
        False to cut it (drop_watches, pause)."""
        srv = self.server
        if srv.stopping.is_set():
            return True
        if srv.drops != drops or srv.emulator._paused is not None:
            return False
        if deadline is not None and time.monotonic() >= deadline:
            return True
        return None

    def _send_change(self, watch: api.WatchReply, change: Change) -> None:
        seen = watch.flt.view(change)
        if seen is not None:
            type_, obj = seen
            self._event(type_, {**obj, "apiVersion": watch.res.api_version})

    def _event(self, type_: str, obj: Obj) -> None:
        line = json.dumps({"type": type_, "object": obj}).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True


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
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lifecycle = threading.Lock()

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> Emulator:
        """Listen (again) on the same host and port; objects and history survive."""
        with self._lifecycle:
            if self._httpd is not None:
                return self
            httpd = _HTTPServer((self.host, self.port), self)
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
        no API server behind it); open watches are cut. Requests are still logged."""
        self._paused = status

    def resume(self) -> None:
        self._paused = None

    def drop_watches(self) -> None:
        """Cut every open watch stream mid-flight (clients see an incomplete response)."""
        httpd = self._httpd
        if httpd is not None:
            httpd.drops += 1

    def compact(self) -> None:
        self.store.compact()

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

    def _record(self, method: str, path: str, query: dict[str, str],
                verb: str) -> LoggedRequest:
        entry = LoggedRequest(time.monotonic(), method, path, query, verb)
        with self._log_lock:
            self.request_log.append(entry)
        return entry

    def _refusal(self, entry: LoggedRequest, authorization: str | None) -> api.Reply | None:
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
