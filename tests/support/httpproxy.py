"""A forward HTTP proxy on loopback, the kind a corporate network puts between a
cluster and its git server, for tests of the git adapter's proxy paths.

What it does, as RFC 9110 §9.3.6 and RFC 9112 §3.2.2 describe a proxy (and as
squid and tinyproxy behave for these two cases):

* ``CONNECT host:port``: opens a TCP connection to the target, answers ``200
  Connection established`` and relays bytes both ways until either side closes
  (an ``https://`` remote: the TLS session runs end to end through the tunnel, the
  proxy sees only the host and port);
* any other method with an absolute URI (``GET http://host:port/path``): sends the
  request on to the target in origin form, without the hop-by-hop and
  ``Proxy-*`` headers (RFC 9110 §7.6.1), and returns the answer whole with a
  ``Content-Length`` (an ``http://`` remote).

A request in origin form (a client that did not use the proxy as one) gets 400,
and a target it cannot reach 502, as a real proxy answers. Every request is
recorded in ``requests`` as ``(method, target)``: ``CONNECT`` with ``host:port``,
the others with the absolute URI.

Proxy authentication, when ``serve_proxy`` is given a user and password: the Basic
scheme of RFC 9110 §11.7.1 (``Proxy-Authorization: Basic base64(user:password)``), as
squid's ``basic_ncsa_auth`` and tinyproxy's ``BasicAuth`` check it. A request without
it, or with other credentials, is answered ``407 Proxy Authentication Required`` with
``Proxy-Authenticate: Basic realm="proxy"`` (§15.5.8, §11.7.1) and a body framed by
``Content-Length``, on a connection kept open (squid's default), for CONNECT as for
the rest. Every ``Proxy-Authorization`` value received is recorded in
``authorizations`` (what a client sent the proxy); the header is never passed on.
Without credentials configured the header is dropped, never checked.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.support import httpbody

HOST = "127.0.0.1"
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate",
                         "proxy-authorization", "proxy-connection", "te", "trailer",
                         "transfer-encoding", "upgrade"})


@dataclass
class Proxy:
    url: str
    requests: list[tuple[str, str]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)

    def targets(self, method: str | None = None) -> list[str]:
        return [t for m, t in list(self.requests) if method is None or m == method]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    record: list[tuple[str, str]]
    authorizations: list[str]
    expected: str | None  # the Proxy-Authorization value that passes; None: no check


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _admitted(self) -> bool:
        """Whether the request carries the proxy's credentials (when it asks for any);
        otherwise the 407 is sent."""
        sent = self.headers.get("Proxy-Authorization")
        if sent is not None:
            self.server.authorizations.append(sent)
        if self.server.expected is None or sent == self.server.expected:
            return True
        httpbody.read(self)  # a request body, if any, is consumed: the connection stays
        body = b"proxy authentication required\n"
        self.send_response(407, "Proxy Authentication Required")
        self.send_header("Proxy-Authenticate", 'Basic realm="proxy"')
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return False

    def do_CONNECT(self) -> None:
        self.server.record.append(("CONNECT", self.path))
        if not self._admitted():
            return
        host, _, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=30)
        except (OSError, ValueError):
            self.send_error(502, "cannot reach the target")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        self._relay(self.connection, upstream)

    @staticmethod
    def _relay(client: socket.socket, upstream: socket.socket) -> None:
        sockets = [client, upstream]
        try:
            while True:
                readable, _, broken = select.select(sockets, [], sockets, 30)
                if broken or not readable:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except OSError:
            return
        finally:
            upstream.close()

    def _forward(self) -> None:
        self.server.record.append((self.command, self.path))
        if not self._admitted():
            return
        target = urlsplit(self.path)
        if target.scheme != "http" or not target.hostname:
            self.send_error(400, "a proxy needs an absolute http:// URI")
            return
        body = httpbody.read(self) or None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        path = target.path + (f"?{target.query}" if target.query else "")
        try:
            conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=60)
            conn.request(self.command, path or "/", body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()  # de-chunked by http.client
        except OSError:
            self.send_error(502, "cannot reach the target")
            return
        self.send_response(answer.status, answer.reason)
        for key, value in answer.getheaders():
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_HEAD = _forward


@contextmanager
def serve_proxy(user: str | None = None, password: str | None = None) -> Iterator[Proxy]:
    """A proxy on 127.0.0.1:<free port> for the duration of the block; with ``user``
    and ``password``, one that asks for them (Basic)."""
    server = _Server((HOST, 0), _Handler)
    proxy = Proxy(url=f"http://{HOST}:{server.server_address[1]}")
    server.record = proxy.requests
    server.authorizations = proxy.authorizations
    server.expected = None if user is None else "Basic " + base64.b64encode(
        f"{user}:{password or ''}".encode()).decode()
    thread = threading.Thread(target=server.serve_forever, name="http-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
