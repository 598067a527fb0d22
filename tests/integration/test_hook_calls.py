"""Calling test hooks over real sockets: ``adapters.hooks.Caller`` against a loopback
receiver (tests/support/hookserver.py). The body is the payload, ``X-Signature``
verifies with the secret from the file (read again when it is rotated), a slow hook
is cut off at its timeout, a non-2xx and a refused connection are failures, and a
redirect is not followed."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.adapters import hooks as calls
from reconciler.core import hooks
from reconciler.core.hooks import Context, Hook
from reconciler.errors import InputError
from tests.support.hookserver import serving

CTX = Context(rollout="apps/podinfo", release="6.5.0", previous="6.4.0")
CTX_TIME = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def test_the_call_is_signed_and_carries_the_payload(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"first-secret\n")
    caller = calls.Caller(secret=calls.SecretFile(secret))
    with serving([200]) as server:
        hook = Hook(name="smoke", type="pre-rollout", url=f"{server.url}/smoke",
                    metadata={"cmd": "curl http://podinfo-canary"})
        body = hooks.payload(hook, CTX)
        answer = caller.call(hook, body)
        assert answer == hooks.Answer(200, "answer 200")
        [call] = server.received("/smoke")
        assert call.body == body
        assert call.json()["release"] == "6.5.0" and call.json()["phase"] == "Progressing"
        assert call.headers["Content-Type"] == "application/json"
        assert hooks.verify(b"first-secret", call.body, call.headers["X-Signature"])

        time.sleep(0.01)  # a new mtime even on coarse clocks
        secret.write_bytes(b"rotated-secret-longer\n")
        caller.call(hook, body)
        second = server.received("/smoke")[1]
        assert hooks.verify(b"rotated-secret-longer", second.body, second.headers["X-Signature"])
        assert not hooks.verify(b"first-secret", second.body, second.headers["X-Signature"])
    caller.close()


def test_without_a_secret_no_signature_is_sent() -> None:
    with serving([204]) as server:
        caller = calls.Caller()
        hook = Hook(name="n", url=server.url)
        assert caller.call(hook, hooks.payload(hook, CTX)).code == 204
        assert "X-Signature" not in server.received()[0].headers
        caller.close()


def test_non_2xx_timeout_refused_and_redirect_are_all_failures() -> None:
    caller = calls.Caller()
    with serving([500]) as server:
        hook = Hook(name="smoke", type="pre-rollout", url=server.url)
        outcome = hooks.judge(hook, CTX, caller.call(hook, b"{}"), CTX_TIME)
        assert (outcome.result, outcome.code) == ("Failed", 500)
        assert outcome.message == "pre-rollout hook smoke answered HTTP 500: answer 500"
    with serving([302]) as server:
        answer = caller.call(Hook(name="r", url=server.url), b"{}")
        assert answer.code == 302 and len(server.received()) == 1  # not followed
    with serving([200], delay=3.0) as server:
        slow = Hook(name="slow", url=server.url, timeout="500ms")
        started = time.monotonic()
        answer = caller.call(slow, b"{}")
        assert time.monotonic() - started < 2.0
        assert answer == hooks.Answer(None, "no answer within 0.5s")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens
    answer = caller.call(Hook(name="gone", url=f"http://127.0.0.1:{port}/"), b"{}")
    assert answer.code is None and answer.detail.startswith("ConnectError")
    caller.close()


def test_a_missing_or_empty_secret_file_is_a_clear_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"--hook-secret-file .*nope: No such file"):
        calls.SecretFile(tmp_path / "nope").read()
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(InputError, match="the file is empty"):
        calls.SecretFile(tmp_path / "empty").read()
    assert "secret" not in repr(calls.SecretFile(tmp_path / "empty")).replace(
        str(tmp_path), "")
