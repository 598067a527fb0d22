"""The dashboard's routes over a fake daemon, in-process: pages, filters, compression,
headers, the event stream, and every refusal of an action (authentication, CSRF,
body, what the daemon refuses). The browser tests (tests/e2e/test_dashboard.py) run
the real daemon; these cover the edges cheaply."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reconciler.core.changes import ChangeSet
from reconciler.engine.insight import Detail
from reconciler.engine.releaser import Result
from reconciler.errors import GitError, InputError, PermanentError, UnknownRollout
from reconciler.interfaces import http, ui
from reconciler.interfaces.ui import auth
from tests.support.fakedaemon import PODINFO, FakeDaemon

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TOKEN = "a-dashboard-token-of-some-length"


def rollout(name: str, reason: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "apps" if name != "api" else "team-b", "name": name},
            "spec": {"bakeTime": "10m"},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": reason,
                                       "message": f"{name} says {reason}",
                                       "lastTransitionTime": "2026-12-01T11:58:00Z"}],
                       **status}}


BAKING = rollout("podinfo", "Baking", history=[{
    "id": 3, "version": {"tag": "6.5.0"}, "bakeStatus": "InProgress", "commit": "c3" * 20,
    "bakeStartTime": "2026-12-01T11:55:00Z"}], hooks=[{
        "name": "load-test", "type": "rollout", "release": "6.5.0", "result": "Failed",
        "code": 500, "time": "2026-12-01T11:59:00Z",
        "message": "rollout hook load-test answered HTTP 500: <b>p99 over budget</b>"},
        {"name": "half-written"}, "not an entry"])
HELD = rollout("frontend", "HeldByManualChange", currentVersion="1.4.3")
REVERTED = rollout("api", "UpToDate", history=[{
    "id": 2, "version": {"tag": "2.0.0"}, "action": "revert", "commit": "c2" * 20,
    "message": "revert of 2.1.0: bake failed"}])


@dataclass
class FakeInsight:
    environment: str = "staging"
    objs: list[dict[str, Any]] = field(default_factory=lambda: [BAKING, HELD, REVERTED])
    key: int = 0

    def now(self) -> datetime:
        return NOW

    def change_key(self) -> str:
        self.key += 1
        return f"k{self.key // 3}"  # changes every third look

    def rollouts(self) -> list[dict[str, Any]]:
        return self.objs

    def policy(self, obj: Any) -> None:
        return None

    def bake_time(self, obj: Any) -> timedelta:
        return timedelta(minutes=10)

    def detail(self, namespace: str, name: str) -> Detail | None:
        obj = next((o for o in self.objs if o["metadata"]["name"] == name
                    and o["metadata"]["namespace"] == namespace), None)
        if obj is None:
            return None
        return Detail(key=f"{namespace}/{name}", obj=obj, environment=self.environment,
                      problem="the config repository has not been read yet", plan=None,
                      checks=(), policy=None, records=(), found=(), decided=(),
                      quarantined=frozenset(), write_mode="direct")

    def report(self, span: timedelta) -> None:
        return None


@dataclass
class FakeActions:
    calls: list[tuple[str, ...]] = field(default_factory=list)
    fail: Exception | None = None

    def _done(self, *call: str) -> Result:
        self.calls.append(call)
        if self.fail is not None:
            raise self.fail
        return Result("pushed", "apps/podinfo", "release", call[-1], "6.4.0", "ab" * 20,
                      ChangeSet(rollout="apps/podinfo"), message="podinfo: 6.4.0 -> 7.0.0\n")

    def release(self, namespace: str, name: str, tag: str, *, requested_by: str) -> Result:
        return self._done("release", f"{namespace}/{name}", requested_by, tag)

    def retry(self, namespace: str, name: str, tag: str, *, requested_by: str) -> Result:
        return self._done("retry", f"{namespace}/{name}", requested_by, tag)

    def lift_hold(self, namespace: str, name: str, *, requested_by: str) -> Result:
        return self._done("lift-hold", f"{namespace}/{name}", requested_by, "1.4.3")


@dataclass
class FakeDashboard:
    insight: Any = field(default_factory=FakeInsight)
    actions: Any = field(default_factory=FakeActions)


def client(dash: FakeDashboard, tokens: auth.Tokens | None = None, **config: Any) -> TestClient:
    app = http.create_app(FakeDaemon(objects={"apps/podinfo": PODINFO}), webhook_secret=None,
                          dashboard=dash, dashboard_config=ui.Config(
                              tokens=tokens, commit_url="https://forge/c/{sha}", **config))
    return TestClient(app)


@pytest.fixture
def tokens(tmp_path: Path) -> auth.Tokens:
    path = tmp_path / "tokens.csv"
    path.write_text(f"# who may act\n{TOKEN},ana,1001,\"ops\"\n")
    return auth.Tokens(path)


def test_pages_states_filters_headers_and_compression() -> None:
    with client(FakeDashboard()) as c:
        page = c.get("/ui/", headers={"Accept-Encoding": "gzip"})
        assert page.status_code == 200
        assert page.headers["content-encoding"] == "gzip"
        assert "script-src 'self'" in page.headers["content-security-policy"]
        html = page.text
        assert 'data-key="team-b/api" hidden' not in html
        for key, state in (("apps/podinfo", "baking"), ("apps/frontend", "held"),
                           ("team-b/api", "failed")):
            assert f'data-state="{state}" data-key="{key}"' in html
        assert 'data-ends="2026-12-01T12:05:00+00:00">5m00s left' in html
        assert "2.1.0 reverted, back at 2.0.0" in html
        assert "read-only" in html and "signin" not in html
        held = c.get("/ui/?state=held&partial=1").text
        assert not held.startswith("<!doctype")
        assert 'data-key="apps/podinfo" hidden' in held
        assert 'data-key="apps/frontend" hidden' not in held
        assert 'data-key="apps/podinfo" hidden' in c.get("/ui/?namespace=team-b").text
        assert c.get("/ui", follow_redirects=False).headers["location"] == "/ui/"
        one = c.get("/ui/rollouts/apps/podinfo")
        assert one.status_code == 200
        assert "the config repository has not been read yet" in one.text
        assert 'href="https://forge/c/' + "c3" * 20 + '"' in one.text
        assert "load-test <span class=\"muted\">(rollout)</span>" in one.text
        assert "answered HTTP 500: &lt;b&gt;p99 over budget&lt;/b&gt;" in one.text
        assert c.get("/ui/rollouts/apps/nope").status_code == 404
        script = c.get("/ui/static/dashboard.js?v=nope", headers={"Accept-Encoding": "gzip"})
        assert script.headers["cache-control"] == "no-cache"
        assert script.text.startswith("// The dashboard")
        assert c.get("/ui/static/../app.py").status_code == 404
        assert "/ui/" not in str(c.get("/openapi.json").json()["paths"])


def test_actions_are_off_without_a_token_file() -> None:
    dash = FakeDashboard()
    with client(dash) as c:
        answer = c.post("/ui/api/rollouts/apps/podinfo/release", json={"tag": "7.0.0"},
                        headers={"Authorization": f"Bearer {TOKEN}"})
    assert (answer.status_code, answer.json()["detail"]) == (
        404, "dashboard actions are off: no --ui-token-file is configured")
    assert dash.actions.calls == []


def test_actions_need_a_token_a_same_origin_json_body_and_say_why_not(
        tokens: auth.Tokens) -> None:
    dash = FakeDashboard()
    url = "/ui/api/rollouts/apps/podinfo/release"
    good = {"Authorization": f"Bearer {TOKEN}"}
    with client(dash, tokens) as c:
        assert "signin" in c.get("/ui/").text
        refused = c.post(url, json={"tag": "7.0.0"})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer realm="reconciler"'
        assert c.post(url, json={"tag": "7.0.0"},
                      headers={"Authorization": "Bearer not-the-token"}).status_code == 401
        assert c.post(url, json={"tag": "7.0.0"}, headers={"Authorization": TOKEN}
                      ).status_code == 401  # no scheme
        assert c.post(url, json={"tag": "7.0.0"},
                      headers={**good, "Sec-Fetch-Site": "cross-site"}).status_code == 403
        assert c.post(url, json={"tag": "7.0.0"},
                      headers={**good, "Origin": "https://evil.example"}).status_code == 403
        assert c.post(url, content=b'{"tag": "7.0.0"}',
                      headers={**good, "Content-Type": "text/plain"}).status_code == 403
        assert c.post(url, content=b"{", headers={**good, "Content-Type": "application/json"}
                      ).status_code == 400
        assert c.post(url, json={}, headers=good).status_code == 400
        assert c.post(url, json={"tag": "7" * 5000}, headers=good).status_code == 413
        assert c.post("/ui/api/rollouts/apps/podinfo/delete", json={},
                      headers=good).status_code == 404
        assert c.post("/ui/api/rollouts/apps/podinfo/approve", json={},
                      headers=good).status_code == 400  # which release: no tag
        assert dash.actions.calls == []
        done = c.post(url, json={"tag": "7.0.0"},
                      headers={**good, "Origin": "http://testserver"})
        assert done.status_code == 200, done.text
        assert done.json() == {"outcome": "pushed", "commit": "ab" * 20, "release": "7.0.0",
                               "requested_by": "ana", "message": "podinfo: 6.4.0 -> 7.0.0"}
        assert c.post("/ui/api/rollouts/apps/frontend/lift-hold", json={},
                      headers=good).status_code == 200
        assert dash.actions.calls == [("release", "apps/podinfo", "ana", "7.0.0"),
                                      ("lift-hold", "apps/frontend", "ana", "1.4.3")]
        for error, code in ((UnknownRollout("unknown rollout apps/x"), 404),
                            (InputError("apps/podinfo is not held"), 409),
                            (PermanentError("targets.yaml does not parse"), 409),
                            (GitError("remote unreachable"), 503)):
            dash.actions.fail = error
            answer = c.post("/ui/api/rollouts/apps/podinfo/retry", json={"tag": "6.3.1"},
                            headers=good)
            assert answer.status_code == code
            assert str(error) in answer.json()["detail"]


def test_the_event_stream_says_what_changed_and_ends() -> None:
    with client(FakeDashboard(), events_interval=0.02, events_max_age=0.3) as c:
        body = c.get("/ui/events").text
    assert body.startswith("retry: 40\n\n")
    changes = [line for line in body.splitlines() if line.startswith("data: ")]
    assert len(changes) >= 2 and len(set(changes)) == len(changes)


def test_a_token_file_is_checked_at_start_and_read_again_when_it_changes(
        tmp_path: Path, tokens: auth.Tokens) -> None:
    path = tmp_path / "bad.csv"
    for text, says in (("", "holds no token"),
                       ("only-a-token-no-user-here\n", "line 1: expected TOKEN,USER"),
                       ("short,ana\n", "line 1: the token is shorter than 16 characters")):
        path.write_text(text)
        with pytest.raises(PermanentError, match=says):
            auth.Tokens(path)
    with pytest.raises(PermanentError, match="No such file"):
        auth.Tokens(tmp_path / "missing.csv")
    assert tokens.who(f"Bearer {TOKEN}") == "ana"
    assert tokens.who(f"bearer   {TOKEN}  ") == "ana"
    assert tokens.who(None) is None
    tokens.path.write_text("another-token-1234567890,bo\n")
    assert tokens.who(f"Bearer {TOKEN}") is None
    assert tokens.who("Bearer another-token-1234567890") == "bo"
    tokens.path.write_text("")  # emptied: every action refused until it is fixed
    assert tokens.who("Bearer another-token-1234567890") is None
