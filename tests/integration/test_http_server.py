"""The HTTP app served by a real uvicorn server on loopback, over a fake daemon
(tests/support/fakedaemon.py): it serves, refuses, shuts down cleanly, and carries on
when a client hangs up mid-body."""

from __future__ import annotations

import gc
import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from reconciler.errors import PermanentError
from reconciler.interfaces import http
from reconciler.interfaces.metrics import Metrics
from tests.support.fakedaemon import SECRET, FakeDaemon, release_body, sign


def test_serve_on_loopback_and_shut_down(daemon: FakeDaemon) -> None:
    server, thread = http.serve(http.create_app(daemon, webhook_secret=SECRET), "127.0.0.1", 0)
    port = server.config.port
    base = f"http://127.0.0.1:{port}"
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as resp:
            assert (resp.status, json.load(resp)) == (200, {"alive": True})
        body = release_body()
        request = urllib.request.Request(f"{base}/hooks/release", data=body, method="POST",
                                         headers={"X-Signature": sign(body),
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert (resp.status, json.load(resp)) == (202, {"accepted": True, "new": True})
        bad = urllib.request.Request(f"{base}/hooks/release", data=body, method="POST",
                                     headers={"X-Signature": sign(body, b"wrong")})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bad, timeout=5)
        with refused.value as error:
            assert error.code == 401
        with pytest.raises(PermanentError, match=f"cannot listen on 127.0.0.1:{port}"):
            http.serve(http.create_app(daemon, webhook_secret=None), "127.0.0.1", port)
    finally:
        http.shutdown(server, thread)
    assert not thread.is_alive()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port),
                                                                          timeout=2):
        pass
    gc.collect()  # an unclosed socket would surface here as a ResourceWarning


def test_a_client_hanging_up_mid_body_is_logged_and_the_server_carries_on(
        daemon: FakeDaemon, caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    app = http.create_app(daemon, webhook_secret=SECRET, metrics=metrics)
    server, thread = http.serve(app, "127.0.0.1", 0)
    try:
        with socket.create_connection(("127.0.0.1", server.config.port), timeout=5) as conn:
            conn.sendall(b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                         b"X-Signature: sha256=00\r\n\r\n{\"ref\": ")
        deadline = time.monotonic() + 5
        while metrics.registry.get_sample_value("reconciler_webhook_requests_total",
                                                {"endpoint": "git", "code": "400"}) != 1.0:
            assert time.monotonic() < deadline, "the hang-up was not counted"
            time.sleep(0.01)
        with urllib.request.urlopen(f"http://127.0.0.1:{server.config.port}/healthz",
                                    timeout=5) as resp:
            assert resp.status == 200
    finally:
        http.shutdown(server, thread)
    assert "client disconnected before sending the whole body" in caplog.text
    assert daemon.fetches == 0
