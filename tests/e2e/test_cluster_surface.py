"""The daemon as a cluster component: leader election and its HTTP surface, end to end."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import urllib.error
import urllib.request
from typing import Any

from reconciler.core.status import tag_of
from tests.e2e.conftest import E2E, DaemonProcess
from tests.support import secretscan

LEASE_API = "coordination.k8s.io/v1"


def port_of(daemon: DaemonProcess, e2e: E2E) -> int:
    found = e2e.wait_until("the HTTP server to listen", lambda: re.search(
        r"serving HTTP on [0-9.]+:(\d+)", daemon.log()))
    return int(found.group(1))


def request(port: int, path: str, *, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                 headers=headers or {}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            code = resp.status
    except urllib.error.HTTPError as err:
        raw, code = err.read(), err.code
        err.close()
    try:
        return code, json.loads(raw)
    except ValueError:
        return code, raw.decode()


def holder(e2e: E2E) -> str | None:
    lease = e2e.emulator.get_object(LEASE_API, "Lease", namespace="reconciler-system",
                                    name="reconciler-leader")
    return ((lease or {}).get("spec") or {}).get("holderIdentity") or None


def test_standby_finishes_the_rollout_when_the_leader_is_killed(e2e: E2E) -> None:
    e2e.set_rollout_spec("podinfo", bakeTime="5s")
    flags = ("--leader-elect", "--leader-election-timings", "3,2,0.3")
    first = e2e.start_daemon(*flags, cache_dir=e2e.tmp / "cache-a")
    leader_id = e2e.wait_until("a leader", lambda: holder(e2e))
    second = e2e.start_daemon(*flags, cache_dir=e2e.tmp / "cache-b")
    by_pid = {str(first.pid): first, str(second.pid): second}
    leader = next(d for pid, d in by_pid.items() if leader_id.endswith(f"-{pid}"))
    standby = second if leader is first else first

    e2e.offer("6.5.0")
    e2e.wait_until("6.5.0 baking", lambda: tag_of(e2e.newest().get("version")) == "6.5.0"
                   and e2e.newest().get("bakeStatus") == "InProgress"
                   and bool(e2e.newest().get("bakeStartTime")))
    bake_start = e2e.newest()["bakeStartTime"]
    leader.kill()

    e2e.wait_until("the standby to take the lease", lambda: (holder(e2e) or "").endswith(
        f"-{standby.pid}"))
    e2e.wait_until("6.5.0 to bake", lambda: e2e.newest().get("bakeStatus") == "Succeeded")
    assert e2e.newest()["bakeStartTime"] == bake_start  # resumed, not restarted
    releases = e2e.reconciler_commits(action="release", release="6.5.0")
    assert len(releases) == 1, [c.subject for c in e2e.commits()]
    e2e.check_history_intact()


def test_http_probes_metrics_webhook_and_api(e2e: E2E) -> None:
    secret = secretscan.generate("webhook secret (e2e)").encode()
    (e2e.tmp / "hook-secret").write_bytes(secret + b"\n")
    daemon = e2e.start_daemon("--webhook-secret-file", str(e2e.tmp / "hook-secret"))
    port = port_of(daemon, e2e)
    assert request(port, "/healthz")[0] == 200
    e2e.wait_until("ready", lambda: request(port, "/readyz")[0] == 200)

    body = json.dumps({"rollout": "apps/podinfo", "tag": "6.5.0"}).encode()
    signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    code, _ = request(port, "/hooks/release", body=body,
                      headers={"Content-Type": "application/json"})
    assert code == 401  # unsigned
    code, answer = request(port, "/hooks/release", body=body, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": signature})
    assert (code, answer) == (202, {"accepted": True, "new": True})

    [release] = e2e.wait_until("the release from the webhook",
                               lambda: e2e.reconciler_commits(action="release"))
    assert release.trailers["Release"] == "6.5.0"
    # The commit reaches the remote a moment before the daemon's own snapshot and
    # counters move on: poll the API and the metrics until they show it.
    e2e.wait_until("the API to list the release", lambda: (
        (answer := request(port, "/api/v1/rollouts/apps/podinfo/history"))[0] == 200
        and answer[1] and answer[1][0]["release"] == "6.5.0"))
    e2e.wait_until("the release counter", lambda: re.search(
        r"^reconciler_releases_total 1\.0$", request(port, "/metrics")[1], re.M))
    # The delivery gauges, from git (docs/stats.md): one release in the last 7 days.
    e2e.wait_until("the delivery gauges", lambda: (
        f'reconciler_deployment_frequency_per_day{{window="7d"}} {1 / 7!r}'
        in request(port, "/metrics")[1]))
    # The bake's verdict, a note pushed on its own: its push is measured too.
    e2e.wait_until("the verdict in git", lambda: "Bake: Succeeded" in e2e.note(release.sha))
    e2e.wait_until("the notes push counted", lambda: (
        'reconciler_notes_push_duration_seconds_count{result="pushed"} 1.0'
        in (text := request(port, "/metrics")[1])
        and "reconciler_notes_per_push_count 1.0" in text))
    assert secret.decode() not in daemon.log()
