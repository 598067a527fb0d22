"""What should happen next to one rollout, and exactly what it would change.

Joins the other core modules: the inventory says where the rollout's targets are
and what they hold, selection picks the release, and the result carries the
``ChangeSet`` that a commit, the ``plan`` output and the JSON Patch are rendered
from. Pure: an ``Inventory``, candidates and the audit trail in; a ``Plan`` out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from reconciler.core import manifests, policies, quarantine, selection, trailers
from reconciler.core.changes import Change, ChangeSet
from reconciler.errors import printable

if TYPE_CHECKING:
    from reconciler.core import models

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
    # With canary steps (core/steps.py): the stage the next commit writes ("1/3",
    # "promote"), and the canary's weight it sets.
    step: str | None = None
    weight: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rollout": self.rollout,
            "current": self.current,
            "next": self.next,
            "action": self.action,
            "step": self.step,
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
    """The release the targets hold, or ``(None, why)`` when they disagree or are empty.
    A ``$imagepolicy`` marker counts with the tag it holds (``:name`` and ``:digest``
    markers hold none)."""
    carrying = [t for t in targets if t.carries_release]
    values = sorted({t.release or "" for t in carrying})
    if len(values) == 1 and values[0]:
        return values[0], None
    if values in ([""], []):
        return None, "no target holds a value yet"
    detail = printable(", ".join(f"{t.file} {t.field_name}={t.value}" for t in carrying))
    return None, f"targets disagree ({detail}); the next release sets them all"


def changes_for(rollout: str, targets: Iterable[manifests.Target], release: str, *,
                digest: str | None = None) -> ChangeSet:
    """Every target of ``rollout`` that does not hold ``release`` yet, set to it: an
    annotated target to the tag, a ``$imagepolicy`` marker to what Flux's setter of
    its format would write (``markers.new_value``; ``digest`` is the release's, when
    known; without it, a field that pins a digest is left out: see ``needs_digest``)."""
    from reconciler.core import markers  # with the YAML stack: only when there are changes

    out = []
    for t in sorted(targets, key=lambda t: (t.file, t.document, t.path)):
        if digest is None and t.pins_digest:
            continue
        new = release if t.setter is None else markers.new_value(
            setter=t.setter, held=t.value, tag=release, digest=digest)
        if new is not None and new != t.value:
            out.append(Change(file=t.file, document=t.document, path=t.path, old=t.value,
                              new=new, kind=t.kind, object=t.object))
    return ChangeSet(rollout=rollout, changes=tuple(out))


def needs_digest(targets: Iterable[manifests.Target]) -> list[manifests.Target]:
    """The targets a release can only be written to with its image digest: ``:digest``
    markers and full references that pin one (``name:tag@sha256:...``)."""
    return [t for t in targets if t.pins_digest]


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
    quarantined: frozenset[str] | None = None,
) -> Plan:
    """Decide the next step for ``rollout`` (``namespace/name``). Pure.

    ``promotion``: the candidates ``spec.promotion`` holds back, and why
    (``core.promotion.waiting``); ``declined``: the releases people declined in a pull
    request, and why (``core.declines.active``); ``quarantined``: the rollout's
    quarantined releases when the caller has them (``quarantine.quarantines``), else
    they are read from ``history``."""
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
    if current is None and any(t.release for t in targets):
        # Without one current release, maxBump has nothing to measure from: a
        # person decides (``reconciler release`` sets every target at once).
        return blocked(why or "targets hold no single release",
                       "run `reconciler release` with the release every target should hold")
    eff = policies.effective(spec, presets)
    decision = selection.choose(
        current=current,
        candidates=candidates,
        policy=eff.selection,
        quarantined=(quarantine.quarantined(history, rollout) if quarantined is None
                     else quarantined),
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
    pinned = needs_digest(targets)
    if pinned:
        reasons.append(f"{', '.join(f'{t.file} {t.field_name}' for t in pinned)} pin the "
                       f"image digest, which only the ImagePolicy knows (the daemon writes "
                       f"it; `reconciler release --digest` takes it): not shown here")
    return Plan(rollout=rollout, current=current, next=decision.next, action="release",
                reasons=tuple(reasons), changes=changes, verdicts=decision.verdicts)
