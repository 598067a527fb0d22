"""The HTTP app's side of the daemon, faked: ``FakeDaemon`` answers the app from two
canned Rollouts (``PODINFO``, ``FRONTEND``) and their history (``RECORD``), and
counts what the webhooks asked of it. Beside it, the webhook secret the tests sign
with and the helpers that sign a body (``sign``, ``signature_for``) and post it
(``post``). Used by the HTTP, dashboard and CLI tests and the security review.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from reconciler.adapters.forges.events import PullRequestEvent
from reconciler.engine.surface import Noted
from reconciler.interfaces import webhookchecks
from tests.support import secretscan

SECRET = secretscan.generate("webhook secret (tests/support/fakedaemon.py)").encode()
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


def post(client: TestClient, path: str, body: bytes, *,
         header: str | None = "X-Signature", signature: str | bytes | None = None,
         **headers: str) -> Any:
    all_headers: dict[str, str | bytes] = {"Content-Type": "application/json", **headers}
    if header is not None:
        all_headers[header] = (signature if signature is not None
                               else signature_for(header, body))
    raw = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in all_headers.items()}
    return client.post(path, content=body, headers=raw)
