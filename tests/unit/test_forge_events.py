"""Pull-request webhooks: each forge's delivery read as the pull request it is about.

The bodies follow each forge's documented payload (trimmed to the fields around the
ones read, with the neighbours that could be confused for them): GitHub's
``pull_request`` event, Gitea/Forgejo's (GitHub's shape, ``synchronized`` for a push)
and GitLab's merge request hook.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.adapters.forges.events import PullRequestEvent, pull_request

BRANCH = "reconciler/default/apps/podinfo"


def github(action: str, *, merged: bool = False) -> dict[str, Any]:
    return {"action": action, "number": 7,
            "pull_request": {"number": 7, "state": "closed" if action == "closed" else "open",
                             "merged": merged, "merge_commit_sha": "a" * 40,
                             "head": {"ref": BRANCH, "sha": "b" * 40,
                                      "repo": {"full_name": "team/fleet"}},
                             "base": {"ref": "main", "sha": "c" * 40}},
            "repository": {"full_name": "team/fleet", "default_branch": "main"},
            "sender": {"login": "alice"}}


def gitlab(action: str, state: str) -> dict[str, Any]:
    return {"object_kind": "merge_request", "event_type": "merge_request",
            "user": {"username": "alice"}, "project": {"path_with_namespace": "team/fleet"},
            "object_attributes": {"id": 99, "iid": 7, "action": action, "state": state,
                                  "source_branch": BRANCH, "target_branch": "main",
                                  "merge_commit_sha": None}}


@pytest.mark.parametrize(("headers", "body", "expected"), [
    ({"X-GitHub-Event": "pull_request"}, github("opened"),
     PullRequestEvent("github", "opened", 7, BRANCH, "main")),
    ({"X-GitHub-Event": "pull_request"}, github("closed", merged=True),
     PullRequestEvent("github", "closed", 7, BRANCH, "main", merged=True)),
    ({"x-github-event": "pull_request"}, github("closed"),
     PullRequestEvent("github", "closed", 7, BRANCH, "main")),
    # Gitea sends its own header beside GitHub's; the forge is named by its own.
    ({"X-Gitea-Event": "pull_request", "X-GitHub-Event": "pull_request"},
     github("synchronized"), PullRequestEvent("gitea", "synchronized", 7, BRANCH, "main")),
    ({"X-Forgejo-Event": "pull_request"}, github("reopened"),
     PullRequestEvent("gitea", "reopened", 7, BRANCH, "main")),
    ({"X-Gitlab-Event": "Merge Request Hook"}, gitlab("merge", "merged"),
     PullRequestEvent("gitlab", "merge", 7, BRANCH, "main", merged=True)),
    ({"X-Gitlab-Event": "Merge Request Hook"}, gitlab("close", "closed"),
     PullRequestEvent("gitlab", "close", 7, BRANCH, "main")),
    ({"X-Gitlab-Event": "System Hook"}, gitlab("reopen", "opened"),
     PullRequestEvent("gitlab", "reopen", 7, BRANCH, "main")),
])
def test_each_forge_s_pull_request_event(headers: dict[str, str], body: dict[str, Any],
                                         expected: PullRequestEvent) -> None:
    assert pull_request(headers, body) == expected


@pytest.mark.parametrize(("headers", "body"), [
    ({"X-GitHub-Event": "push"}, {"ref": "refs/heads/main", "after": "a" * 40}),
    ({"X-GitHub-Event": "ping"}, {"zen": "Keep it logically awesome.", "hook_id": 1}),
    ({}, github("opened")),  # Flux's generic-hmac alert: no event header
    ({"X-Gitlab-Event": "Push Hook"}, {"object_kind": "push", "ref": "refs/heads/main"}),
    ({"X-Gitea-Event": "push"}, {"ref": "refs/heads/main"}),
    # Malformed: treated as any other delivery, never an error.
    ({"X-GitHub-Event": "pull_request"}, {"action": "opened", "number": "7"}),
    ({"X-GitHub-Event": "pull_request"}, {"action": "opened", "number": True,
                                          "pull_request": github("opened")["pull_request"]
                                          | {"number": None}}),
    ({"X-GitHub-Event": "pull_request"}, {**github("opened"), "pull_request": []}),
    ({"X-Gitlab-Event": "Merge Request Hook"},
     {"object_kind": "merge_request", "object_attributes": {"iid": 7}}),
])
def test_anything_else_is_not_a_pull_request_event(headers: dict[str, str],
                                                   body: dict[str, Any]) -> None:
    assert pull_request(headers, body) is None
