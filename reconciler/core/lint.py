"""The problems ``validate`` reports for one cluster, gathered in one place.

Where it fits: the inventory already carries what the manifest scan and the
cross-file join found; this adds what only the presets and the planner can tell
(an unknown preset, a pin that is not a valid tag, targets that disagree, canary
steps without all four kinds of target). Both
``reconciler validate`` and ``reconciler check`` (which compares these problems
on two commits) call ``problems``, so the two can never disagree. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from reconciler.core import manifests, planning, steps, versions
from reconciler.errors import InputError

if TYPE_CHECKING:
    from reconciler.core import models


def problems(inventory: manifests.Inventory,
             presets: Mapping[str, models.PolicyPreset]) -> list[manifests.Problem]:
    """Every problem of ``inventory``, sorted by file, document, line and field."""
    found = list(inventory.problems)
    for key, entry in sorted(inventory.rollouts.items()):
        spec = entry.rollout.spec if entry.rollout else None
        if spec and spec.policy and spec.policy not in presets:
            found.append(manifests.Problem(
                file=entry.file, document=entry.document, line=entry.line,
                field="spec.policy",
                message=f"unknown preset {spec.policy!r} "
                        f"(known: {', '.join(sorted(presets))})"))
        if spec and spec.wantedVersion:
            try:
                versions.parse(spec.wantedVersion)
            except InputError as exc:
                found.append(manifests.Problem(
                    file=entry.file, document=entry.document, line=entry.line,
                    field="spec.wantedVersion", message=str(exc)))
        if spec is not None and key not in inventory.broken:
            # spec.steps needs every kind of canary target, with weights summing to 100.
            for message in steps.problems(spec, inventory.targets.get(key, []),
                                          inventory.canary.get(key, [])):
                found.append(manifests.Problem(
                    file=entry.file, document=entry.document, line=entry.line,
                    field="spec.steps" if spec.steps else None,
                    severity="error" if spec.steps else "warning",
                    message=f"Rollout {key} {message}" if not spec.steps else message))
        _, why = planning.current_release(inventory.targets.get(key, []))
        if why and inventory.targets.get(key):
            found.append(manifests.Problem(
                file=entry.file, document=entry.document, line=entry.line,
                severity="warning", message=f"Rollout {key}: {why}"))
    found.sort(key=lambda p: (p.file, p.document or 0, p.line or 0, p.field or ""))
    return found
