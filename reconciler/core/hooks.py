"""Test hooks (``spec.hooks[]``): what a hook is, what it is sent, and what its answer means.

Where it fits: Flagger's webhooks (``pkg/apis/flagger/v1beta1/canary.go``,
``CanaryWebhook`` and ``CanaryWebhookPayload``; ``pkg/controller/webhook.go``), so
the load testers and smoke-test services written for Flagger plug in unchanged. The
engine (``engine/hooks``) asks this module what to send, has ``adapters/hooks`` POST
it, and hands the answer back here to learn what it means; the daemon calls the
hooks at two seams (``engine/checkpoints``): before a write and during a bake.

=====================  =====================================  ===========================
type                   when                                   a non-2xx answer
=====================  =====================================  ===========================
``confirm-rollout``    before the first commit of a release   waits (retried)
``pre-rollout``        before the first commit, once passed   blocks the release (retried)
``confirm-promotion``  before promotion (the release commit)  waits (retried)
``rollout``            every ``interval`` during each bake    fails the bake (a revert)
``post-rollout``       after a bake succeeded                 recorded only
``rollback``           after a revert was pushed              recorded only
=====================  =====================================  ===========================

Flagger's ``confirm-traffic-increase`` and ``event`` types are refused with a clear
error, and so is any other type: a hook that would never be called is a mistake. Unlike
Flagger, a ``rollback`` hook is a notification (Flagger treats its 2xx as "roll back").

The payload is Flagger's (``name``, ``namespace``, ``phase``, ``metadata``) plus
``release``, ``previous`` and ``step``, as compact JSON with sorted keys; the body is
signed with HMAC-SHA256 under a shared secret, sent as ``X-Signature: sha256=<hex>``
(lower-case hex of the 32-byte MAC, like GitHub's ``X-Hub-Signature-256``).

Pure: plain data in, plain data out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from reconciler.core import durations
from reconciler.core.modelbase import Duration, _Model

HookType = Literal["confirm-rollout", "pre-rollout", "confirm-promotion", "rollout",
                   "post-rollout", "rollback"]
TYPES: tuple[HookType, ...] = ("confirm-rollout", "pre-rollout", "confirm-promotion",
                               "rollout", "post-rollout", "rollback")
BEFORE_WRITE: tuple[HookType, ...] = ("confirm-rollout", "pre-rollout", "confirm-promotion")
"""The gates before a release's commit, in the order they are asked."""

# Flagger's ``CanaryPhase`` at the point Flagger calls the hook of that type.
PHASES: Mapping[HookType, str] = {
    "confirm-rollout": "Waiting", "pre-rollout": "Progressing",
    "confirm-promotion": "WaitingPromotion", "rollout": "Progressing",
    "post-rollout": "Succeeded", "rollback": "Failed"}

SIGNATURE_HEADER = "X-Signature"
DEFAULT_TIMEOUT = timedelta(seconds=10)
MAX_TIMEOUT = timedelta(seconds=60)
DEFAULT_INTERVAL = timedelta(seconds=60)
MIN_INTERVAL = timedelta(seconds=1)
KEPT = 20  # outcomes kept in the status, newest first

Result = Literal["Succeeded", "Failed"]


class Hook(_Model):
    """One test hook, as Flagger's ``analysis.webhooks[]`` writes it."""

    name: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                      description="Unique within the rollout; named in the status and Events.")
    type: HookType = Field(default="rollout",
                           description="When it is called (Flagger's types; default rollout).")
    url: str = Field(description="The http:// or https:// address the payload is POSTed to.")
    timeout: Duration | None = Field(
        default=None, description="How long a call may take (default 10s, at most 60s).")
    interval: Duration | None = Field(
        default=None, description="rollout hooks: how often during a bake (default 60s).")
    metadata: dict[str, str] = Field(default_factory=dict,
                                     description="Sent as the payload's metadata.")

    @field_validator("url")
    @classmethod
    def _http_only(cls, value: str) -> str:
        problem = url_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("timeout")
    @classmethod
    def _bounded(cls, value: str | None) -> str | None:
        if value is not None and not timedelta(0) < durations.parse(value) <= MAX_TIMEOUT:
            raise ValueError(f"must be more than 0s and at most "
                             f"{durations.render(MAX_TIMEOUT)}, got {value}")
        return value

    @field_validator("interval")
    @classmethod
    def _not_too_often(cls, value: str | None) -> str | None:
        if value is not None and durations.parse(value) < MIN_INTERVAL:
            raise ValueError(f"must be at least {durations.render(MIN_INTERVAL)}, got {value}")
        return value

    def timeout_seconds(self) -> float:
        return (durations.parse(self.timeout) if self.timeout else DEFAULT_TIMEOUT
                ).total_seconds()

    def every(self) -> timedelta:
        return durations.parse(self.interval) if self.interval else DEFAULT_INTERVAL


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a hook's address, or None: only absolute http(s) URLs
    with a host, no credentials in them (they would land in the status)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"not a URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http:// or https:// URL with a host, got {url!r}"
    if parts.username or parts.password:
        return "must not hold credentials (sign with --hook-secret-file instead)"
    return None


def unique_names(found: Sequence[Hook]) -> None:
    """ValueError naming the first hook name used twice."""
    seen: set[str] = set()
    for hook in found:
        if hook.name in seen:
            raise ValueError(f"hook name {hook.name!r} is used twice")
        seen.add(hook.name)


def of_type(found: Sequence[Hook], kind: HookType) -> list[Hook]:
    return [h for h in found if h.type == kind]


@dataclass(frozen=True)
class Context:
    """Which release a call is about: the payload's own fields."""

    rollout: str  # namespace/name
    release: str
    previous: str | None = None
    step: int | None = None  # the canary step (1-based), None without steps


def payload(hook: Hook, context: Context) -> bytes:
    """The body of a call: Flagger's fields plus ours, compact JSON with sorted keys
    (the bytes the signature covers)."""
    namespace, name = context.rollout.split("/", 1)
    body: dict[str, Any] = {
        "name": name, "namespace": namespace, "phase": PHASES[hook.type],
        "release": context.release, "previous": context.previous, "step": context.step,
        "metadata": dict(hook.metadata)}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: bytes, body: bytes) -> str:
    """The ``X-Signature`` value of ``body``: ``sha256=`` and the HMAC-SHA256 in hex."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` (what a receiver checks),
    compared in constant time."""
    return header is not None and hmac.compare_digest(signature(secret, body), header)


@dataclass(frozen=True)
class Answer:
    """What came back from a call: the HTTP status, or why there was none."""

    code: int | None
    detail: str = ""  # the start of the response body, or the transport error


@dataclass(frozen=True)
class Outcome:
    """One call's outcome, as the status and the Events report it."""

    name: str
    type: HookType
    release: str
    result: Result
    code: int | None
    time: datetime
    message: str
    step: int | None = None

    def as_status(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.name, "type": self.type, "release": self.release,
            "result": self.result, "code": self.code,
            "time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "message": self.message}
        if self.step is not None:
            entry["step"] = self.step
        return entry


def judge(hook: Hook, context: Context, answer: Answer, now: datetime) -> Outcome:
    """What ``answer`` means: any 2xx passes; anything else (another status, a
    timeout, no connection) fails, with a message naming the hook."""
    passed = answer.code is not None and 200 <= answer.code < 300
    said = answer.detail.strip().splitlines()[0][:200] if answer.detail.strip() else ""
    if passed:
        message = f"{hook.type} hook {hook.name} passed (HTTP {answer.code})"
    elif answer.code is not None:
        message = f"{hook.type} hook {hook.name} answered HTTP {answer.code}"
    else:
        message = f"{hook.type} hook {hook.name} failed"
    if said and not passed:
        message += f": {said}"
    return Outcome(name=hook.name, type=hook.type, release=context.release,
                   result="Succeeded" if passed else "Failed", code=answer.code, time=now,
                   message=message, step=context.step)


def outcomes_from(status: Mapping[str, Any] | None) -> list[Outcome]:
    """The outcomes a status holds (what a restarted daemon starts from); entries it
    cannot read are dropped."""
    out = []
    for e in (status or {}).get("hooks") or []:
        try:
            kind = e["type"]
            if kind not in TYPES or e["result"] not in ("Succeeded", "Failed"):
                continue
            out.append(Outcome(name=str(e["name"]), type=kind, release=str(e["release"]),
                               result=e["result"], code=e.get("code"),
                               time=datetime.fromisoformat(str(e["time"]).replace("Z",
                                                                                 "+00:00")),
                               message=str(e.get("message", "")), step=e.get("step")))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def latest(found: Sequence[Outcome], hook: Hook, context: Context) -> Outcome | None:
    """The newest outcome of ``hook`` for this release (and step)."""
    mine = [o for o in found if (o.name, o.type, o.release, o.step)
            == (hook.name, hook.type, context.release, context.step)]
    return max(mine, key=lambda o: o.time) if mine else None


def due(hook: Hook, last: Outcome | None, *, since: datetime, now: datetime) -> datetime:
    """When a rollout hook is next called in a bake that started at ``since``: at
    once, then every ``interval`` after the previous call."""
    if last is None or last.time < since:
        return now
    return last.time + hook.every()


def remember(found: Sequence[Outcome], new: Outcome) -> list[Outcome]:
    """``found`` with ``new`` in place of the same hook's older outcome for the same
    release and step, newest first, at most ``KEPT``."""
    rest = [o for o in found if (o.name, o.type, o.release, o.step)
            != (new.name, new.type, new.release, new.step)]
    return sorted([new, *rest], key=lambda o: o.time, reverse=True)[:KEPT]
