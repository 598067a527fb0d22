"""Canary steps as git commits: which commit comes next, and what it changes.

Where it fits: a Rollout with ``spec.steps`` does not write a release in one
commit. ``core/progress`` decides *when* (the newest record is a step commit whose
bake ended, or a release was selected); this module says *what*: the stage
(``step k/n``, ``promote`` or ``abort``), its traffic weight, the change set and the
commit message. The engine (``engine/stepper.py``) writes it.

The sequence for a release ``R`` over stable ``S`` with steps ``[10, 50]``::

    step 1/2   canary version := R, canary weight := 10, stable weight := 90
    step 2/2   canary weight := 50, stable weight := 50
    promote    stable version := R, canary weight := 0, stable weight := 100
    (then the normal bake with spec.bakeTime, and the verdict)

Promotion leaves the canary's version at ``R``: the canary workload runs the
release that is now stable, with no traffic, until the next release's step 1
replaces it (so a promote commit touches only the stable version and the weights).
``abort`` (any failed bake from step 1 up to the bake after promotion) is one
commit that sets every target of the rollout, stable, canary and weights, back to
the value it held just before the first step commit: the stable version was never
touched before promotion, so before it only the canary values change back.

State is read from git alone (the trailers of the rollout's records, newest
first), so a restart resumes the step it was in. Pure: records, targets and the
spec's steps in; stages, change sets and messages out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from reconciler.core import durations, manifests, planning, trailers
from reconciler.core.changes import Change, ChangeSet
from reconciler.core.manifests import Target

if TYPE_CHECKING:
    from reconciler.core import models

PROMOTE = "promote"
ABORT = "abort"
ROLES = ("canary", "canary-weight", "stable-weight")


@dataclass(frozen=True)
class Stage:
    """One commit of a canary: ``step`` (``number`` of ``total``), promote or abort."""

    kind: str  # "step", PROMOTE or ABORT
    number: int = 0
    total: int = 0
    weight: int = 0  # the canary's traffic weight it writes (percent)

    @property
    def label(self) -> str:
        return f"{self.number}/{self.total}" if self.kind == "step" else self.kind


def first(steps: Sequence[models.CanaryStep]) -> Stage:
    return Stage("step", 1, len(steps), steps[0].weight)


def position(record: trailers.Record) -> tuple[int, int] | None:
    """``(k, n)`` of a step commit's ``Step: k/n`` trailer; None for anything else."""
    text = record.trailers.step if record.trailers.action == "step" else None
    number, _, total = (text or "").partition("/")
    if not (number.isdigit() and total.isdigit() and 1 <= int(number) <= int(total)):
        return None
    return int(number), int(total)


def after(steps: Sequence[models.CanaryStep], record: trailers.Record) -> Stage:
    """The stage that follows the step commit ``record`` once its bake succeeded. The
    spec's steps count (they may have changed since the canary began)."""
    found = position(record)
    k = found[0] if found else len(steps)
    if k < len(steps):
        return Stage("step", k + 1, len(steps), steps[k].weight)
    return Stage(PROMOTE, weight=0)


def bake_time(steps: Sequence[models.CanaryStep], record: trailers.Record) -> timedelta:
    """How long the step commit ``record`` bakes: its step's ``bakeTime`` (the last
    step's when the spec now has fewer)."""
    found = position(record)
    if not steps:
        return timedelta(0)
    k = min(found[0] if found else 1, len(steps))
    return steps[k - 1].bake_time()


def started(records: Sequence[trailers.Record]) -> trailers.Record | None:
    """The first commit of the canary in flight: the oldest of the step commits (and a
    promote) that the rollout's newest records form without a release, revert or
    rollback between them; None when the newest record is no step or promote. A newer
    release that went straight to its step 1 over a canary in flight (same stable,
    ``Previous-Release``) continues it: what came before the older canary is what an
    abort restores."""
    oldest = None
    stable = records[0].trailers.previous_release if records else None
    for index, record in enumerate(records):  # newest first
        if index == 0 and record.trailers.action == PROMOTE:
            continue
        if record.trailers.action != "step" or record.trailers.previous_release != stable:
            break
        oldest = record
    return oldest


def _set(t: Target, value: str) -> Change | None:
    if t.value == value:
        return None
    return Change(file=t.file, document=t.document, path=t.path, old=t.value, new=value,
                  kind=t.kind, object=t.object)


def _collect(rollout: str, pairs: Sequence[tuple[Target, str]]) -> ChangeSet:
    ordered = sorted(pairs, key=lambda p: (p[0].file, p[0].document, p[0].path))
    found = [c for t, v in ordered if (c := _set(t, v)) is not None]
    return ChangeSet(rollout=rollout, changes=tuple(found))


def _weights(canary: Sequence[Target], weight: int) -> list[tuple[Target, str]]:
    return [(t, str(weight if t.role == "canary-weight" else 100 - weight))
            for t in canary if t.role in ("canary-weight", "stable-weight")]


def changes(stage: Stage, *, rollout: str, release: str, stable: Sequence[Target],
            canary: Sequence[Target]) -> ChangeSet:
    """What the step or promote commit ``stage`` of ``release`` changes. Pure."""
    if stage.kind == PROMOTE:
        moved = planning.changes_for(rollout, stable, release)
        weights = _collect(rollout, _weights(canary, 0))
        return ChangeSet(rollout=rollout, changes=(*moved.changes, *weights.changes))
    versions = [(t, release) for t in canary if t.role == "canary"]
    return _collect(rollout, [*versions, *_weights(canary, stage.weight)])


def restore(rollout: str, targets: Sequence[Target],
            before: Mapping[tuple[str, int, tuple[str, ...]], str]) -> ChangeSet:
    """Every target set back to what it held ``before`` the canary began (a field
    missing there is left alone). Pure."""
    pairs = [(t, before[(t.file, t.document, t.path)]) for t in targets
             if (t.file, t.document, t.path) in before]
    return _collect(rollout, pairs)


def planned(plan: planning.Plan, *, inventory: manifests.Inventory,
            history: Sequence[trailers.Record]) -> planning.Plan:
    """``plan`` for a rollout with ``spec.steps``: a release becomes its canary's next
    stage (step 1, or the stage after the step in flight, once that has baked), with
    that stage's changes. ``plan`` cannot see the bake; it says which stage is next.
    Pure."""
    entry = inventory.rollouts.get(plan.rollout)
    spec = entry.rollout.spec if entry is not None and entry.rollout is not None else None
    if spec is None or not spec.steps or plan.action == "blocked":
        return plan
    stable = inventory.targets.get(plan.rollout, [])
    canary = inventory.canary.get(plan.rollout, [])
    wrong = problems(spec, stable, canary)
    if wrong:
        return replace(plan, action="blocked", next=None, reasons=tuple(wrong),
                       changes=ChangeSet(rollout=plan.rollout))
    records = [r for r in history if r.trailers.rollout == plan.rollout]
    newest = records[0] if records else None
    release, stage, why = plan.next, first(spec.steps), ""
    if newest is not None and newest.trailers.action == "step" and \
            newest.trailers.previous_release == plan.current:
        stage = after(spec.steps, newest)
        release = newest.trailers.release if plan.next in (None, newest.trailers.release) \
            else plan.next
        if release == newest.trailers.release:
            why = (f"canary {release} is at step {newest.trailers.step} "
                   f"({newest.trailers.weight}%); after its bake of "
                   f"{durations.render(bake_time(spec.steps, newest))}, {stage.label} is next")
        else:
            stage = first(spec.steps)
            why = f"{release} replaces canary {newest.trailers.release} from step 1"
    if release is None:
        return plan
    change = changes(stage, rollout=plan.rollout, release=release, stable=stable,
                     canary=canary)
    said = why or (f"canary steps: {', '.join(f'{s.weight}%' for s in spec.steps)}, then "
                   f"promotion; step {stage.label} writes {stage.weight}%")
    return replace(plan, action="release", next=release, step=stage.label,
                   weight=stage.weight, reasons=(*plan.reasons, said), changes=change)


def problems(spec: models.RolloutSpec, stable: Sequence[Target],
             canary: Sequence[Target]) -> list[str]:
    """What keeps a rollout with ``spec.steps`` from moving traffic (validate, plan and
    the daemon say it), or what canary targets without steps mean. Pure."""
    roles = {t.role for t in canary}
    if not spec.steps:
        return [f"has {', '.join(sorted(roles))} targets but no spec.steps; they are never "
                f"written"] if roles else []
    out = []
    missing = [r for r in ROLES if r not in roles]
    if not stable:
        missing.insert(0, "stable (substitute or rollout)")
    if missing:
        out.append(f"spec.steps needs all four kinds of target; missing: "
                   f"{', '.join(missing)} (rollout.kuberik.com/canary-substitute.<VAR>.from "
                   f"or canary-rollout, canary-weight.<VAR>.from, stable-weight.<VAR>.from)")
    canary_w = {t.value for t in canary if t.role == "canary-weight"}
    stable_w = {t.value for t in canary if t.role == "stable-weight"}
    if len(canary_w) == 1 and len(stable_w) == 1:
        total = int(next(iter(canary_w)) or 0) + int(next(iter(stable_w)) or 0)
        if total != 100:
            where = ", ".join(f"{t.file}:{t.line or '?'} {t.field_name} {t.value!r}"
                              for t in canary if t.role in ("canary-weight", "stable-weight"))
            out.append(f"the canary and stable weights sum to {total}, not 100: {where}")
    elif canary_w and stable_w:
        out.append("the canary weight targets (or the stable ones) disagree: "
                   f"{sorted(v or '' for v in canary_w)} / {sorted(v or '' for v in stable_w)}")
    return out


def message(changes: ChangeSet, *, stage: Stage, release: str, previous: str | None,
            environment: str | None) -> str:
    """The commit message of a step or promote commit (trailers per DESIGN.md)."""
    short = changes.rollout.split("/", 1)[-1]
    if stage.kind == PROMOTE:
        subject = f"{short}: promote {release} (stable {previous or '(none)'} -> {release})"
        body = f"Promote {release} of {changes.rollout}: all traffic to the new release."
    else:
        subject = f"{short}: canary {release} step {stage.label} at {stage.weight}%"
        body = (f"Canary step {stage.label} of {changes.rollout}: {release} gets "
                f"{stage.weight}% of the traffic; stable stays at {previous or '(none)'}.")
    lines = trailers.change_lines(changes)
    t = trailers.Trailers(rollout=changes.rollout, action="promote" if stage.kind == PROMOTE
                          else "step", release=release, previous_release=previous,
                          environment=environment, weight=stage.weight,
                          step=stage.label if stage.kind == "step" else None)
    return "\n".join([subject, "", body, "", *lines, "", t.render(), ""])


def abort_message(changes: ChangeSet, *, first_commit: trailers.Record,
                  newest: trailers.Record, stable: str | None, reason: str,
                  environment: str | None) -> str:
    """The one commit that ends a failed canary: a revert in git's shape (of the newest
    step or promote commit) that restores every target to its value before step 1."""
    failed = newest.trailers.release
    t = trailers.Trailers(rollout=changes.rollout, action="revert", release=stable or "",
                          previous_release=failed, reverts=newest.commit, reason=reason,
                          environment=environment)
    lines = trailers.change_lines(changes)
    body = [f"This reverts commit {newest.commit}.", "",
            f"{failed} failed: {trailers.one_line(reason).rstrip('.')}. The canary (from "
            f"{first_commit.commit[:12]}) is undone: every target holds its value from "
            f"before it again, stable {stable}; {failed} will not be released again "
            f"automatically.", "", *lines]
    return "\n".join([f'Revert "{newest.subject}"', "", *body, "", t.render(), ""])
