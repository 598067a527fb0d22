"""What a change to the config repository does to releases: one cluster, two commits.

Where it fits: ``reconciler check`` (interfaces/check.py) scans the base and the head
commit of a pull request and hands both views here; this module compares them rollout
by rollout and returns ``Finding``s (a pin that will be written, a policy that now
excludes the current version, rollouts and targets added, moved or orphaned, a hand
edit that will hold the rollout), and splits the validation problems into those the
head introduces and those already on the base. Pure: inventories and audit trails in,
findings out.

Offline, the only release known is the one the targets hold, so the planner
(``core.planning``) runs on both sides with that release as the sole candidate: it
tells a pin, a suspension or a broken set-up; whether the current release still fits
the head's rules is asked of ``core.selection`` directly. Which newer release would be
picked depends on the ImagePolicy's tags, which only the cluster knows.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from reconciler.core import manifests, planning, policies, selection, trailers

if TYPE_CHECKING:
    from reconciler.core import models

Kind = Literal["rollout-added", "rollout-removed", "pin", "unpin", "policy", "blocked",
               "target-added", "target-removed", "target-moved", "target-orphaned",
               "hold", "hand-edit", "release"]
# "warning": worth a reviewer's attention (an annotation in CI); never fails the check.
Severity = Literal["info", "warning"]


@dataclass(frozen=True)
class Finding:
    """One effect of the change on one rollout, and where to look (on the head; on
    the base for what the head no longer has)."""

    rollout: str
    kind: Kind
    message: str
    file: str | None = None
    line: int | None = None
    severity: Severity = "info"
    old: str | None = None
    new: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "message": self.message,
                "file": self.file, "line": self.line, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class Side:
    """One commit's view of a cluster: what it defines, and its reconciler commits
    (newest first, this cluster's environment)."""

    inventory: manifests.Inventory
    history: Sequence[trailers.Record] = ()

    def newest(self, rollout: str) -> trailers.Record | None:
        return next((r for r in self.history if r.trailers.rollout == rollout), None)


def compare(*, base: Side, head: Side,
            presets: Mapping[str, models.PolicyPreset]) -> list[Finding]:
    """Every finding of the change from ``base`` to ``head``, by rollout. Pure."""
    keys = set(base.inventory.rollouts) | set(head.inventory.rollouts)
    keys |= {t.rollout for t in head.inventory.orphans}
    found: list[Finding] = []
    for key in sorted(keys):
        found += _rollout(key, base=base, head=head, presets=presets)
    return found


def _rollout(key: str, *, base: Side, head: Side,
             presets: Mapping[str, models.PolicyPreset]) -> list[Finding]:
    was, now = base.inventory.rollouts.get(key), head.inventory.rollouts.get(key)
    out: list[Finding] = []
    if now is not None and was is None:
        count = len(head.inventory.targets.get(key, []))
        out.append(Finding(key, "rollout-added", f"Rollout added, with {count} target(s)",
                           now.file, now.name_line or now.line))
    if was is not None and now is None:
        out.append(Finding(key, "rollout-removed", "Rollout removed: nothing writes its "
                           "targets any more", was.file, was.name_line or was.line))
    out += _orphans(key, base=base, head=head)
    if now is None:
        return out
    if was is not None:
        out += _targets(key, base.inventory.targets.get(key, []),
                        head.inventory.targets.get(key, []))
        out += _values(key, base=base, head=head)
    out += _spec(key, base=base, head=head, presets=presets)
    return out


def _identity(t: manifests.Target) -> tuple[str, str, tuple[str, ...]]:
    return t.kind, t.object, t.path


def _where(t: manifests.Target) -> str:
    return f"{t.file}:{t.line}" if t.line is not None else t.file


def _targets(key: str, before: Sequence[manifests.Target],
             after: Sequence[manifests.Target]) -> list[Finding]:
    """Targets added, removed or moved (same object and field in another file or
    document; or the same object, another field)."""
    old = {_identity(t): t for t in before}
    new = {_identity(t): t for t in after}
    out: list[Finding] = []
    for ident in sorted(old.keys() & new.keys()):
        a, b = old[ident], new[ident]
        if (a.file, a.document) != (b.file, b.document):
            out.append(Finding(key, "target-moved", f"{b.kind} {b.object} {b.field_name} "
                               f"moved from {_where(a)} to {_where(b)}", b.file, b.line))
    gone = [old[i] for i in sorted(old.keys() - new.keys())]
    added = [new[i] for i in sorted(new.keys() - old.keys())]
    for b in list(added):
        moved = next((t for t in gone if (t.kind, t.object) == (b.kind, b.object)), None)
        if moved is not None:
            gone.remove(moved)
            added.remove(b)
            out.append(Finding(key, "target-moved", f"{b.kind} {b.object}: the release now "
                               f"goes to {b.field_name} (was {moved.field_name} at "
                               f"{_where(moved)})", b.file, b.line))
    out += [Finding(key, "target-added", f"{t.kind} {t.object} {t.field_name} now carries "
                    f"the release (holds {t.value or 'nothing yet'})", t.file, t.line)
            for t in added]
    out += [Finding(key, "target-removed", f"{t.kind} {t.object} {t.field_name} no longer "
                    f"carries the release (was at {_where(t)})", t.file, t.line)
            for t in gone]
    return out


def _orphans(key: str, *, base: Side, head: Side) -> list[Finding]:
    known = {_identity(t) for t in base.inventory.orphans}
    why = "which this change removes" if key in base.inventory.rollouts \
        else "which does not exist"
    return [Finding(key, "target-orphaned", f"{t.kind} {t.object} {t.field_name} names "
                    f"rollout {key}, {why}: nothing will write it", t.file, t.line,
                    severity="warning")
            for t in head.inventory.orphans if t.rollout == key and _identity(t) not in known]


def _values(key: str, *, base: Side, head: Side) -> list[Finding]:
    """A target value the change itself sets: the reconciler's commit, or a person's
    (which holds the rollout when the reconciler has released it before)."""
    before = {_identity(t): t.value for t in base.inventory.targets.get(key, [])}
    changed = [t for t in head.inventory.targets.get(key, [])
               if _identity(t) in before and before[_identity(t)] != t.value]
    if not changed:
        return []
    old = _shown(base.inventory.targets.get(key, []))
    current, _ = planning.current_release(head.inventory.targets.get(key, []))
    new = _shown(head.inventory.targets.get(key, []))
    first = changed[0]
    newest, earlier = head.newest(key), base.newest(key)
    entry = head.inventory.rollouts[key]
    pin = entry.rollout.spec.wantedVersion if entry.rollout else None

    def finding(kind: Kind, message: str, severity: Severity = "info") -> list[Finding]:
        return [Finding(key, kind, message, first.file, first.line, severity, old, new)]

    if newest is not None and newest != earlier and newest.trailers.release == current:
        return finding("release", f"{old} -> {new}, written by the reconciler "
                       f"(commit {newest.commit[:12]}, {newest.trailers.action})")
    if pin:
        return finding("hand-edit", f"{old} -> {new} set by hand; spec.wantedVersion {pin} "
                       f"decides what is written, so the rollout is not held")
    if newest is None:
        return finding("hand-edit", f"{old} -> {new} set by hand; the reconciler has not "
                       f"released {key} yet, so nothing is held")
    if current == newest.trailers.release:
        return finding("hand-edit", f"{old} -> {new}: back at the reconciler's last release; "
                       f"a hold on the rollout ends")
    return finding("hold", f"{old} -> {new} set by hand (the reconciler last wrote "
                   f"{newest.trailers.release}): the daemon will hold {key}, nothing automatic "
                   f"until a reconciler commit agrees again. To avoid the hold, release it "
                   f"with `reconciler release {key} {current or '<tag>'} --push` instead, "
                   f"or set spec.wantedVersion", "warning")


def _shown(targets: Sequence[manifests.Target]) -> str:
    current, _ = planning.current_release(targets)
    return current or ("(mixed)" if any(t.value for t in targets) else "(none)")


_FIELDS = ("versionConstraint", "maxBump", "policy", "suspend")


def _spec(key: str, *, base: Side, head: Side,
          presets: Mapping[str, models.PolicyPreset]) -> list[Finding]:
    """Pins and policy changes, judged by the planner on both sides with the current
    release as the one candidate known offline."""
    now = head.inventory.rollouts[key]
    was = base.inventory.rollouts.get(key)
    spec = now.rollout.spec if now.rollout else None
    old_spec = was.rollout.spec if was is not None and was.rollout else None
    where = (now.file, now.name_line or now.line)
    targets = head.inventory.targets.get(key, [])
    current, _ = planning.current_release(targets)
    after = _plan(key, head, presets, current)
    before = _plan(key, base, presets, current) if was is not None else None
    out: list[Finding] = []
    pin = spec.wantedVersion if spec else None
    old_pin = old_spec.wantedVersion if old_spec else None
    if pin and pin != old_pin:
        if after.action == "release":
            # The pin's own notes (a downgrade, a quarantined tag), not the preset's.
            extra = "".join(f" {r}" for r in after.reasons[1:] if pin in r)
            out.append(Finding(key, "pin", f"spec.wantedVersion pins {pin}: "
                               f"{current or '(none)'} -> {pin} will be written to "
                               f"{len(after.changes.changes)} target(s).{extra}", *where,
                               severity="warning", old=current, new=pin))
        elif pin == current:
            out.append(Finding(key, "pin", f"spec.wantedVersion pins {pin}, already "
                               f"deployed: automatic releases stop while it is set", *where,
                               old=current, new=pin))
        else:
            out.append(Finding(key, "pin", f"spec.wantedVersion pins {pin}, which will not "
                               f"be written: {after.reasons[0]}", *where, severity="warning",
                               old=current, new=pin))
    elif old_pin and not pin and spec is not None:
        out.append(Finding(key, "unpin", f"spec.wantedVersion {old_pin} removed: automatic "
                           f"releases resume from {current or '(none)'}", *where,
                           old=old_pin))
    if old_spec is not None and spec is not None:
        changes = [f"{name} {_text(getattr(old_spec, name))} -> {_text(getattr(spec, name))}"
                   for name in _FIELDS if getattr(old_spec, name) != getattr(spec, name)]
        if changes:
            effect, severity = _effect(current, old=_policy(old_spec, presets),
                                       new=_policy(spec, presets))
            out.append(Finding(key, "policy", f"{'; '.join(changes)}: {effect}", *where,
                               severity=severity))
    if after.action == "blocked" and (before is None or before.action != "blocked") \
            and not (pin and pin != old_pin):
        out.append(Finding(key, "blocked", f"the rollout is blocked: {after.reasons[0]}",
                           *where, severity="warning"))
    return out


def _plan(key: str, side: Side, presets: Mapping[str, models.PolicyPreset],
          current: str | None) -> planning.Plan:
    return planning.plan(key, inventory=side.inventory, candidates=[current] if current else [],
                         history=side.history, presets=presets)


def _text(value: object) -> str:
    if value is None:
        return "(unset)"
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _policy(spec: models.RolloutSpec,
            presets: Mapping[str, models.PolicyPreset]) -> selection.Policy | None:
    try:
        return policies.effective(spec, presets).selection
    except KeyError:  # an unknown preset: a validation problem of its own
        return None


def _effect(current: str | None, *, old: selection.Policy | None,
            new: selection.Policy | None) -> tuple[str, Severity]:
    """What the new rules mean for the release the targets hold."""
    unknown = "which newer release it picks depends on the ImagePolicy's tags (not known " \
              "offline)"
    if new is None or current is None:
        return unknown, "info"
    refusal, was = _refusal(current, new), _refusal(current, old) if old else None
    if refusal and not was:
        return (f"now excludes the current {current} ({refusal}); the rollout stays at "
                f"{current} (it never downgrades) until a release inside the new rules "
                f"appears", "warning")
    if was and not refusal:
        return f"the current {current} fits the new rules again; {unknown}", "info"
    return f"the current {current} {'still fits' if not refusal else 'stays outside'}; " \
           f"{unknown}", "info"


def _refusal(tag: str, policy: selection.Policy) -> str | None:
    """Why the rules would refuse ``tag`` as a release, from no known version (so that
    maxBump and "not newer" do not apply), or None when they admit it."""
    rules = selection.Policy(constraint=policy.constraint, max_bump="major",
                             allow_prerelease=policy.allow_prerelease)
    verdicts = selection.choose(current=None, candidates=[tag], policy=rules).verdicts
    verdict = next((v for v in verdicts if v.tag == tag), None)
    if verdict is None or verdict.accepted:
        return None
    return verdict.reason.removeprefix(f"{tag}: ")


def split(*, base: Sequence[manifests.Problem], head: Sequence[manifests.Problem],
          ) -> tuple[list[manifests.Problem], list[manifests.Problem]]:
    """The head's problems as ``(introduced, already on base)``. A problem counts as the
    base's when the base has the same one in the same file, whatever its line (an edit
    above it moves it); as many times as the base has it."""
    left = Counter(_key(p) for p in base)
    introduced, existing = [], []
    for problem in head:
        if left[_key(problem)] > 0:
            left[_key(problem)] -= 1
            existing.append(problem)
        else:
            introduced.append(problem)
    return introduced, existing


_NUMBERED = re.compile(r"\b(line|document|lines) \d+(, \d+)*")


def _key(p: manifests.Problem) -> tuple[str, str, str, str]:
    return p.severity, p.file, p.field or "", _NUMBERED.sub(r"\1 N", p.message)
