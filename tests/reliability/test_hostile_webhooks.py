"""Hostile input over HTTP: every HTTP case of the corpus (hostilehttp.py) is a test.

The cases send raw bytes to the real app served by uvicorn on loopback: each is
refused (or left unanswered), the fake daemon behind it is never called, and the
server keeps serving everyone else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from reconciler.interfaces import http
from tests.reliability import hostilehttp
from tests.reliability.hostilehttp import HttpCase, _signer, exchange
from tests.support.fakedaemon import SECRET, FakeDaemon

HTTP_CASES = hostilehttp.all_http_cases()


# -- HTTP ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def webhook_server() -> Iterator[tuple[int, FakeDaemon]]:
    backend = FakeDaemon()
    app = http.create_app(backend, webhook_secret=SECRET, max_body=hostilehttp.LIMIT)
    server, thread = http.serve(app, "127.0.0.1", 0)
    try:
        yield server.config.port, backend
    finally:
        http.shutdown(server, thread)


def still_serving(port: int) -> None:
    code, _, sock = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: r\r\nConnection: close"
                                   b"\r\n\r\n")
    sock.close()
    assert code == 200
    body = b'{"ref": "refs/heads/main"}'
    code, _, sock = exchange(port, hostilehttp._post("/hooks/git", body, _signer))
    sock.close()
    assert code == 202


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c.name for c in HTTP_CASES])
def test_webhook_case(case: HttpCase, webhook_server: tuple[int, FakeDaemon]) -> None:
    port, backend = webhook_server
    candidates = set(backend.candidates)
    wait = 0.5 if case.expect == 0 else 5.0
    code, received, sock = exchange(port, case.request(_signer), half_close=case.half_close,
                                    wait=wait)
    try:
        if case.expect == 0:
            # Nothing to answer (or a 400 to a client already gone); meanwhile the
            # server serves everyone else.
            assert code in (0, 400), received
            still_serving(port)
        else:
            assert code == case.expect, received
            if case.detail:
                detail = json.loads(received.partition(b"\r\n\r\n")[2])["detail"]
                assert case.detail in detail and "\n" not in detail, detail
            if case.closes:  # the framing was ambiguous: the connection ends here
                assert sock.recv(1) == b""
    finally:
        sock.close()
    assert backend.candidates == candidates
    still_serving(port)
