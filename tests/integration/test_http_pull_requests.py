"""Pull-request webhooks on ``POST /hooks/git``: each forge's delivery, signed its own way,
reaches the daemon as the pull request it is about; other deliveries still fetch.
(``daemon`` and ``client``: tests/integration/conftest.py, with its 4 KiB body limit.)"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.support.fakedaemon import FakeDaemon, post, signature_for
from tests.unit.test_forge_events import BRANCH, github, gitlab


@pytest.mark.parametrize(("signature", "event", "body", "merged"), [
    ("X-Hub-Signature-256", {"X-GitHub-Event": "pull_request"}, github("closed"), False),
    ("X-Hub-Signature-256", {"X-GitHub-Event": "pull_request"},
     github("closed", merged=True), True),
    ("X-Gitea-Signature", {"X-Gitea-Event": "pull_request",
                           "X-GitHub-Event": "pull_request"}, github("reopened"), False),
    ("X-Forgejo-Signature", {"X-Forgejo-Event": "pull_request"},
     github("closed", merged=True), True),
    ("X-Gitlab-Token", {"X-Gitlab-Event": "Merge Request Hook"}, gitlab("close", "closed"),
     False),
    ("X-Gitlab-Token", {"X-Gitlab-Event": "Merge Request Hook"},
     gitlab("merge", "merged"), True),
], ids=["github-closed", "github-merged", "gitea-reopened", "forgejo-merged",
        "gitlab-closed", "gitlab-merged"])
def test_a_pull_request_event_reaches_the_daemon(
        client: TestClient, daemon: FakeDaemon, signature: str, event: dict[str, str],
        body: dict[str, object], merged: bool) -> None:
    raw = json.dumps(body).encode()
    r = post(client, "/hooks/git", raw, header=signature, **event)
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": True, "fetch": merged, "rollout": "apps/podinfo",
                        "pull_request": 7}
    assert [(e.number, e.head, e.merged) for e in daemon.pull_requests] == [
        (7, BRANCH, merged)]
    assert daemon.fetches == (1 if merged else 0)  # merged: fetch now; else just read it


def test_someone_else_s_pull_request_neither_fetches_nor_pokes(
        client: TestClient, daemon: FakeDaemon) -> None:
    body = github("opened")
    body["pull_request"]["head"]["ref"] = "feature/new-dashboard"  # type: ignore[index]
    r = post(client, "/hooks/git", json.dumps(body).encode(),
             header="X-Hub-Signature-256", **{"X-GitHub-Event": "pull_request"})
    assert r.status_code == 202
    assert r.json() == {"accepted": True, "fetch": False, "rollout": None, "pull_request": 7}
    assert daemon.fetches == 0


@pytest.mark.parametrize("header", ["X-Gitlab-Token", "X-Gitea-Signature"])
def test_a_wrong_secret_in_each_forge_s_header_is_refused(
        client: TestClient, daemon: FakeDaemon, header: str) -> None:
    raw = json.dumps(gitlab("merge", "merged")).encode()
    wrong = signature_for(header, raw, secret=b"not-the-secret")
    r = post(client, "/hooks/git", raw, header=header, signature=wrong,
             **{"X-Gitlab-Event": "Merge Request Hook"})
    assert r.status_code == 401
    assert (daemon.pull_requests, daemon.fetches) == ([], 0)


def test_gitlab_s_token_header_with_a_correct_token_but_a_wrong_hmac_beside_it(
        client: TestClient, daemon: FakeDaemon) -> None:
    """Every signature header present must hold: a right token does not excuse a
    wrong HMAC sent beside it."""
    raw = json.dumps(gitlab("merge", "merged")).encode()
    r = post(client, "/hooks/git", raw, header="X-Gitlab-Token",
             **{"X-Signature": "sha256=" + "0" * 64, "X-Gitlab-Event": "Merge Request Hook"})
    assert r.status_code == 401
    assert daemon.pull_requests == []
