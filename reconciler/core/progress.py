"""Where one rollout stands and what the daemon should do next (the release loop).

Level-triggered: the answer is computed from git (the targets' values and the
reconciler's trailer records) and the cluster (candidates, gates, Flux's applied
revision, HealthChecks, and the bake bookkeeping kept in the Rollout's status),
never from memory, so the same inputs after a restart give the same step and no
commit is written twice.

The newest reconciler record of the rollout decides the phase:

* its ``Release`` differs from what the targets hold → a person changed it by
  hand: **held** (nothing automatic until a reconciler commit agrees again, or
  ``wantedVersion`` says what to deploy);
* it is a release not yet settled → **deploying** (wait for Flux, bounded by
  ``deployTimeout``) then **baking** (``bake.evaluate``), ending in success or a
  **revert**; a newer selectable release meanwhile cancels it;
* otherwise → **select** the next release; outside the rollout's deploy window
  (``core/windows.py``) it waits until the window opens. A window never holds back a
  bake in flight nor a revert, and a ``wantedVersion`` pin passes it (kuberik: a
  manual deployment bypasses gates, and its schedules are gates).

Pure: an ``Observed`` in, a ``Step`` out (what to do, when to look again, and the
bake bookkeeping to store).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from reconciler.core import (
    bake,
    durations,
    models,
    planning,
    policies,
    quarantine,
    reasons,
    selection,
    steps,
    trailers,
    windows,
)
from reconciler.core.manifests import Target

Action = Literal["release", "revert", "wait", "idle", "held", "blocked", "suspended"]
BakeStatus = Literal["Deploying", "InProgress", "Succeeded", "Failed", "Cancelled"]
SETTLED = ("Succeeded", "Failed", "Cancelled")


@dataclass(frozen=True)
class Bookkeeping:
    """What status remembers about one release commit between reconciles."""

    commit: str
    bake_status: BakeStatus
    applied_at: datetime | None = None
    bake_start: datetime | None = None
    bake_end: datetime | None = None
    failed_checks: tuple[str, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class Applied:
    """Whether Flux has applied a commit: ``done`` plus a line saying where."""

    done: bool
    detail: str


@dataclass(frozen=True)
class Observed:
    rollout: str
    policy: policies.Effective
    targets: Sequence[Target]
    records: Sequence[trailers.Record]  # this rollout's, newest first
    candidates: Sequence[str]
    now: datetime
    gate_blocks: Sequence[str] = ()  # one line per gate that is not passing
    gate_allowed: frozenset[str] | None = None
    applied: Applied | None = None  # for the newest release record
    checks: Sequence[bake.Check] = ()
    kept: Sequence[Bookkeeping] = ()
    waiting_for: str | None = None  # e.g. the ImagePolicy has no status yet
    manual_commit: str | None = None  # "<sha> by <author>": the commit that changed a target
    # Candidates not yet promoted from the environments spec.promotion names, and why.
    promotion: Mapping[str, str] = field(default_factory=dict)
    # Releases whose pull request was closed unmerged, and why ("declined in pull
    # request #4 by ana"): never proposed again automatically.
    declined: Mapping[str, str] = field(default_factory=dict)
    # Releases are pushed. Through pull requests, a newer release waits for the bake in
    # flight to end: proposing it must not cancel a bake that may still fail.
    direct: bool = True
    # The deploy windows of the schedules selecting the rollout (None: none does).
    window: windows.Verdict | None = None
    # spec.steps: a release goes out as canary steps (core/steps.py).
    steps: Sequence[models.CanaryStep] = ()


@dataclass(frozen=True)
class Step:
    action: Action
    reason: str  # one of reasons.*
    message: str
    release: str | None = None  # the tag to write (action "release")
    digest: str | None = None  # its image digest, when a person gave it (release --digest)
    revert: str | None = None  # the release commit to revert (action "revert")
    wake_at: datetime | None = None
    kept: tuple[Bookkeeping, ...] = ()
    current: str | None = None
    in_flight: str | None = None  # the release commit being deployed or baked
    events: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)  # type, reason, msg
    # A canary's stage (core/steps.py): the step a release writes ("2/3"), "promote",
    # "abort" for the revert that ends a canary; or the step in flight while waiting.
    stage: str | None = None
    weight: int | None = None  # the canary's traffic weight of that stage


def settled_first(kept: Sequence[Bookkeeping],
                  unwritten: Sequence[Bookkeeping]) -> tuple[Bookkeeping, ...]:
    """``kept`` (read from the status) with each unsettled entry replaced by the
    settled one of the same commit in ``unwritten``: what a status write that was
    refused (a stale copy, 409) would have recorded, so a failed bake keeps its
    failed checks and message. Pure."""
    settled = {u.commit: u for u in unwritten if u.bake_status in SETTLED}
    return tuple(settled.get(k.commit, k) if k.bake_status not in SETTLED else k
                 for k in kept)


def _find(kept: Sequence[Bookkeeping], commit: str) -> Bookkeeping | None:
    return next((k for k in kept if k.commit == commit), None)


def _settle_older(kept: Sequence[Bookkeeping], newest: str | None,
                  reverted: frozenset[str] = frozenset()) -> list[Bookkeeping]:
    """Releases no longer the newest record: failed when git says a commit reverted
    them (git wins over whatever status remembered), else cancelled if unsettled."""
    out = []
    for k in kept:
        if k.commit in reverted and k.bake_status != "Failed":
            k = replace(k, bake_status="Failed",
                        message=k.message if k.bake_status not in SETTLED and k.message
                        else "reverted")
        elif k.commit != newest and k.bake_status not in SETTLED:
            k = replace(k, bake_status="Cancelled",
                        message="superseded by a newer commit before its bake ended")
        out.append(k)
    return out


def decide(o: Observed) -> Step:
    """The next step for one rollout. Pure. With canary steps (``core/steps.py``) a
    selected release becomes step 1; the revert of a step or promote commit ends the
    whole canary (``abort``); a step's bake ending well writes the next stage."""
    decided = _decide(o)
    newest = o.records[0] if o.records else None
    canary = newest is not None and newest.trailers.action in ("step", steps.PROMOTE)
    if decided.action == "revert" and canary and newest is not None \
            and decided.revert == newest.commit:
        return replace(decided, stage=steps.ABORT)
    if decided.action == "release" and decided.stage is None and o.steps:
        stage = steps.first(o.steps)
        return replace(decided, stage=stage.label, weight=stage.weight)
    if decided.stage is None and canary and newest is not None \
            and decided.in_flight == newest.commit:
        return replace(decided, stage=newest.trailers.step or steps.PROMOTE,
                       weight=newest.trailers.weight)
    return decided


def _decide(o: Observed) -> Step:
    policy = o.policy.selection
    current, disagree = planning.current_release(o.targets)
    newest = o.records[0] if o.records else None
    reverted = frozenset(r.trailers.reverts for r in o.records if r.trailers.reverts)
    kept = _settle_older(o.kept, newest.commit if newest else None, reverted)

    def step(action: Action, reason: str, message: str, **kw: Any) -> Step:
        return Step(action=action, reason=reason, message=message, current=current,
                    kept=tuple(kept), **kw)

    if policy.suspend:
        return step("suspended", reasons.SUSPENDED,
                    "spec.suspend is true: no automatic action is taken")

    # A person changed a target since the reconciler's last commit.
    expected = newest.trailers.release if newest else None
    if newest is not None and newest.trailers.action == "step":
        expected = newest.trailers.previous_release  # a step leaves the stable targets
    if newest is not None and current != expected:
        kept = [replace(k, bake_status="Cancelled",
                        message="a manual change replaced this release")
                if k.commit == newest.commit and k.bake_status not in SETTLED else k
                for k in kept]
        if policy.wanted_version:
            # A pin is an explicit instruction: write it (or report it pinned), but
            # never bake or revert a record the targets no longer hold.
            return _select(o, kept, current, disagree)
        by = f" in commit {o.manual_commit}" if o.manual_commit else ""
        what = disagree or f"the targets hold {current}"
        return step(
            "held", reasons.HELD_BY_MANUAL_CHANGE,
            f"held: {what}, set by hand{by} after the reconciler wrote {expected}; "
            f"automatic releases are paused. To resume, run `reconciler release "
            f"{o.rollout} <tag> --push` (it records the release as the reconciler's), "
            f"revert the manual commit, or set spec.wantedVersion")

    # The newest record is a release that has not settled: deploy, then bake.
    if newest is not None and newest.trailers.action in ("release", "step", steps.PROMOTE):
        mine = _find(kept, newest.commit) or Bookkeeping(newest.commit, "Deploying")
        if mine.bake_status == "Failed":
            # The bake failed but the revert is not in git yet (the push failed, or
            # the process stopped before it): ask for it again. Its Event goes out
            # when this revert is pushed, as the first attempt's would have.
            said = mine.message or f"{newest.trailers.release} failed"
            return step("revert", reasons.BAKE_FAILED, said,
                        revert=newest.commit, in_flight=newest.commit,
                        events=(("Warning", reasons.BAKE_FAILED,
                                 f"{newest.trailers.release} failed its bake: {said}; "
                                 "reverting"),))
        # A canary step that baked well is still in flight: its next stage is due
        # (held by a checkpoint or a window, it is decided again from this status).
        baked_step = newest.trailers.action == "step" and mine.bake_status == "Succeeded"
        if mine.bake_status not in SETTLED or baked_step:
            # A canary's stages are pushed whatever the write mode (engine/stepper.py).
            superseding = _superseding(o, newest.trailers.release, kept) \
                if o.direct or o.steps else None
            if superseding is not None:
                if _find(kept, newest.commit) is None:
                    kept = [mine, *kept]
                kept = [replace(k, bake_status="Cancelled",
                                message=f"superseded by {superseding}")
                        if k.commit == newest.commit else k for k in kept]
                return step("release", reasons.RELEASE_CANCELLED,
                            f"{superseding} supersedes {newest.trailers.release} "
                            f"before its bake ended", release=superseding,
                            events=(("Normal", reasons.RELEASE_CANCELLED,
                                     f"bake of {newest.trailers.release} cancelled: "
                                     f"{superseding} is newer"),))
            decided = _progress(o, newest, mine, kept, current)
            if newest.trailers.action == "release" and not o.direct \
                    and _find(kept, newest.commit) is None:
                # Pull-request mode: the release came through a merge, not a push of
                # ours, so this first pass that sees it says it was released (sent
                # once the status holds it, so once).
                was = f" (was {newest.trailers.previous_release})" \
                    if newest.trailers.previous_release else ""
                decided = replace(decided, events=(
                    ("Normal", reasons.RELEASE_WRITTEN,
                     f"released {newest.trailers.release}{was}: its pull request was "
                     f"merged as commit {newest.commit[:12]}"), *decided.events))
            return decided

    return _select(o, kept, current, disagree)


def _quarantined(o: Observed, kept: Sequence[Bookkeeping]) -> frozenset[str]:
    """Releases never picked again on their own: those a revert or rollback took out
    (git), and those whose bake failed with no revert to write because a person had
    already changed the targets (status remembers the failure; git does not)."""
    failed = {k.commit for k in kept if k.bake_status == "Failed"}
    return quarantine.quarantined(o.records, o.rollout) | {
        r.trailers.release for r in o.records
        if r.commit in failed and r.trailers.action == "release"}


def _superseding(o: Observed, in_flight: str, kept: Sequence[Bookkeeping]) -> str | None:
    # selection validates a wantedVersion pin like any tag (an invalid one is never
    # written); a pin overrides gates, an automatic choice does not.
    decision = selection.choose(
        current=in_flight, candidates=o.candidates, policy=o.policy.selection,
        quarantined=_quarantined(o, kept), gates=o.gate_allowed, promotion=o.promotion,
        declined=o.declined)
    pinned = o.policy.selection.wanted_version
    if decision.action == "release" and (pinned or not o.gate_blocks) and (
            pinned or o.window is None or o.window.open):
        return decision.next
    return None


def _progress(o: Observed, newest: trailers.Record, mine: Bookkeeping,
              kept: list[Bookkeeping], current: str | None) -> Step:
    release = newest.trailers.release

    def keep(k: Bookkeeping) -> list[Bookkeeping]:
        return [k if x.commit == k.commit else x for x in kept] if _find(kept, k.commit) \
            else [k, *kept]

    def step(action: Action, reason: str, message: str, k: Bookkeeping, **kw: Any) -> Step:
        return Step(action=action, reason=reason, message=message, current=current,
                    kept=tuple(keep(k)), in_flight=newest.commit, **kw)

    if mine.applied_at is None:
        applied = o.applied
        if applied is None or not applied.done:
            timeout = o.policy.deploy_timeout
            detail = applied.detail if applied else "no Flux Kustomization applies it"
            if timeout is not None and o.now >= newest.time + timeout:
                failed = replace(mine, bake_status="Failed", bake_end=o.now,
                                 message=f"not applied by Flux within "
                                         f"{durations.render(timeout)}: {detail}")
                return step("revert", reasons.DEPLOY_TIMEOUT, failed.message, failed,
                            revert=newest.commit,
                            events=(("Warning", reasons.DEPLOY_TIMEOUT,
                                     f"{release} {failed.message}; reverting"),))
            deadline = newest.time + timeout if timeout is not None else None
            waiting = replace(mine, bake_status="Deploying",
                              message=f"waiting for Flux to apply {newest.commit[:12]}: "
                                      f"{detail}")
            return step("wait", reasons.DEPLOYING, waiting.message, waiting, wake_at=deadline)
        mine = replace(mine, applied_at=o.now)

    assert mine.applied_at is not None
    # The one place a bake's health is judged, for a release, a canary step and the
    # bake after promotion alike (test hooks add their verdict here).
    stepping = newest.trailers.action == "step"
    verdict = bake.evaluate(
        o.checks, deployed_at=mine.applied_at, bake_start=mine.bake_start,
        bake_time=steps.bake_time(o.steps, newest) if stepping
        else o.policy.bake_time or timedelta(0), now=o.now,
        start_timeout=o.policy.deploy_timeout)
    if verdict.state == "Failed":
        failed = replace(mine, bake_status="Failed", bake_start=verdict.bake_start,
                         bake_end=o.now, failed_checks=verdict.failed,
                         message=verdict.message)
        return step("revert", reasons.BAKE_FAILED, verdict.message, failed,
                    revert=newest.commit,
                    events=(("Warning", reasons.BAKE_FAILED,
                             f"{release} failed its bake: {verdict.message}; reverting"),))
    if verdict.state == "Succeeded" and stepping:
        # The seam where test hooks and approvals decide whether the next stage of
        # the canary may be written now (steps.after names it).
        nxt = steps.after(o.steps, newest)
        done = replace(mine, bake_status="Succeeded", bake_start=verdict.bake_start,
                       bake_end=mine.bake_end or o.now, message=verdict.message)
        said = f"{release} step {newest.trailers.step} baked: {verdict.message}"
        if o.window is not None and not o.window.open and \
                not o.policy.selection.wanted_version:
            # The next stage moves traffic: a closed window holds it (the step keeps
            # its traffic and stays watched; a failure is reverted at once).
            return step("wait", reasons.OUTSIDE_DEPLOY_WINDOW,
                        f"{release} {nxt.label} waits: {o.window.message}", done,
                        stage=nxt.label, weight=nxt.weight, wake_at=o.window.opens_at)
        news = () if mine.bake_status == "Succeeded" else (
            ("Normal", reasons.CANARY_STEP_BAKED, f"{said}; writing {nxt.label}"),)
        return step("release", reasons.CANARY_STEP_BAKED, f"{said}; next: {nxt.label}",
                    done, release=release, stage=nxt.label, weight=nxt.weight, events=news)
    if verdict.state == "Succeeded":
        done = replace(mine, bake_status="Succeeded", bake_start=verdict.bake_start,
                       bake_end=o.now, message=verdict.message)
        return step("idle", reasons.BAKE_SUCCEEDED, f"{release} is released: "
                    f"{verdict.message}", done,
                    events=(("Normal", reasons.BAKE_SUCCEEDED,
                             f"{release} baked successfully: {verdict.message}"),))
    baking = replace(mine, bake_status="InProgress", bake_start=verdict.bake_start,
                     message=verdict.message)
    reason = reasons.BAKING if verdict.state == "InProgress" else reasons.HEALTH_CHECK_NOT_READY
    return step("wait", reason, f"{release}: {verdict.message}", baking,
                wake_at=verdict.ends_at)


def _select(o: Observed, kept: list[Bookkeeping], current: str | None,
            disagree: str | None) -> Step:
    def step(action: Action, reason: str, message: str, **kw: Any) -> Step:
        return Step(action=action, reason=reason, message=message, current=current,
                    kept=tuple(kept), **kw)

    policy = o.policy.selection
    if policy.wanted_version:
        if policy.wanted_version == current:
            return step("idle", reasons.PINNED,
                        f"pinned at {current} by spec.wantedVersion")
    elif o.gate_blocks:
        return step("blocked", reasons.GATE_BLOCKED, "; ".join(o.gate_blocks))
    elif o.waiting_for and not o.candidates:
        return step("blocked", reasons.IMAGE_POLICY_NOT_READY, o.waiting_for)
    if current is None and disagree and any(t.value for t in o.targets) \
            and not policy.wanted_version:
        return step("blocked", reasons.SELECTION_BLOCKED, disagree)
    decision = selection.choose(
        current=current, candidates=o.candidates, policy=policy,
        quarantined=_quarantined(o, kept), gates=o.gate_allowed, promotion=o.promotion,
        declined=o.declined)
    message = " ".join(decision.reasons)
    if decision.action == "release" and decision.next is not None:
        if o.window is not None and not o.window.open and not policy.wanted_version:
            return step("wait", reasons.OUTSIDE_DEPLOY_WINDOW,
                        f"{decision.next} waits: {o.window.message}", wake_at=o.window.opens_at)
        return step("release", reasons.RELEASE_WRITTEN, message, release=decision.next)
    if decision.action == "blocked":
        return step("blocked", reasons.SELECTION_BLOCKED, message)
    if o.waiting_for:
        message = f"{message} ({o.waiting_for})"
    return step("idle", reasons.UP_TO_DATE, message)
