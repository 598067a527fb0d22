"""Security review, the webhooks: who may make the reconciler act. Replayed, truncated
and other-algorithm signatures are refused and the daemon is never called; every
state-changing route needs a signature; an empty secret file stops start-up. (The
review's points and which test covers each are listed in docs/reliability.md; the
app's own refusals are in tests/integration/test_http_webhooks.py.)
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

from reconciler.errors import PermanentError
from reconciler.interfaces import http
from tests.support import gitrepo
from tests.support.cli import run as reconciler_cli
from tests.support.fakedaemon import SECRET, FakeDaemon, post, release_body, sign


@pytest.fixture
def daemon() -> FakeDaemon:
    return FakeDaemon()


@pytest.fixture
def client(daemon: FakeDaemon) -> Iterator[TestClient]:
    with TestClient(http.create_app(daemon, webhook_secret=SECRET)) as c:
        yield c


def untouched(daemon: FakeDaemon) -> bool:
    return daemon.fetches == 0 and not daemon.candidates


def test_a_replayed_signature_is_refused_for_another_body_in_either_header(
        client: TestClient, daemon: FakeDaemon) -> None:
    signed = release_body(tag="6.6.0")
    captured = sign(signed)  # as GitHub sent it, in X-Hub-Signature-256
    for other in (release_body(tag="6.7.0"), release_body(rollout="apps/frontend"),
                  signed + b" ", json.dumps(json.loads(signed), indent=1).encode()):
        for header in http.SIGNATURE_HEADERS:
            r = post(client, "/hooks/release", other, header=header, signature=captured)
            assert r.status_code == 401, (header, other)
    assert untouched(daemon)


@pytest.mark.parametrize(("header", "value"), [
    ("X-Hub-Signature", "{sig}"),  # GitHub's legacy SHA-1 header is not one we read
    ("X-Signature-256", "{sig}"),
    ("X-Signature", "{sig},sha256=00"),
    ("X-Signature", "sha256=00,{sig}"),
    ("X-Signature", "{sig} {sig}"),
    ("X-Signature", "{sig}00"),
    ("X-Signature", "{short}"),
    ("X-Signature", "sha256:{hex}"),
    ("X-Signature", "sha256 = {hex}"),
    ("X-Signature", "sha256={hex}\x00"),
    ("X-Hub-Signature-256", "sha256=sha256={hex}"),
    ("X-Hub-Signature-256", "v1,{sig}"),  # the Standard Webhooks form
])
def test_a_valid_signature_in_another_header_form_is_refused(
        client: TestClient, daemon: FakeDaemon, header: str, value: str) -> None:
    body = release_body()
    sig = sign(body)
    text = value.format(sig=sig, hex=sig.removeprefix("sha256="), short=sig[:-2])
    r = post(client, "/hooks/release", body, header=None, **{header: text})
    assert r.status_code == 401, r.text
    assert untouched(daemon)


@pytest.mark.parametrize("header", http.SIGNATURE_HEADERS)
def test_a_signature_over_a_truncated_body_is_refused(
        client: TestClient, daemon: FakeDaemon, header: str) -> None:
    body = release_body()
    for cut in (0, 1, len(body) // 2, len(body) - 1):
        # The signature of a prefix, with the whole body; and the reverse.
        assert post(client, "/hooks/release", body, header=header,
                    signature=sign(body[:cut])).status_code == 401
        assert post(client, "/hooks/release", body[:cut], header=header,
                    signature=sign(body)).status_code == 401
    assert untouched(daemon)


@pytest.mark.parametrize("algorithm", ["sha1", "sha512", "sha224", "sha3_256", "md5",
                                       "blake2s"])
@pytest.mark.parametrize("header", http.SIGNATURE_HEADERS)
def test_a_signature_with_another_algorithm_is_refused(
        client: TestClient, daemon: FakeDaemon, header: str, algorithm: str) -> None:
    body = release_body()
    digest = hmac.new(SECRET, body, getattr(hashlib, algorithm)).hexdigest()
    for label in (algorithm, "sha256"):  # honestly labelled, and passed off as sha256
        r = post(client, "/hooks/release", body, header=header, signature=f"{label}={digest}")
        assert r.status_code == 401, (label, r.text)
    assert untouched(daemon)


def test_every_route_that_acts_needs_a_signature(daemon: FakeDaemon) -> None:
    """Derived from the app's routes: anything but GET/HEAD must be a signed hook, no
    GET calls the daemon's acting methods, and there is nothing else (no mount, no
    websocket) that could take a request past the checks."""
    app = http.create_app(daemon, webhook_secret=SECRET)
    routes = [r for r in app.routes if isinstance(r, Route)]
    assert len(routes) == len(app.routes), [r for r in app.routes if r not in routes]
    acting = {(method, route.path) for route in routes for method in route.methods or ()
              if method not in ("GET", "HEAD")}
    assert acting == {("POST", "/hooks/git"), ("POST", "/hooks/release")}
    with TestClient(app) as c:
        for _, path in sorted(acting):
            assert post(c, path, release_body(), header=None).status_code == 401
        for route in routes:
            if "GET" in (route.methods or ()):
                c.get(route.path.format(namespace="apps", name="podinfo"))
    with TestClient(http.create_app(daemon, webhook_secret=None)) as off:
        for _, path in sorted(acting):
            assert post(off, path, release_body()).status_code == 404
    assert untouched(daemon)


def test_an_empty_webhook_secret_file_stops_start_up(
        config_repo: gitrepo.BareRepo, tmp_path: Path) -> None:
    """Blanks only count as empty: HMAC with a key of spaces authenticates nobody.
    (test_http_webhooks.py covers a missing file and one holding only a newline.)"""
    secret_file = tmp_path / "webhook-secret"
    for blank in (b" ", b"\t\n", b" \r\n"):
        secret_file.write_bytes(blank)
        with pytest.raises(PermanentError, match="is empty"):
            http.load_secret(secret_file)
    secret_file.write_bytes(b" \t\r\n")
    # A kubeconfig that exists (its API server is never reached): a missing one is
    # refused first, and this test is about the secret.
    (tmp_path / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
        "    server: http://127.0.0.1:9\ncontexts:\n- name: c\n  context:\n    cluster: c\n"
        "current-context: c\n")
    proc = reconciler_cli("run", "--repo", config_repo.url, "--http-address", "127.0.0.1:0",
                          "--webhook-secret-file", str(secret_file),
                          "--kubeconfig", str(tmp_path / "kubeconfig"),
                          cache=tmp_path / "cache")
    assert proc.returncode != 0
    assert f"webhook secret file {secret_file} is empty" in proc.stderr
    assert "serving HTTP" not in proc.stderr + proc.stdout
