"""The HTTP surface's read side over a fake daemon (tests/support/fakedaemon.py): the
probes, the read-only rollouts API, the OpenAPI document, and the metrics (the text and
OpenMetrics formats, the daemon's metrics API, the label values it refuses, one
registry per app)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from reconciler.interfaces import http
from reconciler.interfaces.metrics import Metrics
from tests.support.fakedaemon import PODINFO, RECORD, SECRET, FakeDaemon, post, release_body

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
    metrics.observe_notes_push("pushed", 1.4, 3)
    metrics.observe_notes_push("rejected", 0.2, 2)
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
                 'reconciler_notes_push_duration_seconds_count{result="pushed"} 1.0',
                 'reconciler_notes_push_duration_seconds_count{result="rejected"} 1.0',
                 'reconciler_notes_push_duration_seconds_bucket{le="2.5",result="pushed"} 1.0',
                 'reconciler_notes_per_push_bucket{le="2.0"} 0.0',
                 'reconciler_notes_per_push_bucket{le="4.0"} 1.0',
                 "reconciler_notes_per_push_count 1.0",
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
