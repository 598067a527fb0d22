"""The hostile-input corpus (hostile.py), HTTP cases: raw bytes on a socket to the
webhook server (uvicorn, the real app): bodies that lie about their size, malformed
framing, hostile tags. The answer is a refusal and the server keeps serving.

``exchange`` sends a case's bytes and reads the first answer; ``_signer`` signs with
the webhook secret of tests/support/fakedaemon.py.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass

from tests.reliability.hostile import HOSTILE_TAGS, Tag
from tests.support.fakedaemon import sign

Sign = Callable[[bytes], str]


@dataclass(frozen=True)
class HttpCase:
    """Raw bytes for one connection to the webhook server, and the answer.

    ``request(sign)`` builds the bytes (``sign`` gives ``sha256=<hex>`` for a body).
    ``expect``: the status code of the first response, or 0 when the server must
    answer nothing while the client keeps the connection open (it must still serve
    others). ``covered_by`` names the test of the app in
    tests/integration/test_http_webhooks.py (test_http_server.py for the hang-up) that
    checks the same refusal through the ASGI test client (not the wire).
    """

    name: str
    what: str
    request: Callable[[Sign], bytes]
    expect: int
    detail: str = ""
    covered_by: str = ""
    half_close: bool = False  # shut the write side after sending (a client hanging up)
    closes: bool = False  # the server must close the connection after answering


def _post(path: str, body: bytes, sign: Sign, *, headers: str | None = None,
          length: str | None = None, signed: bytes | None = None) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: reconciler\r\nContent-Type: application/json\r\n"
            f"X-Signature: {sign(body if signed is None else signed)}\r\n")
    if headers is not None:
        head += headers
    if length is not None:
        head += f"Content-Length: {length}\r\n" if length else ""
    else:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode("latin-1") + b"\r\n" + body


def _release(tag: str) -> bytes:
    return json.dumps({"rollout": "apps/podinfo", "tag": tag}).encode()


LIMIT = 4096  # the body limit the test server runs with
_PADDED = b'{"padding": "' + b"x" * (LIMIT * 4) + b'"}'


def _chunked(chunks: list[bytes], sign: Sign, *, sizes: list[int] | None = None) -> bytes:
    body = b"".join(chunks)
    head = (f"POST /hooks/git HTTP/1.1\r\nHost: reconciler\r\nX-Signature: {sign(body)}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    framed = b"".join(b"%x\r\n%s\r\n" % (size, chunk) for size, chunk in
                      zip(sizes or [len(c) for c in chunks], chunks, strict=True))
    return head + framed + b"0\r\n\r\n"


HTTP_CASES: tuple[HttpCase, ...] = (
    HttpCase("length-declares-over-the-limit", "Content-Length: 1 GiB, nothing sent",
             lambda s: _post("/hooks/git", b"", s, length=str(1 << 30)), 413,
             "over the limit", "test_too_large_by_content_length_is_413"),
    HttpCase("length-lies-short", "Content-Length: 20, 16 KiB sent",
             lambda s: _post("/hooks/git", _PADDED, s, length="20"), 401,
             "does not match the body", "test_too_large_with_a_lying_content_length_is_413"),
    HttpCase("length-lies-long-then-hangs-up", "Content-Length: 1000, 10 bytes, then EOF",
             lambda s: _post("/hooks/git", b'{"ref": 1}', s, length="1000"), 0,
             covered_by="test_a_client_hanging_up_mid_body_is_logged_and_the_server_"
                        "carries_on", half_close=True),
    HttpCase("length-lies-long-and-stalls", "Content-Length: 1000, 10 bytes, then silence",
             lambda s: _post("/hooks/git", b'{"ref": 1}', s, length="1000"), 0),
    HttpCase("length-huge-number", "Content-Length: 30 digits (refused by the HTTP parser)",
             lambda s: _post("/hooks/git", b"{}", s, length="9" * 30), 400),
    HttpCase("length-negative", "Content-Length: -1",
             lambda s: _post("/hooks/git", b"{}", s, length="-1"), 400,
             covered_by="test_content_length_not_a_number_is_400"),
    HttpCase("length-twice-differing", "two Content-Length headers, 2 and 200",
             lambda s: _post("/hooks/git", b"{}", s, headers="Content-Length: 200\r\n"), 400),
    HttpCase("length-and-chunked", "Content-Length and Transfer-Encoding: chunked together "
             "(request smuggling)",
             lambda s: _post("/hooks/git", b"2\r\n{}\r\n0\r\n\r\n", s, signed=b"{}",
                             headers="Transfer-Encoding: chunked\r\n"), 400,
             "both Content-Length and Transfer-Encoding", closes=True),
    HttpCase("chunked-over-the-limit", "chunked, 16 KiB in 1 KiB chunks",
             lambda s: _chunked([b'{"p": "', *[b"x" * 1024] * 16, b'"}'], s), 413,
             "over the limit", "test_too_large_chunked_is_413"),
    HttpCase("chunk-size-lies-short", "a chunk header saying 1 byte before 3",
             lambda s: _chunked([b"{}\n"], s, sizes=[1]), 400),
    HttpCase("chunk-size-lies-long", "a chunk header saying 0x10 bytes before 3, then "
             "silence", lambda s: _chunked([b"{}\n"], s, sizes=[16]), 0),
    HttpCase("body-of-100k-brackets", "a signed body of 100,000 '[' (over the 4 KiB limit)",
             lambda s: _post("/hooks/git", b"[" * 100_000, s), 413, "over the limit"),
    HttpCase("json-nested-deep-within-limit", "a signed body of 4,000 '[' (within the limit)",
             lambda s: _post("/hooks/git", b"[" * 2000 + b"]" * 2000, s), 400,
             "body is not JSON", "test_bad_body_is_400"),
    HttpCase("release-rollout-traversal", '{"rollout": "../../etc/passwd", ...}',
             lambda s: _post("/hooks/release", json.dumps(
                 {"rollout": "../../etc/passwd", "tag": "6.5.0"}).encode(), s), 400,
             "rollout: Value error", "test_bad_body_is_400"),
    HttpCase("no-signature", "a release hook without a signature header",
             lambda s: _post("/hooks/release", _release("6.5.0"), s).replace(
                 b"X-Signature", b"X-Whatever"), 401, "no signature",
             "test_missing_signature_is_401"),
)


def hostile_tag_http_case(tag: Tag) -> HttpCase:
    # JSON escapes the tag; the refusal repeats it escaped, on one line.
    return HttpCase(f"release-tag-{tag.name}", f"/hooks/release with tag {tag.shown}",
                    lambda s, t=tag.value: _post("/hooks/release", _release(t), s), 400,
                    tag.why, "test_invalid_tag_is_400_with_the_reason")


def all_http_cases() -> tuple[HttpCase, ...]:
    return HTTP_CASES + tuple(hostile_tag_http_case(t) for t in HOSTILE_TAGS)


def _signer(body: bytes) -> str:
    return sign(body)


def exchange(port: int, data: bytes, *, half_close: bool = False,
             wait: float = 5.0) -> tuple[int, bytes, socket.socket]:
    """Send ``data``; the status code of the first response (0: none within ``wait``
    seconds, or the connection closed without one), the bytes read, the socket."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=wait)
    sock.sendall(data)
    if half_close:
        sock.shutdown(socket.SHUT_WR)
    received = b""
    try:
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    except TimeoutError:
        pass
    code = int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.1 ") else 0
    if code and b"content-length:" in received.lower():
        head, _, body = received.partition(b"\r\n\r\n")
        length = int(next(ln.split(b":", 1)[1] for ln in head.split(b"\r\n")
                          if ln.lower().startswith(b"content-length:")))
        try:
            while len(body) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
        except TimeoutError:
            pass
        received = head + b"\r\n\r\n" + body
    return code, received, sock
