"""A test-hook receiver on loopback: what a Flagger load tester or smoke-test service is.

Real sockets (``http.server``): it records every POST (path, headers, body, time) and
answers with the next status of a script (the last one repeats), optionally after a
delay, so tests can make a hook fail, pass, or time out. It checks nothing itself:
the tests verify the ``X-Signature`` header with ``core.hooks.verify``, as a receiver
would.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Call:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when it arrived
    status: int  # the code it was answered with

    def json(self) -> Any:
        return json.loads(self.body)


class HookServer:
    def __init__(self, codes: Sequence[int] = (200,), *, delay: float = 0.0) -> None:
        self.codes = list(codes)
        self.delay = delay
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with server._lock:
                    code = server.codes.pop(0) if len(server.codes) > 1 else server.codes[0]
                    server.calls.append(Call(self.path, dict(self.headers.items()), body,
                                             time.time(), code))
                if server.delay:
                    time.sleep(server.delay)
                payload = f"answer {code}".encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the caller gave up (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a slow answer never holds up a test
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, *codes: int) -> None:
        """Answer with ``codes`` from now on (the last one repeats)."""
        with self._lock:
            self.codes = list(codes)

    def received(self, path: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if path is None or c.path == path]

    def start(self) -> HookServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def serving(codes: Sequence[int] = (200,), *, delay: float = 0.0) -> Iterator[HookServer]:
    server = HookServer(codes, delay=delay).start()
    try:
        yield server
    finally:
        server.stop()
