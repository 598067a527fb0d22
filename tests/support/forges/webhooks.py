"""Webhook deliveries from the forge stand-ins: each forge's pull-request event, signed
its own way, POSTed to a configured URL after the change that caused it.

Shapes and headers, from each forge's documentation:

* GitHub ("Webhook events and payloads", ``pull_request``; "Validating webhook
  deliveries"): ``X-GitHub-Event: pull_request``, ``X-GitHub-Delivery`` (a GUID),
  ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``; body ``action``
  (``opened``, ``closed``, ``reopened``), ``number``, ``pull_request`` (``state``,
  ``merged``, ``merge_commit_sha``, ``head {ref, sha}``, ``base {ref}``), ``sender``.
  A merge is ``closed`` with ``merged: true``.
* Gitea/Forgejo (docs.gitea.com "Webhooks"): ``X-Gitea-Event``, ``X-Gitea-Delivery``,
  ``X-Gitea-Signature: <hex HMAC-SHA256>`` (no prefix), and ``X-GitHub-Event`` /
  ``X-Gogs-Event`` beside them; the body is GitHub's shape.
* GitLab ("Webhook events", merge request events; "Webhooks", secret token):
  ``X-Gitlab-Event: Merge Request Hook``, ``X-Gitlab-Token: <the secret>`` (not a
  signature), ``Idempotency-Key``; body ``object_kind: merge_request``, ``user``,
  ``object_attributes {iid, action (open, close, reopen, merge), state (opened, closed,
  merged), source_branch, target_branch, merge_commit_sha}``.

Real forges deliver from a queue after the change is saved, not inside the API call
that made it; so do these, from a thread. A failed delivery is recorded, not retried
(GitHub does not retry either; GitLab retries, but a test that needs that says so).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
import uuid
from typing import Any

from tests.support.forges.model import Pull, Repo

ACTIONS = {  # what happened -> each forge's word for it
    "github": {"opened": "opened", "closed": "closed", "reopened": "reopened",
               "merged": "closed"},
    "gitea": {"opened": "opened", "closed": "closed", "reopened": "reopened",
              "merged": "closed"},
    "gitlab": {"opened": "open", "closed": "close", "reopened": "reopen", "merged": "merge"},
}


class Deliveries:
    def __init__(self, kind: str, url: str, secret: bytes) -> None:
        self.kind, self.url, self.secret = kind, url, secret
        self.sent: list[tuple[str, int, int]] = []  # (what, pull request, HTTP status)
        self._threads: list[threading.Thread] = []

    def emit(self, what: str, repo: Repo, pull: Pull, *, by: str, head_sha: str) -> None:
        body = json.dumps(self._body(what, repo, pull, by=by, head_sha=head_sha)).encode()
        headers = {"Content-Type": "application/json", **self._headers(body)}
        t = threading.Thread(target=self._post, args=(what, pull.number, body, headers),
                             daemon=True)
        self._threads.append(t)
        t.start()

    def wait(self, timeout: float = 10.0) -> None:
        for t in self._threads:
            t.join(timeout)

    def _post(self, what: str, number: int, body: bytes, headers: dict[str, str]) -> None:
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                self.sent.append((what, number, answer.status))
        except urllib.error.HTTPError as exc:
            self.sent.append((what, number, exc.code))
        except OSError:
            self.sent.append((what, number, 0))

    def _headers(self, body: bytes) -> dict[str, str]:
        digest = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        delivery = str(uuid.uuid4())
        if self.kind == "gitlab":
            return {"X-Gitlab-Event": "Merge Request Hook",
                    "X-Gitlab-Token": self.secret.decode(), "Idempotency-Key": delivery}
        if self.kind == "gitea":
            return {"X-Gitea-Event": "pull_request", "X-GitHub-Event": "pull_request",
                    "X-Gogs-Event": "pull_request", "X-Gitea-Delivery": delivery,
                    "X-Gitea-Signature": digest}
        return {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": f"sha256={digest}"}

    def _body(self, what: str, repo: Repo, pull: Pull, *, by: str,
              head_sha: str) -> dict[str, Any]:
        action = ACTIONS[self.kind][what]
        if self.kind == "gitlab":
            state = {"merged": "merged", "closed": "closed"}.get(what, "opened")
            return {"object_kind": "merge_request", "event_type": "merge_request",
                    "user": {"username": by},
                    "project": {"path_with_namespace": repo.full_name},
                    "object_attributes": {
                        "iid": pull.number, "action": action, "state": state,
                        "title": pull.title, "source_branch": pull.head,
                        "target_branch": pull.base, "merge_commit_sha": pull.merge_commit_sha,
                        "last_commit": {"id": head_sha}}}
        return {"action": action, "number": pull.number,
                "pull_request": {
                    "number": pull.number, "title": pull.title,
                    "state": "open" if what in ("opened", "reopened") else "closed",
                    "merged": what == "merged", "merge_commit_sha": pull.merge_commit_sha,
                    "head": {"ref": pull.head, "sha": head_sha},
                    "base": {"ref": pull.base}, "user": {"login": pull.author}},
                "repository": {"full_name": repo.full_name}, "sender": {"login": by}}
