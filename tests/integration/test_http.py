"""The HTTP surface over a fake daemon: every endpoint, every refusal, the OpenAPI
document, the metrics, the logs, and a real uvicorn server on loopback."""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reconciler.adapters.forges.events import PullRequestEvent
from reconciler.engine.surface import Noted
from reconciler.errors import PermanentError
from reconciler.interfaces import http, webhookchecks
from reconciler.interfaces.metrics import Metrics
from tests.support import secretscan

SECRET = secretscan.generate("webhook secret (tests/integration/test_http.py)").encode()
LIMIT = 4096

PODINFO: dict[str, Any] = {
    "apiVersion": "kuberik.com/v1alpha1", "kind": "Rollout",
    "metadata": {"namespace": "apps", "name": "podinfo", "generation": 3},
    "spec": {"releasesImagePolicy": {"name": "podinfo"}, "bakeTime": "5m"},
    "status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "BakeSucceeded",
                        "message": "6.5.0 is released"}],
        "history": [{"id": 2, "version": {"tag": "6.5.0"}, "bakeStatus": "Succeeded",
                     "commit": "c2"},
                    {"id": 1, "version": {"tag": "6.4.0"}, "bakeStatus": "Succeeded",
                     "commit": "c1"}],
        "availableReleases": [{"tag": "6.5.0", "digest": "sha256:0"}, {"tag": "6.4.0"}],
    },
}
FRONTEND: dict[str, Any] = {
    "metadata": {"namespace": "apps", "name": "frontend"},
    "spec": {"suspend": True, "wantedVersion": "1.2.3"},
    # Whatever someone may have patched into a status must not break the API.
    "status": {"conditions": "garbage", "history": [42], "availableReleases": [1, "1.2.3"]},
}
RECORD = {"commit": "c2", "rollout": "apps/podinfo", "action": "release", "release": "6.5.0",
          "previous_release": "6.4.0", "time": "2024-05-01T10:00:00+00:00", "reason": None,
          "reverts": None, "subject": "podinfo: 6.4.0 -> 6.5.0"}


@dataclass
class FakeDaemon:
    objects: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"apps/podinfo": PODINFO, "apps/frontend": FRONTEND})
    records: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"apps/podinfo": [RECORD],
                                 "apps/deleted": [{**RECORD, "rollout": "apps/deleted"}]})
    candidates: set[tuple[str, str]] = field(default_factory=set)
    is_alive: bool = True
    readiness: tuple[bool, str] = (True, "watches synced; config repository reachable")
    fetches: int = 0
    fail: bool = False
    pull_requests: list[PullRequestEvent] = field(default_factory=list)

    def alive(self) -> bool:
        return self.is_alive

    def ready(self) -> tuple[bool, str]:
        return self.readiness

    def rollouts(self) -> Sequence[Mapping[str, Any]]:
        return list(self.objects.values())

    def rollout(self, *, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.objects.get(f"{namespace}/{name}")

    def history(self, *, namespace: str, name: str) -> Sequence[Mapping[str, Any]]:
        return self.records.get(f"{namespace}/{name}", [])

    def request_fetch(self) -> None:
        if self.fail:
            raise RuntimeError("the daemon broke")
        self.fetches += 1

    def register_release(self, *, namespace: str, name: str, tag: str) -> bool:
        key = (f"{namespace}/{name}", tag)
        new = key not in self.candidates
        self.candidates.add(key)
        return new

    def knows(self, *, namespace: str, name: str) -> bool:
        return f"{namespace}/{name}" in self.objects

    def pull_request(self, event: PullRequestEvent) -> Noted:
        self.pull_requests.append(event)
        ours = event.head.startswith("reconciler/default/") and event.base == "main"
        rollout = event.head.split("/", 2)[2] if ours else None
        if ours and event.merged:
            self.fetches += 1
        return Noted(rollout=rollout, fetch=ours and event.merged)


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_for(header: str, body: bytes, secret: bytes = SECRET) -> str:
    """What each sender puts in its header: ``sha256=<hex>`` (GitHub, Flux), bare hex
    (Gitea, Forgejo), or the secret itself (GitLab's token)."""
    if header == webhookchecks.TOKEN:
        return secret.decode()
    if header in webhookchecks.BARE_HEX:
        return sign(body, secret).removeprefix("sha256=")
    return sign(body, secret)


def release_body(rollout: str = "apps/podinfo", tag: str = "6.6.0") -> bytes:
    return json.dumps({"rollout": rollout, "tag": tag}).encode()


@pytest.fixture
def daemon() -> FakeDaemon:
    return FakeDaemon()


@pytest.fixture
def client(daemon: FakeDaemon) -> Iterator[TestClient]:
    app = http.create_app(daemon, webhook_secret=SECRET, max_body=LIMIT)
    with TestClient(app) as c:
        yield c


def post(client: TestClient, path: str, body: bytes, *,
         header: str | None = "X-Signature", signature: str | bytes | None = None,
         **headers: str) -> Any:
    all_headers: dict[str, str | bytes] = {"Content-Type": "application/json", **headers}
    if header is not None:
        all_headers[header] = (signature if signature is not None
                               else signature_for(header, body))
    raw = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in all_headers.items()}
    return client.post(path, content=body, headers=raw)


# -- probes ------------------------------------------------------------------------

def test_healthz(client: TestClient, daemon: FakeDaemon) -> None:
    assert (client.get("/healthz").status_code, client.get("/healthz").json()) == (
        200, {"alive": True})
    daemon.is_alive = False
    assert client.get("/healthz").status_code == 503


def test_readyz_gives_the_reason(client: TestClient, daemon: FakeDaemon) -> None:
    ok = client.get("/readyz")
    assert ok.status_code == 200 and ok.json()["ready"] is True
    daemon.readiness = (False, "config repository unreachable: connection refused")
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json() == {"ready": False,
                                "reason": "config repository unreachable: connection refused"}


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
    canary = secretscan.register("canary-7f1e", "webhook body canary (test_http.py)")
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


# -- read-only API ------------------------------------------------------------------------

def test_list_rollouts(client: TestClient) -> None:
    r = client.get("/api/v1/rollouts")
    assert r.status_code == 200
    frontend, podinfo = r.json()
    assert (podinfo["namespace"], podinfo["name"], podinfo["release"], podinfo["ready"],
            podinfo["reason"], podinfo["generation"]) == (
        "apps", "podinfo", "6.5.0", True, "BakeSucceeded", 3)
    assert podinfo["available_releases"] == ["6.5.0", "6.4.0"]
    assert podinfo["spec"] == PODINFO["spec"] and podinfo["status"] == PODINFO["status"]
    assert (frontend["name"], frontend["ready"], frontend["release"], frontend["suspended"],
            frontend["wanted_version"], frontend["available_releases"]) == (
        "frontend", None, None, True, "1.2.3", ["1.2.3"])


def test_one_rollout_and_404(client: TestClient) -> None:
    r = client.get("/api/v1/rollouts/apps/podinfo")
    assert r.status_code == 200 and r.json()["message"] == "6.5.0 is released"
    missing = client.get("/api/v1/rollouts/apps/nope")
    assert (missing.status_code, missing.json()) == (404, {"detail": "unknown rollout apps/nope"})


def test_history(client: TestClient) -> None:
    assert client.get("/api/v1/rollouts/apps/podinfo/history").json() == [
        {**RECORD, "environment": None, "requested_by": None}]
    assert client.get("/api/v1/rollouts/apps/frontend/history").json() == []
    # The audit trail outlives the Rollout object: git still has it.
    deleted = client.get("/api/v1/rollouts/apps/deleted/history")
    assert deleted.status_code == 200 and deleted.json()[0]["rollout"] == "apps/deleted"
    assert client.get("/api/v1/rollouts/apps/nope/history").status_code == 404


def test_openapi_document(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["info"]["title"] == "reconciler"
    assert set(doc["paths"]) >= {
        "/healthz", "/readyz", "/metrics", "/hooks/git", "/hooks/release", "/api/v1/rollouts",
        "/api/v1/rollouts/{namespace}/{name}", "/api/v1/rollouts/{namespace}/{name}/history"}
    schemas = doc["components"]["schemas"]
    assert {"RolloutView", "HistoryRecord", "ReleaseAccepted", "Refusal", "Readiness"} <= set(
        schemas)
    one = doc["paths"]["/api/v1/rollouts/{namespace}/{name}"]["get"]["responses"]
    assert one["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RolloutView"}
    assert "404" in one
    release = doc["paths"]["/hooks/release"]["post"]
    assert set(release["responses"]) == {"202", "400", "401", "404", "413"}
    body = release["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["rollout", "tag"]
    assert {p["name"] for p in release["parameters"]} == set(http.SIGNATURE_HEADERS)


# -- metrics -------------------------------------------------------------------------------

METRIC_NAMES = [
    "reconciler_reconciles_total", "reconciler_reconcile_duration_seconds_bucket",
    "reconciler_releases_total", "reconciler_reverts_total", "reconciler_bake_outcomes_total",
    "reconciler_git_push_duration_seconds_bucket", "reconciler_queue_depth", "reconciler_leader",
    "reconciler_webhook_requests_total", "process_resident_memory_bytes", "python_info",
]


def test_metrics_text(client: TestClient) -> None:
    post(client, "/hooks/release", release_body())
    post(client, "/hooks/release", release_body(), header=None)
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    for name in METRIC_NAMES:
        assert f"\n{name}" in r.text, name
    assert 'reconciler_webhook_requests_total{code="202",endpoint="release"} 1.0' in r.text
    assert 'reconciler_webhook_requests_total{code="401",endpoint="release"} 1.0' in r.text
    assert 'reconciler_webhook_requests_total{code="202",endpoint="git"} 0.0' in r.text
    assert 'reconciler_reconciles_total{result="ok"} 0.0' in r.text


def test_metrics_openmetrics_on_request(client: TestClient) -> None:
    r = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.endswith("# EOF\n")


def test_daemon_metrics_api(daemon: FakeDaemon) -> None:
    metrics = Metrics()
    queue = [1, 2, 3]
    metrics.observe_reconcile("ok", 0.2)
    metrics.observe_reconcile("retry", 1.5)
    metrics.release_pushed()
    metrics.revert_pushed("BakeFailed")
    metrics.revert_pushed("SomethingNew")
    metrics.bake_ended("Succeeded")
    metrics.observe_push("pushed", 0.3)
    metrics.observe_push("rejected", 0.1)
    metrics.track_queue(lambda: len(queue))
    metrics.set_leader(True)
    with TestClient(http.create_app(daemon, webhook_secret=None, metrics=metrics)) as c:
        text = c.get("/metrics").text
    for line in ['reconciler_reconciles_total{result="ok"} 1.0',
                 'reconciler_reconciles_total{result="retry"} 1.0',
                 "reconciler_reconcile_duration_seconds_count 2.0",
                 "reconciler_releases_total 1.0",
                 'reconciler_reverts_total{reason="BakeFailed"} 1.0',
                 'reconciler_reverts_total{reason="DeployTimeout"} 0.0',
                 'reconciler_reverts_total{reason="Other"} 1.0',
                 'reconciler_bake_outcomes_total{result="Succeeded"} 1.0',
                 'reconciler_git_push_duration_seconds_count{result="pushed"} 1.0',
                 'reconciler_git_push_duration_seconds_count{result="rejected"} 1.0',
                 "reconciler_queue_depth 3.0", "reconciler_leader 1.0"]:
        assert line in text, line
    metrics.set_leader(False)
    assert metrics.registry.get_sample_value("reconciler_leader") == 0


def test_metrics_refuse_label_values_outside_the_set() -> None:
    metrics = Metrics(process_metrics=False)
    with pytest.raises(ValueError, match="'fine' is not one of ok, retry, stalled, error"):
        metrics.observe_reconcile("fine", 1.0)
    with pytest.raises(ValueError, match="is not one of"):
        metrics.bake_ended("InProgress")
    with pytest.raises(ValueError, match="is not one of"):
        metrics.observe_push("maybe", 1.0)
    assert metrics.registry.get_sample_value("process_resident_memory_bytes") is None


def test_two_apps_do_not_share_metrics(daemon: FakeDaemon) -> None:
    one = http.create_app(daemon, webhook_secret=SECRET)
    two = http.create_app(daemon, webhook_secret=SECRET)
    with TestClient(one) as c1, TestClient(two) as c2:
        post(c1, "/hooks/git", b"{}")
        assert 'code="202",endpoint="git"} 1.0' in c1.get("/metrics").text
        assert 'code="202",endpoint="git"} 0.0' in c2.get("/metrics").text


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


# -- a real server ------------------------------------------------------------------------

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
