"""What should happen next to one rollout, and exactly what it would change.

Joins the other core modules: the inventory says where the rollout's targets are
and what they hold, selection picks the release, and the result carries the
``ChangeSet`` that a commit, the ``plan`` output and the JSON Patch are rendered
from. Pure: an ``Inventory``, candidates and the audit trail in; a ``Plan`` out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.core import manifests, models, policies, selection, trailers
from reconciler.core.changes import Change, ChangeSet
from reconciler.errors import printable

PlanAction = Literal["release", "none", "blocked"]


@dataclass(frozen=True)
class Plan:
    """The next step for one rollout, with the reasons and the exact change."""

    rollout: str
    current: str | None
    next: str | None
    action: PlanAction
    reasons: tuple[str, ...]
    changes: ChangeSet
    verdicts: tuple[selection.Verdict, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rollout": self.rollout,
            "current": self.current,
            "next": self.next,
            "action": self.action,
            "reasons": list(self.reasons),
            "changes": [
                {k: v for k, v in c.as_dict().items() if k in
                 ("file", "document", "path", "old", "new")}
                for c in self.changes.changes
            ],
            "patch": self.changes.json_patch(),
            "candidates": [
                {"tag": v.tag, "accepted": v.accepted, "reason": v.reason}
                for v in self.verdicts
            ],
        }


def current_release(targets: Sequence[manifests.Target]) -> tuple[str | None, str | None]:
    """The release the targets hold, or ``(None, why)`` when they disagree or are empty."""
    values = sorted({t.value or "" for t in targets})
    if len(values) == 1 and values[0]:
        return values[0], None
    if values == [""]:
        return None, "no target holds a value yet"
    detail = printable(", ".join(f"{t.file} {t.field_name}={t.value}" for t in targets))
    return None, f"targets disagree ({detail}); the next release sets them all"


def changes_for(rollout: str, targets: Iterable[manifests.Target], release: str) -> ChangeSet:
    """Every target of ``rollout`` that does not hold ``release`` yet, set to it."""
    return ChangeSet(rollout=rollout, changes=tuple(
        Change(file=t.file, document=t.document, path=t.path, old=t.value, new=release,
               kind=t.kind, object=t.object)
        for t in sorted(targets, key=lambda t: (t.file, t.document, t.path))
        if t.value != release
    ))


def plan(
    rollout: str,
    *,
    inventory: manifests.Inventory,
    candidates: Iterable[str],
    history: Sequence[trailers.Record],
    presets: Mapping[str, models.PolicyPreset],
    gates: Sequence[str] | None = None,
    promotion: Mapping[str, str] | None = None,
    declined: Mapping[str, str] | None = None,
) -> Plan:
    """Decide the next step for ``rollout`` (``namespace/name``). Pure.

    ``promotion``: the candidates ``spec.promotion`` holds back, and why
    (``core.promotion.waiting``); ``declined``: the releases people declined in a pull
    request, and why (``core.declines.active``)."""
    entry = inventory.rollouts[rollout]
    targets = inventory.targets.get(rollout, [])
    current, why = current_release(targets)

    def blocked(*reasons: str) -> Plan:
        return Plan(rollout=rollout, current=current, next=None, action="blocked",
                    reasons=tuple(reasons), changes=ChangeSet(rollout=rollout))

    if entry.rollout is None or rollout in inventory.broken:
        problems = [p.render() for p in inventory.broken.get(rollout, [])]
        problems += [p.render() for p in inventory.errors()
                     if p.file == entry.file and p.document == entry.document]
        return blocked("the rollout's set-up has errors; run `reconciler validate`",
                       *dict.fromkeys(problems))
    if not targets:
        return blocked(inventory.no_target(rollout))
    spec = entry.rollout.spec
    if spec.policy and spec.policy not in presets:
        return blocked(f"spec.policy names unknown preset {spec.policy!r} "
                       f"(known: {', '.join(sorted(presets)) or 'none'})")
    if current is None and any(t.value for t in targets):
        # Without one current release, maxBump has nothing to measure from: a
        # person decides (``reconciler release`` sets every target at once).
        return blocked(why or "targets hold no single release",
                       "run `reconciler release` with the release every target should hold")
    eff = policies.effective(spec, presets)
    decision = selection.choose(
        current=current,
        candidates=candidates,
        policy=eff.selection,
        quarantined=trailers.quarantined(history, rollout),
        gates=gates,
        promotion=promotion,
        declined=declined,
    )
    reasons = list(decision.reasons)
    if eff.preset:
        reasons.append(f"policy preset {eff.preset!r} applies "
                       f"(maxBump {eff.selection.max_bump})")
    if decision.action != "release" or decision.next is None:
        return Plan(rollout=rollout, current=current, next=None, action=decision.action,
                    reasons=tuple(reasons), changes=ChangeSet(rollout=rollout),
                    verdicts=decision.verdicts)
    changes = changes_for(rollout, targets, decision.next)
    return Plan(rollout=rollout, current=current, next=decision.next, action="release",
                reasons=tuple(reasons), changes=changes, verdicts=decision.verdicts)
