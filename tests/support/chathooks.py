"""A stand-in for chat incoming webhooks: Slack, Microsoft Teams (Workflows) and a
generic JSON receiver, on loopback.

Each ``ChatHook`` serves one secret webhook path, like the real ones (Slack's
``/services/T…/B…/<token>``: the URL is the credential); any other path gets what
Slack answers for a revoked or mistyped URL, 404 ``no_service``. What each checks
and answers:

* ``slack`` (api.slack.com/messaging/webhooks; error strings from the 2016-05-17
  changelog "Improving error conditions for Incoming Webhooks"): a JSON object with a
  non-empty ``text`` or ``blocks``, else 400 ``invalid_payload``; every block a known
  ``type``, section text at most 3000 characters, else 400 ``invalid_blocks``;
  success is 200 with the body ``ok``;
* ``teams`` (learn.microsoft.com, "Send Adaptive Cards using an Incoming Webhook";
  the envelope a Workflows "Post to a channel when a webhook request is received"
  flow takes): ``type: message`` with one attachment of ``contentType``
  ``application/vnd.microsoft.card.adaptive`` whose ``content`` is an
  ``AdaptiveCard`` with a ``version`` and a ``body`` list; success is 202, as a
  Power Automate HTTP trigger answers;
* ``generic``: any JSON object; 200.

Knobs: ``throttle(retry_after, times)`` answers the next requests 429 with
``Retry-After`` in seconds (api.slack.com/docs/rate-limits: over about one message a
second per webhook, HTTP 429 and a ``Retry-After`` header), ``fail_next`` answers the
given statuses. ``received`` holds every accepted payload with its arrival time
(monotonic), ``answers`` every status given.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any

from tests.support import secretscan
from tests.support.loopback import LoopbackServer

SLACK_BLOCKS = {"section", "context", "divider", "header", "actions", "image", "rich_text"}


class ChatHook(LoopbackServer):
    def __init__(self, kind: str) -> None:
        assert kind in ("slack", "teams", "generic")
        self.kind = kind
        token = secretscan.generate(f"{kind} webhook token")
        self.path = f"/services/T{secrets.token_hex(4).upper()}/B" \
                    f"{secrets.token_hex(4).upper()}/{token}"
        self.lock = threading.Lock()
        self.received: list[tuple[float, Any]] = []
        self.answers: list[int] = []
        self.fail_next: list[int] = []
        self._throttle: list[int] = []

    @property
    def webhook_url(self) -> str:
        """The secret URL, registered with the secret scan (the whole URL is one)."""
        return secretscan.register(self.url + self.path, f"{self.kind} webhook URL")

    def throttle(self, *, retry_after: int, times: int = 1) -> None:
        with self.lock:
            self._throttle.extend([retry_after] * times)

    def payloads(self) -> list[Any]:
        with self.lock:
            return [p for _, p in self.received]

    def handle(self, method: str, path: str, headers: Mapping[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            status, out_headers, out = self._answer(method, path, headers, body)
            self.answers.append(status)
            return status, out_headers, out

    def _answer(self, method: str, path: str, headers: Mapping[str, str],
                body: bytes) -> tuple[int, dict[str, str], bytes]:
        if method != "POST" or path != self.path:
            return 404, {}, b"no_service"
        if self.fail_next:
            return self.fail_next.pop(0), {}, b"rollup_error"
        if self._throttle:
            wait = self._throttle.pop(0)
            return 429, {"Retry-After": str(wait)}, b"rate_limited"
        if not headers.get("content-type", "").startswith("application/json"):
            return 400, {}, b"invalid_payload"
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, {}, b"invalid_payload"
        problem = {"slack": _slack_problem, "teams": _teams_problem,
                   "generic": _generic_problem}[self.kind](payload)
        if problem:
            return 400, {}, problem.encode()
        self.received.append((time.monotonic(), payload))
        if self.kind == "teams":
            return 202, {}, b""
        return 200, {"Content-Type": "text/html"}, b"ok"


def _slack_problem(payload: Any) -> str | None:
    if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
        return "invalid_payload"
    for block in payload.get("blocks") or []:
        if not isinstance(block, dict) or block.get("type") not in SLACK_BLOCKS:
            return "invalid_blocks"
        text = block.get("text")
        if block["type"] == "section" and (not isinstance(text, dict)
                                           or len(text.get("text", "")) > 3000):
            return "invalid_blocks"
        if block["type"] == "context" and not 0 < len(block.get("elements") or []) <= 10:
            return "invalid_blocks"
    return None


def _teams_problem(payload: Any) -> str | None:
    if not isinstance(payload, dict) or payload.get("type") != "message":
        return "type must be message"
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        return "one attachment expected"
    card = attachments[0]
    if card.get("contentType") != "application/vnd.microsoft.card.adaptive":
        return "contentType must be application/vnd.microsoft.card.adaptive"
    content = card.get("content") or {}
    if content.get("type") != "AdaptiveCard" or not content.get("version") \
            or not isinstance(content.get("body"), list) or not content["body"]:
        return "content must be an AdaptiveCard with a version and a body"
    return None


def _generic_problem(payload: Any) -> str | None:
    return None if isinstance(payload, dict) else "a JSON object expected"
