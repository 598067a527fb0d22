"""The webhooks over a fake daemon (tests/support/fakedaemon.py): what is accepted,
every refusal (signature, body, tag, size, framing) and what the logs keep of it, and
loading the webhook secret from its file."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reconciler.errors import PermanentError
from reconciler.interfaces import http, webhookchecks
from tests.support import secretscan
from tests.support.fakedaemon import (
    LIMIT,
    SECRET,
    FakeDaemon,
    post,
    release_body,
    sign,
    signature_for,
)

# -- webhooks: accepted -----------------------------------------------------------------

@pytest.mark.parametrize("header", http.SIGNATURE_HEADERS)
def test_git_hook_fetches_now(client: TestClient, daemon: FakeDaemon, header: str) -> None:
    body = json.dumps({"ref": "refs/heads/main", "after": "abc"}).encode()
    r = post(client, "/hooks/git", body, header=header)
    assert (r.status_code, r.json()) == (202, {"accepted": True, "fetch": True,
                                              "rollout": None, "pull_request": None})
    assert daemon.fetches == 1


@pytest.mark.parametrize("header", http.SIGNATURE_HEADERS)
def test_release_hook_is_idempotent(client: TestClient, daemon: FakeDaemon,
                                    header: str) -> None:
    first = post(client, "/hooks/release", release_body(), header=header)
    assert (first.status_code, first.json()) == (202, {"accepted": True, "new": True})
    again = post(client, "/hooks/release", release_body(), header=header)
    assert (again.status_code, again.json()) == (202, {"accepted": True, "new": False})
    assert daemon.candidates == {("apps/podinfo", "6.6.0")}


def test_release_hook_ignores_extra_fields_and_accepts_upper_case_hex(
        client: TestClient, daemon: FakeDaemon) -> None:
    body = json.dumps({"rollout": "apps/podinfo", "tag": "v6.6.0-rc.1",
                       "pipeline": 1234}).encode()
    both = {"X-Hub-Signature-256": sign(body).upper().replace("SHA256=", "sha256=")}
    r = post(client, "/hooks/release", body, **both)  # and X-Signature, both must match
    assert r.status_code == 202, r.text
    assert daemon.candidates == {("apps/podinfo", "v6.6.0-rc.1")}


# -- webhooks: refused ----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/hooks/git", "/hooks/release"])
def test_missing_signature_is_401(client: TestClient, daemon: FakeDaemon, path: str) -> None:
    r = post(client, path, release_body(), header=None)
    assert r.status_code == 401
    assert "X-Hub-Signature-256 or X-Signature" in r.json()["detail"]
    assert daemon.fetches == 0 and not daemon.candidates


@pytest.mark.parametrize("header", http.SIGNATURE_HEADERS)
# Ids are given: the signatures depend on a secret made afresh per run, and pytest-xdist
# needs every worker to collect the same ids (the secret has no place in them either).
@pytest.mark.parametrize(("signature", "why"), [
    (sign(release_body(), b"not-the-secret"), "does not match"),
    (sign(release_body(tag="6.7.0")), "does not match"),  # signed another body
    (sign(release_body()).replace("sha256=", "sha1="), "sha256=<hex>"),
    (hmac.new(SECRET, release_body(), hashlib.sha256).hexdigest(), "sha256=<hex>"),
    ("sha256=", "does not match"),
    ("sha256=zz\u00e9".encode("latin-1"), "does not match"),  # not ASCII
], ids=["other-secret", "other-body", "sha1-prefix", "no-prefix", "empty-digest",
        "not-ascii"])
def test_bad_signature_is_401(client: TestClient, daemon: FakeDaemon, header: str,
                              signature: str | bytes, why: str) -> None:
    r = post(client, "/hooks/release", release_body(), header=header, signature=signature)
    if signature == signature_for(header, release_body()):
        # The bare hex digest is how Gitea and Forgejo sign: right in their headers.
        assert r.status_code == 202 and daemon.candidates
        return
    assert r.status_code == 401
    if header not in webhookchecks.PREFIXED:  # bare hex or a token: it just differs
        why = "does not match"
    assert why in r.json()["detail"] and header in r.json()["detail"]
    assert not daemon.candidates


def test_every_signature_present_must_match(client: TestClient, daemon: FakeDaemon) -> None:
    body = release_body()
    r = post(client, "/hooks/release", body,
             **{"X-Hub-Signature-256": sign(body, b"wrong")})  # X-Signature is right
    assert r.status_code == 401
    assert not daemon.candidates


@pytest.mark.parametrize(("body", "why"), [
    (b"rollout=apps/podinfo&tag=6.6.0", "body is not JSON: Expecting value at line 1"),
    (b"", "body is not JSON"),
    (b'{"rollout": "apps/podinfo", "tag": "6.6.0"', "body is not JSON"),
    (b"\xff\xfe\xfa{}", "body is not JSON"),
    (b"[" * 2000 + b"]" * 2000, "body is not JSON"),  # deeper than json can recurse
    (b'["apps/podinfo", "6.6.0"]', "JSON object"),
    (b'"apps/podinfo"', "JSON object"),
    (b'{"rollout": "apps/podinfo"}', "tag: Field required"),
    (b'{"rollout": "apps/podinfo", "tag": 6.6}', "tag: Input should be a valid string"),
    (b'{"rollout": "podinfo", "tag": "6.6.0"}', "rollout: Value error, expected <namespace>/"),
    (b'{"rollout": "apps/pod/info", "tag": "6.6.0"}', "rollout: Value error"),
    (b'{"rollout": "Apps/Podinfo", "tag": "6.6.0"}', "rollout: Value error"),
])
def test_bad_body_is_400(client: TestClient, daemon: FakeDaemon, body: bytes,
                         why: str) -> None:
    r = post(client, "/hooks/release", body)
    assert r.status_code == 400, r.text
    assert why in r.json()["detail"]
    assert not daemon.candidates


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]"])
def test_git_hook_bad_body_is_400(client: TestClient, daemon: FakeDaemon, body: bytes) -> None:
    assert post(client, "/hooks/git", body).status_code == 400
    assert daemon.fetches == 0


@pytest.mark.parametrize(("tag", "why"), [
    ("6.6", "partial version"),
    ("latest", "not a semantic version"),
    ("6.6.0+build.1", "not a valid OCI tag"),
    ("06.6.0", "leading zero"),
    ("", "it is empty"),
])
def test_invalid_tag_is_400_with_the_reason(client: TestClient, daemon: FakeDaemon, tag: str,
                                            why: str) -> None:
    r = post(client, "/hooks/release", release_body(tag=tag))
    assert r.status_code == 400
    assert r.json()["detail"].startswith("tag: ") and why in r.json()["detail"]
    assert not daemon.candidates


def test_unknown_rollout_is_404(client: TestClient, daemon: FakeDaemon) -> None:
    r = post(client, "/hooks/release", release_body(rollout="apps/nope"))
    assert (r.status_code, r.json()) == (404, {"detail": "unknown rollout apps/nope"})
    assert not daemon.candidates


def test_too_large_by_content_length_is_413(client: TestClient, daemon: FakeDaemon) -> None:
    body = json.dumps({"rollout": "apps/podinfo", "tag": "6.6.0",
                       "padding": "x" * LIMIT}).encode()
    r = post(client, "/hooks/release", body)
    assert r.status_code == 413
    assert f"of {len(body)} bytes is over the limit of {LIMIT}" in r.json()["detail"]
    assert not daemon.candidates


def test_too_large_with_a_lying_content_length_is_413(client: TestClient,
                                                      daemon: FakeDaemon) -> None:
    body = b'{"padding": "' + b"x" * (LIMIT * 4) + b'"}'
    r = post(client, "/hooks/git", body, **{"Content-Length": "20"})
    assert r.status_code == 413
    assert r.json()["detail"] == f"body is over the limit of {LIMIT} bytes"
    assert daemon.fetches == 0


def test_too_large_chunked_is_413(client: TestClient, daemon: FakeDaemon) -> None:
    chunks = [b'{"padding": "', *[b"x" * 1000] * 10, b'"}']
    r = client.post("/hooks/git", content=iter(chunks),
                    headers={"X-Signature": sign(b"".join(chunks))})
    assert r.status_code == 413
    assert daemon.fetches == 0


def test_chunked_within_the_limit_is_accepted(client: TestClient, daemon: FakeDaemon) -> None:
    chunks = [b'{"ref": ', b'"refs/heads/main"}']
    r = client.post("/hooks/git", content=iter(chunks),
                    headers={"X-Hub-Signature-256": sign(b"".join(chunks))})
    assert r.status_code == 202
    assert daemon.fetches == 1


@pytest.mark.parametrize("length", ["lots", "-5", "\u00b2"])  # isdigit("²") is True
def test_content_length_not_a_number_is_400(client: TestClient, length: str) -> None:
    r = client.post("/hooks/git", content=b"{}", headers={
        b"X-Signature": sign(b"{}").encode(), b"Content-Length": length.encode("latin-1")})
    assert (r.status_code, r.json()) == (400, {"detail": "Content-Length is not a number"})


def test_default_body_limit_is_one_mebibyte(daemon: FakeDaemon) -> None:
    with TestClient(http.create_app(daemon, webhook_secret=SECRET)) as c:
        fits = json.dumps({"padding": "x" * (http.MiB - 20)}).encode()
        assert post(c, "/hooks/git", fits).status_code == 202
        over = json.dumps({"padding": "x" * http.MiB}).encode()
        assert post(c, "/hooks/git", over).status_code == 413


def test_hooks_without_a_secret_are_disabled(daemon: FakeDaemon) -> None:
    with TestClient(http.create_app(daemon, webhook_secret=None)) as c:
        for path in ("/hooks/git", "/hooks/release"):
            r = post(c, path, release_body())
            assert r.status_code == 404
            assert "webhooks are disabled" in r.json()["detail"]
        paths = c.get("/openapi.json").json()["paths"]
        assert not [p for p in paths if p.startswith("/hooks/")]
        assert c.get("/api/v1/rollouts").status_code == 200
    assert daemon.fetches == 0 and not daemon.candidates


def test_a_failing_daemon_gives_500_and_the_server_carries_on(
        client: TestClient, daemon: FakeDaemon, caplog: pytest.LogCaptureFixture) -> None:
    daemon.fail = True
    r = post(client, "/hooks/git", b"{}")
    assert r.status_code == 500
    assert "the daemon broke" in caplog.text
    daemon.fail = False
    assert post(client, "/hooks/git", b"{}").status_code == 202


def test_logs_never_hold_the_body_or_the_secret(client: TestClient,
                                                caplog: pytest.LogCaptureFixture) -> None:
    canary = secretscan.register("canary-7f1e", "webhook body canary (test_http_webhooks.py)")
    bodies = [
        f'{{"rollout": "apps/podinfo", "tag": "{canary}"}}'.encode(),
        f'{{"rollout": "apps/podinfo", "tag": "6.6.0", "x": "{canary}"'.encode(),
        f'["{canary}"]'.encode(),
        f'{{"{canary}": 1}}'.encode(),
        f'{{"rollout": "{canary}", "tag": "6.6.0"}}'.encode(),
        f'{{"rollout": "apps/podinfo", "tag": "6.6.0", "note": "{canary}"}}'.encode(),
        f'{{"padding": "{canary}{"x" * LIMIT}"}}'.encode(),
    ]
    caplog.set_level(logging.DEBUG)
    codes = []
    for body in bodies:
        codes.append(post(client, "/hooks/release", body).status_code)
        codes.append(post(client, "/hooks/release", body, header="X-Hub-Signature-256",
                          signature=sign(body, b"wrong")).status_code)
    assert sorted(set(codes)) == [202, 400, 401, 413]
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == codes.count(400) + codes.count(401) + codes.count(413)
    assert any("does not match the body" in m for m in refusals)
    assert any("tag: not a valid release tag" in m for m in refusals)
    for record in caplog.records:
        text = record.getMessage() + repr(record.args) + str(record.exc_info)
        assert canary not in text
        assert SECRET.decode() not in text


# -- secret file ----------------------------------------------------------------------------

@pytest.mark.parametrize("content", [SECRET + b"\n", SECRET + b"\r\n", SECRET],
                         ids=["lf", "crlf", "bare"])  # not the secret itself: see above
def test_load_secret_strips_the_newline(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "secret"
    path.write_bytes(content)
    assert http.load_secret(path) == SECRET


def test_load_secret_refuses_missing_or_empty(tmp_path: Path) -> None:
    with pytest.raises(PermanentError) as missing:
        http.load_secret(tmp_path / "nope")
    assert str(missing.value) == f"webhook secret file {tmp_path / 'nope'} does not exist"
    (tmp_path / "empty").write_bytes(b"\n")
    with pytest.raises(PermanentError, match="is empty"):
        http.load_secret(tmp_path / "empty")
