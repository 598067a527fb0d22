"""The HTTP side of the emulator: connections, requests, chunked watch streams.

``Emulator`` (in ``server``) owns one ``HTTPServer`` while it runs. Each connection
gets a thread; requests go through ``api.dispatch`` and answers are written with a
Content-Length, keep-alive, except watches: those are chunked JSON lines, one event
per chunk, ended by the terminating chunk (a clean end: timeout, server stop) or by
shutting the socket down mid-stream (a cut: ``drop_watches``, ``pause``, or the
client going away).

``HTTPServer.close_all`` is what makes shutdown clean: it ends watch streams,
shuts down idle keep-alive connections and joins every connection thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from queue import Empty
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from reconciler.emulator import api
from reconciler.emulator.status import Obj, status_body
from reconciler.emulator.watches import Change, Subscription

if TYPE_CHECKING:
    from reconciler.emulator.server import Emulator

__all__ = ["HTTPServer", "Handler"]

log = logging.getLogger(__name__)

_TICK = 0.05  # how often a watch stream checks for stop, drops and a vanished client


class HTTPServer(ThreadingHTTPServer):
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
        super().__init__(address, Handler)

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

    def streaming_started(self) -> None:
        with self._conn_lock:
            self.streaming.add(threading.current_thread())

    def streaming_ended(self) -> None:
        with self._conn_lock:
            self.streaming.discard(threading.current_thread())

    def streams(self) -> set[threading.Thread]:
        """The connection threads serving a watch stream right now."""
        with self._conn_lock:
            return set(self.streaming)

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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HTTPServer
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
        entry = emu.record_request(method, url.path, query, api.verb(req))
        if emu.latency > 0:
            self.server.stopping.wait(emu.latency)
        refused = emu.refusal(entry, self.headers.get("Authorization"))
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
        self.server.streaming_started()
        try:
            self._stream_events(watch)
        finally:
            self.server.streaming_ended()

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
        if srv.drops != drops or srv.emulator.paused is not None:
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
