"""A small HTTP server on 127.0.0.1 for the notification stand-ins.

``LoopbackServer`` runs a stdlib ``ThreadingHTTPServer`` in a thread and hands each
request (method, path, headers, body bytes) to ``handle``, which returns the status,
headers and body of the answer. Used as a context manager, it stops on exit.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self


class LoopbackServer:
    """Subclasses implement ``handle``; ``url`` is where the server listens."""

    def handle(self, method: str, path: str, headers: Mapping[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError

    def start(self) -> Self:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, out = owner.handle(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                    body)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_POST = do_GET = do_PUT = _any

            def log_message(self, format: str, *args: object) -> None:
                pass  # the request line carries the webhook's secret path

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name=type(self).__name__)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None
                 ) -> None:
        self.stop()
