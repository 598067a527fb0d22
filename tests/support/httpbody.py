"""Reading an HTTP/1.1 request body in a ``BaseHTTPRequestHandler``: by its
``Content-Length``, or chunk by chunk (RFC 9112 §7.1) when it is sent chunked, as
git and libgit2 send large requests."""

from __future__ import annotations

import http.server


def read(handler: http.server.BaseHTTPRequestHandler) -> bytes:
    """The whole body of the request ``handler`` is answering (b"" when none)."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""
