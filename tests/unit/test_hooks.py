"""Test hooks (core/hooks): validation with one clear line per mistake, Flagger's
payload plus ours, the X-Signature HMAC a receiver can check, what an answer means,
when a rollout hook is due, and outcomes kept in (and read back from) the status."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from reconciler.core import hooks, models
from reconciler.core.hooks import Answer, Context, Hook

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def rollout_errors(*found: dict[str, object]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        models.Rollout.model_validate({"metadata": {"name": "podinfo", "namespace": "apps"},
                                       "spec": {"hooks": list(found)}})
    return models.describe_error(info.value)


def test_a_flagger_webhook_validates_unchanged() -> None:
    # As Flagger's docs write one (docs/gitbook/usage/webhooks.md).
    spec = models.RolloutSpec.model_validate({"hooks": [
        {"name": "acceptance-test", "type": "pre-rollout",
         "url": "http://flagger-loadtester.test/", "timeout": "30s",
         "metadata": {"type": "bash", "cmd": "curl -sd 'test' http://podinfo-canary:9898/token"}},
        {"name": "load-test", "url": "http://flagger-loadtester.test/", "timeout": "5s",
         "metadata": {"cmd": "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"}}]})
    first, second = spec.hooks
    assert (first.type, first.timeout_seconds()) == ("pre-rollout", 30.0)
    assert second.type == "rollout"  # Flagger's default type
    assert second.every() == hooks.DEFAULT_INTERVAL
    assert Hook(name="x", url="https://a.example").timeout_seconds() == 10.0


def test_unknown_types_bad_urls_and_unbounded_timeouts_are_refused_by_field() -> None:
    assert rollout_errors({"name": "t", "type": "confirm-traffic-increase",
                           "url": "http://a"}) == [
        ("spec.hooks.0.type", "must be one of 'confirm-rollout', 'pre-rollout', "
                              "'confirm-promotion', 'rollout', 'post-rollout' or 'rollback', "
                              "got 'confirm-traffic-increase'")]
    assert rollout_errors({"name": "t", "url": "file:///etc/passwd"}) == [
        ("spec.hooks.0.url", "must be an http:// or https:// URL with a host, "
                             "got 'file:///etc/passwd'")]
    assert rollout_errors({"name": "t", "url": "https://user:pw@a.example/"})[0][1] == (
        "must not hold credentials (sign with --hook-secret-file instead)")
    assert rollout_errors({"name": "t", "url": "http://a", "timeout": "90s"}) == [
        ("spec.hooks.0.timeout", "must be more than 0s and at most 1m, got 90s")]
    assert rollout_errors({"name": "t", "url": "http://a", "interval": "100ms"}) == [
        ("spec.hooks.0.interval", "must be at least 1s, got 100ms")]
    assert rollout_errors({"name": "t", "url": "http://a"}, {"name": "t", "url": "http://b"}) \
        == [("spec.hooks", "hook name 't' is used twice")]
    with pytest.raises(ValidationError):
        models.RolloutSpec.model_validate({"approval": "sometimes"})


def test_payload_is_flaggers_plus_release_previous_and_step_in_sorted_compact_json() -> None:
    hook = Hook(name="smoke", type="pre-rollout", url="http://a", metadata={"cmd": "curl x"})
    body = hooks.payload(hook, Context(rollout="apps/podinfo", release="6.5.0",
                                       previous="6.4.0"))
    assert body == (b'{"metadata":{"cmd":"curl x"},"name":"podinfo","namespace":"apps",'
                    b'"phase":"Progressing","previous":"6.4.0","release":"6.5.0","step":null}')
    canary = hooks.payload(Hook(name="p", type="confirm-promotion", url="http://a"),
                           Context(rollout="apps/podinfo", release="6.5.0", step=2))
    assert json.loads(canary)["phase"] == "WaitingPromotion"
    assert json.loads(canary)["step"] == 2


def test_signature_is_hex_hmac_sha256_of_the_body_and_verifies_in_constant_time() -> None:
    body = b'{"name":"podinfo"}'
    sig = hooks.signature(b"s3cret", body)
    assert sig == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert hooks.verify(b"s3cret", body, sig)
    assert not hooks.verify(b"other", body, sig)
    assert not hooks.verify(b"s3cret", body + b" ", sig)
    assert not hooks.verify(b"s3cret", body, None)


@pytest.mark.parametrize(("answer", "result", "message"), [
    (Answer(200, "ok"), "Succeeded", "pre-rollout hook smoke passed (HTTP 200)"),
    (Answer(204), "Succeeded", "pre-rollout hook smoke passed (HTTP 204)"),
    (Answer(500, "tests failed: 3 of 40\nstack"), "Failed",
     "pre-rollout hook smoke answered HTTP 500: tests failed: 3 of 40"),
    (Answer(302), "Failed", "pre-rollout hook smoke answered HTTP 302"),
    (Answer(None, "no answer within 10s"), "Failed",
     "pre-rollout hook smoke failed: no answer within 10s"),
])
def test_any_2xx_passes_anything_else_fails_naming_the_hook(
        answer: Answer, result: str, message: str) -> None:
    hook = Hook(name="smoke", type="pre-rollout", url="http://a")
    outcome = hooks.judge(hook, Context(rollout="apps/podinfo", release="6.5.0"), answer, T0)
    assert (outcome.result, outcome.message, outcome.code) == (result, message, answer.code)


def test_a_rollout_hook_is_due_at_the_bake_start_then_every_interval() -> None:
    hook = Hook(name="load", url="http://a", interval="30s")
    ctx = Context(rollout="apps/podinfo", release="6.5.0")
    assert hooks.due(hook, None, since=T0, now=T0 + timedelta(seconds=3)) == \
        T0 + timedelta(seconds=3)
    called = hooks.judge(hook, ctx, Answer(200), T0 + timedelta(seconds=3))
    assert hooks.due(hook, called, since=T0, now=T0 + timedelta(seconds=4)) == \
        T0 + timedelta(seconds=33)
    # A call from an earlier bake of the same release does not count for this one.
    assert hooks.due(hook, called, since=T0 + timedelta(minutes=5),
                     now=T0 + timedelta(minutes=5)) == T0 + timedelta(minutes=5)


def test_outcomes_keep_the_newest_per_hook_and_release_and_read_back_from_status() -> None:
    smoke = Hook(name="smoke", type="pre-rollout", url="http://a")
    ctx = Context(rollout="apps/podinfo", release="6.5.0")
    failed = hooks.judge(smoke, ctx, Answer(500), T0)
    passed = hooks.judge(smoke, ctx, Answer(200), T0 + timedelta(seconds=5))
    older = hooks.judge(smoke, Context(rollout="apps/podinfo", release="6.4.0"), Answer(200),
                        T0 - timedelta(days=1))
    kept = hooks.remember(hooks.remember([older], failed), passed)
    assert kept == [passed, older]
    assert hooks.latest(kept, smoke, ctx) == passed
    status = {"hooks": [o.as_status() for o in kept] + [{"name": "broken"}]}
    assert status["hooks"][0] == {"name": "smoke", "type": "pre-rollout", "release": "6.5.0",
                                  "result": "Succeeded", "code": 200,
                                  "time": "2026-12-03T08:00:05Z",
                                  "message": "pre-rollout hook smoke passed (HTTP 200)"}
    assert hooks.outcomes_from(status) == kept
    many = [hooks.judge(Hook(name=f"h{i}", url="http://a"), ctx, Answer(200),
                        T0 + timedelta(seconds=i)) for i in range(30)]
    kept = []
    for o in many:
        kept = hooks.remember(kept, o)
    assert len(kept) == hooks.KEPT and kept[0].name == "h29"
