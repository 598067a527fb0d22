"""Checkpoints: approvals and test hooks at the two seams of a release.

Where it fits: the daemon decides a step (``core/progress.decide``) and hands it to
``Checkpoints.review`` before acting on it:

* **before a write** (``gate``): a release about to be written waits while it needs
  a person's approval (``spec.approval: manual``, read from the git notes:
  ``core/declines`` ``Approved``), while a ``confirm-rollout`` or ``confirm-promotion``
  hook answers non-2xx (``WaitingForConfirmation``), and is blocked while a
  ``pre-rollout`` hook does (``PreRolloutHookFailed``), retried with backoff and
  never quarantined. Without canary steps promotion *is* the release commit, so all
  of them are asked, in that order, before it. With canary steps (``_before``) a
  canary's step 1 asks the release's approval, its own (``steps[].approval:
  manual``), ``confirm-rollout`` and ``pre-rollout``; a later step its own approval;
  promotion the ``confirm-promotion`` hooks. Approvals are keyed by rollout,
  release, environment and step; a later stage held waits with its step baked;
* **during a bake** (``bake``): the ``rollout`` hooks are called every ``interval``
  in every bake, a canary step's included (the step is in the payload); a failure
  is one more Unhealthy HealthCheck named ``hook <name>``, so the bake fails the
  ordinary way (one revert, the tag quarantined, the reason names the hook).

After a bake succeeded the ``post-rollout`` hooks are told, after a revert was pushed
(``reverted``) the ``rollback`` hooks: notifications whose result is recorded.

A release the gates hold is not written, and a bake in flight goes on meanwhile: the
step is decided again as if no new release were offered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from reconciler.core import backoff, bake, declines, hooks, models, progress, reasons, scope, steps
from reconciler.engine.hooks import Hooks

log = logging.getLogger(__name__)

APPROVAL = "approval"
"""The gate of a person's approval, beside the hook types ``gate`` takes."""
STEP_APPROVAL = "step-approval"
"""The gate of a person's approval of one canary step (``steps[].approval: manual``)."""
RELEASE_GATES: tuple[str, ...] = (APPROVAL, *hooks.BEFORE_WRITE)


def _stage(step: progress.Step) -> int | None:
    """The canary step number ``step`` writes (``"2/3"`` -> 2); None for promote or
    a release without steps."""
    number = (step.stage or "").partition("/")[0]
    return int(number) if number.isdigit() else None


def _later_stage(step: progress.Step) -> bool:
    """Whether ``step`` writes a canary stage after the first (a step or promote)."""
    number = _stage(step)
    return step.stage is not None and (number is None or number > 1)


def _before(key: str, spec: models.RolloutSpec, step: progress.Step
            ) -> list[tuple[hooks.Context, tuple[str, ...]]]:
    """What is asked before ``step`` is written, in order: without canary steps all
    of ``RELEASE_GATES`` (the release commit is its promotion); a canary's step 1 the
    release's approval, its own approval and the hooks before a rollout; a later step
    its own approval; promotion the ``confirm-promotion`` hooks."""
    assert step.release is not None
    context = hooks.Context(rollout=key, release=step.release, previous=step.current)
    if step.stage is None:
        return [(context, RELEASE_GATES)]
    number = _stage(step)
    if number is None:
        return [(context, ("confirm-promotion",))]
    out: list[tuple[hooks.Context, tuple[str, ...]]] = []
    if number == 1:
        out.append((context, (APPROVAL,)))
    mine = replace(context, step=number)
    configured = spec.steps or []
    if number <= len(configured) and configured[number - 1].approval == "manual":
        out.append((mine, (STEP_APPROVAL,)))
    if number == 1:
        out.append((mine, ("confirm-rollout", "pre-rollout")))
    return out


_EARLY = timedelta(milliseconds=50)  # a timer that wakes the rollout this early is on time

class Checkpoints:
    def __init__(self, *, hooks: Hooks, decisions: Callable[[], Sequence[declines.Decline]],
                 environment: str, clock: Callable[[], datetime], command: str,
                 mode: Callable[[Mapping[str, Any]], str] = lambda obj: "direct") -> None:
        """``decisions``: people's decisions in the git notes (``Verdicts.decisions``);
        ``command``: the ``--repo`` (and ``--path``) arguments the approval message
        tells a person to run ``reconciler approve`` with; ``mode``: how a Rollout's
        releases reach the branch (``Writers.mode``)."""
        self._mode = mode
        self._manual: dict[str, bool] = {}  # rollout -> spec.approval is manual
        self.hooks = hooks
        self._decisions = decisions
        self._environment = environment
        self._clock = clock
        self._command = command
        self._attempts = backoff.Attempts(backoff.ERRORS)
        # (slot, hook type) -> (reason, message, when to ask again): a failed hook is
        # not asked again before then, whatever wakes the rollout meanwhile.
        self._blocked: dict[tuple[str, str], tuple[str, str, datetime]] = {}
        # rollout -> (release, step) held for a person's approval (the dashboard's).
        self._awaiting: dict[str, tuple[str, int | None]] = {}

    def awaiting(self, key: str) -> tuple[str, int | None] | None:
        """The release (and canary step) of ``key`` that waits for a person's approval
        as of its last reconcile on this replica, or None."""
        return self._awaiting.get(key)

    def review(self, key: str, obj: Mapping[str, Any], spec: models.RolloutSpec,
               observed: progress.Observed, step: progress.Step) -> progress.Step:
        """``step`` as the checkpoints leave it: held before a write, failed by a
        rollout hook, or as decided."""
        self._awaiting.pop(key, None)
        if step.action == "release" and step.release and not spec.wantedVersion:
            held = None
            for context, gates in _before(key, spec, step):
                held = self.gate(key, obj, spec, context, gates,
                                 direct=step.stage is not None or self._mode(obj) == "direct")
                if held is not None:
                    break
            if held is None:
                return step
            reason, message, wake_at = held
            if _later_stage(step):
                # The canary in flight stays where it is: its baked step is kept, its
                # next stage waits (a newer release would go out as its own step 1).
                return replace(step, action="wait", reason=reason, message=message,
                               release=None, wake_at=wake_at, events=())
            again = progress.decide(replace(observed, candidates=()))
            if again.action in ("wait", "revert"):  # a bake in flight goes on, or fails
                return again
            return progress.Step(action="wait", reason=reason, message=message,
                                 current=again.current, kept=again.kept, wake_at=wake_at)
        newest = observed.records[0] if observed.records else None
        if newest is None or step.in_flight != newest.commit:
            return step
        found = steps.position(newest)
        context = hooks.Context(rollout=key, release=newest.trailers.release,
                                previous=newest.trailers.previous_release,
                                step=found[0] if found else None)
        if step.reason == reasons.BAKING:
            return self.bake(key, obj, spec, observed, step, context)
        if step.reason == reasons.BAKE_SUCCEEDED:
            self.hooks.notify(obj, key, hooks.of_type(spec.hooks, "post-rollout"), context)
        return step

    def gate(self, key: str, obj: Mapping[str, Any], spec: models.RolloutSpec,
             context: hooks.Context, gates: Sequence[str], *, direct: bool = True
             ) -> tuple[str, str, datetime | None] | None:
        """Whether the write of ``context``'s release (or step) must wait: None to go
        on, else the reason, the message and when to look again (None: when git or
        the Rollout changes). ``gates``: ``APPROVAL``, ``STEP_APPROVAL`` and hook
        types, asked in order. ``direct``: the write is pushed (in pull-request mode a
        release's approval is the review on its pull request instead)."""
        slot = f"{key}@{context.release}@{context.step}"
        for stale in [b for b in self._blocked if b[0].startswith(f"{key}@") and b[0] != slot]:
            del self._blocked[stale]  # another release (or step) is asked about now
        for gate in gates:
            if gate in (APPROVAL, STEP_APPROVAL):
                if gate == APPROVAL:
                    self._manual[key] = spec.approval == "manual"
                    if not direct:
                        continue  # the merge waits for an approving review instead
                waiting = self._approval(key, context, required=gate == STEP_APPROVAL
                                         or spec.approval == "manual")
                if waiting is not None:
                    self._awaiting[key] = (context.release, context.step)
                    return reasons.AWAITING_APPROVAL, waiting, None
                continue
            blocked = self._blocked.get((slot, gate))
            if blocked is not None and self._clock() < blocked[2] - _EARLY:
                # The watch's echo of the status just written, a resync or another
                # event: the failed hook waits its backoff all the same.
                return blocked
            found = [h for h in spec.hooks if h.type == gate]
            failed = self.hooks.first_failure(obj, key, found, context, again=False)
            if failed is not None:
                wait = timedelta(seconds=self._attempts.delay(slot))
                reason = (reasons.PRE_ROLLOUT_HOOK_FAILED if gate == "pre-rollout"
                          else reasons.WAITING_FOR_CONFIRMATION)
                verb = "is blocked" if gate == "pre-rollout" else "waits"
                blocked = (reason, f"{context.release} {verb}: {failed.message}; asking "
                                   f"again in {wait.total_seconds():.0f}s", self._clock() + wait)
                self._blocked[(slot, gate)] = blocked
                return blocked
            self._blocked.pop((slot, gate), None)
        self._attempts.reset(slot)
        return None

    def unapproved(self, key: str, release: str) -> bool:
        """Whether ``release`` of ``key`` (proposed as a pull request) still needs a
        person's approval: the pull-request writer asks before merging it."""
        return self._manual.get(key, False) and self.approved(
            key, hooks.Context(rollout=key, release=release)) is None

    def approved(self, key: str, context: hooks.Context) -> declines.Decline | None:
        """The approval of ``context``'s release (and step) in this environment."""
        return declines.approval(self._decisions(), rollout=key, release=context.release,
                                 environment=self._environment, step=context.step)

    def _approval(self, key: str, context: hooks.Context, *, required: bool) -> str | None:
        if not required or self.approved(key, context) is not None:
            return None
        step = f" --step {context.step}" if context.step is not None else ""
        what = f"step {context.step} of {context.release}" if step else context.release
        field = (f"spec.steps[{context.step - 1}].approval" if context.step is not None
                 else "spec.approval")
        return (f"{what} waits for a person's approval ({field}: manual): run "
                f"`reconciler approve {key} {context.release}{step} {self._command}`")

    def bake(self, key: str, obj: Mapping[str, Any], spec: models.RolloutSpec,
             observed: progress.Observed, step: progress.Step,
             context: hooks.Context) -> progress.Step:
        """Call the ``rollout`` hooks that are due in the bake ``step`` is in; the step
        decided again with a failed one as an Unhealthy check, else ``step`` woken up
        when the next one is due."""
        found = hooks.of_type(spec.hooks, "rollout")
        mine = next((k for k in step.kept if k.commit == step.in_flight), None)
        if not found or mine is None or mine.bake_start is None:
            return step
        now = self._clock()
        wake = step.wake_at
        for hook in found:
            status = obj.get("status")
            last = hooks.latest(self.hooks.outcomes(
                key, status if isinstance(status, Mapping) else None), hook, context)
            when = hooks.due(hook, last, since=mine.bake_start, now=now)
            if when <= now:
                outcome = self.hooks.call(obj, key, hook, context)
                if outcome.result == "Failed":
                    check = bake.Check(name=f"hook {hook.name}", status=bake.UNHEALTHY,
                                       message=outcome.message)
                    return progress.decide(replace(observed,
                                                   checks=[*observed.checks, check]))
                when = outcome.time + hook.every()
            wake = when if wake is None else min(wake, when)
        return replace(step, wake_at=wake)

    def reverted(self, key: str, obj: Mapping[str, Any], *, release: str,
                 restored: str | None) -> None:
        """A revert of ``release`` (back to ``restored``) reached the remote: tell the
        ``rollback`` hooks."""
        try:
            spec = models.Rollout.model_validate(obj).spec
        except ValidationError:
            return
        self.hooks.notify(obj, key, hooks.of_type(spec.hooks, "rollback"),
                          hooks.Context(rollout=key, release=release, previous=restored))


def approve_arguments(*, url: str, branch: str, path: str | None, environment: str) -> str:
    """What ``reconciler approve`` needs beside NS/NAME TAG to reach this daemon's
    repository, branch and environment (its environment rule: ``--environment``, else
    the last element of ``--path``, else ``default``)."""
    out = f"--repo {url}"
    if branch != "main":
        out += f" --branch {branch}"
    if path:
        out += f" --path {path}"
    if environment != (scope.environment(path) if path else "default"):
        out += f" --environment {environment}"
    return out
