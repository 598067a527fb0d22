"""The checkpoints of a release (engine/checkpoints): approvals and hooks before a write,
rollout hooks during a bake, notifications after. Decisions come from the real
``core.progress``; the only fake is the HTTP call (a scripted ``Caller``), a seam the
daemon passes in."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from reconciler.core import declines, hooks, models, progress, reasons
from reconciler.engine import checkpoints
from reconciler.engine.hooks import Hooks
from tests.unit.progressworld import (
    APPLIED,
    IN_FLIGHT,
    R110,
    ROLLOUT,
    T0,
    M,
    baking,
    healthy,
    observe,
    targets,
)


class Scripted:
    """Answers each hook with the next code of its script (the last repeats)."""

    def __init__(self, **codes: list[int]) -> None:
        self.codes = codes
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, hook: hooks.Hook, body: bytes) -> hooks.Answer:
        self.calls.append((hook.name, json.loads(body)))
        script = self.codes[hook.name.replace("-", "_")]
        return hooks.Answer(script.pop(0) if len(script) > 1 else script[0])


class World:
    def __init__(self, caller: Scripted, *, now: datetime = T0,
                 decided: list[declines.Decline] | None = None) -> None:
        self.now = now
        self.events: list[tuple[str, str, str]] = []
        self.decided = decided or []
        self.cp = checkpoints.Checkpoints(
            hooks=Hooks(caller=caller, clock=lambda: self.now,
                        emit=lambda obj, *event: self.events.append(event)),
            decisions=lambda: self.decided, environment="production",
            clock=lambda: self.now, command="--repo https://git.example/fleet.git")

    def review(self, spec: models.RolloutSpec, o: progress.Observed) -> progress.Step:
        return self.cp.review(ROLLOUT, OBJ, spec, o, progress.decide(o))


S = timedelta(seconds=1)
OBJ: Mapping[str, Any] = {"metadata": {"name": "podinfo", "namespace": "apps"}}


def spec(**kw: Any) -> models.RolloutSpec:
    return models.RolloutSpec(policy="standard", **kw)


def hook(name: str, kind: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "url": f"http://127.0.0.1:9/{name}", **kw}


OFFERED = observe(candidates=["1.0.0", "1.1.0"])  # 1.0.0 settled; 1.1.0 would be written


def test_manual_approval_holds_the_release_until_the_notes_hold_one() -> None:
    world = World(Scripted())
    held = world.review(spec(approval="manual"), OFFERED)
    assert (held.action, held.reason, held.wake_at) == ("wait", reasons.AWAITING_APPROVAL, None)
    assert held.message == (
        "1.1.0 waits for a person's approval (spec.approval: manual): run `reconciler "
        "approve apps/podinfo 1.1.0 --repo https://git.example/fleet.git`")
    assert held.current == "1.0.0" and held.kept == progress.decide(OFFERED).kept
    staging = declines.Decline(commit="a" * 40, rollout=ROLLOUT, release="1.1.0",
                               environment="staging", number=0, at=T0, decision="Approved")
    world.decided = [staging, replace(staging, release="1.0.0", environment="production")]
    assert world.review(spec(approval="manual"), OFFERED).reason == reasons.AWAITING_APPROVAL
    world.decided.append(replace(staging, environment="production"))
    go = world.review(spec(approval="manual"), OFFERED)
    assert (go.action, go.release) == ("release", "1.1.0")
    # A pin is a person's explicit instruction: no approval asked.
    pinned = World(Scripted()).review(spec(approval="manual", wantedVersion="1.1.0"), OFFERED)
    assert pinned.action == "release"


def test_hooks_before_the_write_run_in_order_and_a_passed_one_is_not_asked_again() -> None:
    caller = Scripted(gate=[200], smoke=[500, 200], promote=[503, 200])
    world = World(caller)
    s = spec(hooks=[hook("promote", "confirm-promotion"), hook("smoke", "pre-rollout"),
                    hook("gate", "confirm-rollout")])
    blocked = world.review(s, OFFERED)
    assert (blocked.action, blocked.reason) == ("wait", reasons.PRE_ROLLOUT_HOOK_FAILED)
    assert blocked.message.startswith("1.1.0 is blocked: pre-rollout hook smoke answered "
                                      "HTTP 500; asking again in ")
    assert blocked.wake_at is not None and T0 < blocked.wake_at <= T0 + 2 * M
    assert [name for name, _ in caller.calls] == ["gate", "smoke"]
    assert caller.calls[1][1] == {"name": "podinfo", "namespace": "apps",
                                  "phase": "Progressing", "release": "1.1.0",
                                  "previous": "1.0.0", "step": None, "metadata": {}}

    world.now = T0 + M
    waiting = world.review(s, OFFERED)
    assert (waiting.action, waiting.reason) == ("wait", reasons.WAITING_FOR_CONFIRMATION)
    assert waiting.message.startswith("1.1.0 waits: confirm-promotion hook promote answered "
                                      "HTTP 503")
    world.now = T0 + 2 * M
    assert world.review(s, OFFERED).action == "release"
    assert [name for name, _ in caller.calls] == ["gate", "smoke", "smoke", "promote", "promote"]
    assert [(kind, reason) for kind, reason, _ in world.events] == [
        ("Normal", reasons.HOOK_PASSED), ("Warning", reasons.HOOK_FAILED),
        ("Normal", reasons.HOOK_PASSED), ("Warning", reasons.HOOK_FAILED),
        ("Normal", reasons.HOOK_PASSED)]
    assert [o["result"] for o in world.cp.hooks.status(ROLLOUT)] == ["Succeeded"] * 3


def test_a_failed_hook_is_not_asked_again_before_its_backoff_whatever_wakes_the_rollout(
        ) -> None:
    # The status write's own watch echo, a resync, an ImagePolicy event: each reviews
    # the rollout again at once; the failing hook waits its backoff all the same.
    caller = Scripted(smoke=[500, 500, 200])
    world = World(caller)
    s = spec(hooks=[hook("smoke", "pre-rollout")])
    first = world.review(s, OFFERED)
    assert first.reason == reasons.PRE_ROLLOUT_HOOK_FAILED and first.wake_at is not None
    for _ in range(5):
        world.now += timedelta(milliseconds=100)
        again = world.review(s, OFFERED)
        assert (again.reason, again.message, again.wake_at) == (
            first.reason, first.message, first.wake_at)
    assert len(caller.calls) == 1
    world.now = first.wake_at
    second = world.review(s, OFFERED)
    assert second.reason == reasons.PRE_ROLLOUT_HOOK_FAILED and len(caller.calls) == 2
    assert second.wake_at is not None and second.wake_at > world.now
    world.now = second.wake_at
    assert world.review(s, OFFERED).action == "release" and len(caller.calls) == 3


def test_a_held_newer_release_never_cancels_the_bake_in_flight() -> None:
    in_flight = observe(records=IN_FLIGHT, targets=targets("1.1.0"), applied=APPLIED,
                        candidates=["1.0.0", "1.1.0", "1.1.1"], checks=[healthy()],
                        kept=[baking(3 * M)], now=T0 + 5 * M)
    assert progress.decide(in_flight).reason == reasons.RELEASE_CANCELLED
    step = World(Scripted()).review(spec(approval="manual"), in_flight)
    assert (step.action, step.reason, step.in_flight) == ("wait", reasons.BAKING, R110)
    assert [k.bake_status for k in step.kept if k.commit == R110] == ["InProgress"]
    # The bake in flight failing while the newer release is held: reverted at once
    # (a held release never holds a revert back).
    failing = replace(in_flight, checks=[healthy(last_error=T0 + 4 * M)])
    reverted = World(Scripted()).review(spec(approval="manual"), failing)
    assert (reverted.action, reverted.revert) == ("revert", R110)


def test_a_rollout_hook_is_called_every_interval_and_its_failure_fails_the_bake() -> None:
    caller = Scripted(load=[200, 500])
    world = World(caller, now=T0 + 5 * M)
    s = spec(hooks=[hook("load", "rollout", interval="30s")])
    in_bake = observe(records=IN_FLIGHT, targets=targets("1.1.0"), applied=APPLIED,
                      candidates=["1.0.0", "1.1.0"], checks=[healthy()],
                      kept=[baking(3 * M)], now=T0 + 5 * M)
    step = world.review(s, in_bake)
    assert (step.action, step.reason) == ("wait", reasons.BAKING)
    assert step.wake_at == T0 + 5 * M + 30 * S
    world.now = T0 + 5 * M + 10 * S
    assert world.review(s, replace(in_bake, now=world.now)).reason == reasons.BAKING
    assert len(caller.calls) == 1, "not due yet"
    world.now = T0 + 6 * M
    failed = world.review(s, replace(in_bake, now=world.now))
    assert (failed.action, failed.reason, failed.revert) == ("revert", reasons.BAKE_FAILED, R110)
    assert "hook load: rollout hook load answered HTTP 500" in failed.message
    [mine] = [k for k in failed.kept if k.commit == R110]
    assert mine.failed_checks == ("hook load",)


def test_post_rollout_and_rollback_hooks_are_told_once() -> None:
    caller = Scripted(done=[500], undo=[200])
    world = World(caller, now=T0 + 20 * M)
    s = spec(hooks=[hook("done", "post-rollout"), hook("undo", "rollback")])
    baked = observe(records=IN_FLIGHT, targets=targets("1.1.0"), applied=APPLIED,
                    candidates=["1.0.0", "1.1.0"], checks=[healthy()],
                    kept=[baking(3 * M)], now=T0 + 20 * M)
    for _ in range(2):
        assert world.review(s, baked).reason == reasons.BAKE_SUCCEEDED
    assert [(n, p["phase"]) for n, p in caller.calls] == [("done", "Succeeded")]
    rollout = {**OBJ, "spec": {"hooks": [hook("undo", "rollback")]}}
    for _ in range(2):
        world.cp.reverted(ROLLOUT, rollout, release="1.1.0", restored="1.0.0")
    assert [(n, p["release"], p["previous"]) for n, p in caller.calls[1:]] == [
        ("undo", "1.1.0", "1.0.0")]


def test_the_approve_command_in_the_message_names_what_the_daemon_was_given() -> None:
    assert checkpoints.approve_arguments(url="https://h/r.git", branch="main", path=None,
                                         environment="default") == "--repo https://h/r.git"
    assert checkpoints.approve_arguments(
        url="https://h/r.git", branch="live", path="clusters/production",
        environment="prod-eu") == ("--repo https://h/r.git --branch live --path "
                                   "clusters/production --environment prod-eu")


def test_through_pull_requests_the_release_is_proposed_and_its_merge_waits_instead() -> None:
    world = World(Scripted())
    world.cp = checkpoints.Checkpoints(
        hooks=world.cp.hooks, decisions=lambda: world.decided, environment="production",
        clock=lambda: world.now, command="--repo x", mode=lambda obj: "pull-request")
    step = world.review(spec(approval="manual"), OFFERED)
    assert (step.action, step.release) == ("release", "1.1.0")
    assert world.cp.unapproved(ROLLOUT, "1.1.0")
    world.decided = [declines.Decline(commit="a" * 40, rollout=ROLLOUT, release="1.1.0",
                                      environment="production", number=4, at=T0,
                                      by="ana", decision="Approved")]
    assert not world.cp.unapproved(ROLLOUT, "1.1.0")
    world.review(spec(), OFFERED)  # approval: auto again
    world.decided = []
    assert not world.cp.unapproved(ROLLOUT, "1.1.0")


def test_a_restarted_daemon_reads_which_hooks_passed_from_the_status() -> None:
    caller = Scripted(smoke=[500])
    world = World(caller)
    smoke = hooks.Hook(name="smoke", type="pre-rollout", url="http://127.0.0.1:9/smoke")
    passed = hooks.judge(smoke, hooks.Context(rollout=ROLLOUT, release="1.1.0"),
                         hooks.Answer(200), T0 - M)
    restarted = {**OBJ, "status": {"hooks": [passed.as_status()]}}
    s = spec(hooks=[hook("smoke", "pre-rollout")])
    o = OFFERED
    step = world.cp.review(ROLLOUT, restarted, s, o, progress.decide(o))
    assert step.action == "release" and caller.calls == []
    assert world.cp.hooks.status(ROLLOUT) == [passed.as_status()]
