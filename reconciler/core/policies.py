"""Release policy presets and how they combine with a Rollout's own fields.

A preset (``policies/*.yaml``) gives defaults for ``maxBump``, ``bakeTime``,
``deployTimeout`` and optionally a ``versionConstraint``; a Rollout names one with
``spec.policy`` and any field it sets itself wins. Loading the files is the
caller's job; this module only parses their text and merges. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from reconciler.core import durations, selection
from reconciler.errors import ManifestError

if TYPE_CHECKING:
    from reconciler.core import models

DEFAULT_MAX_BUMP: models.Bump = "major"


def parse_preset(text: str, *, file: str) -> models.PolicyPreset:
    """Parse one preset file; ``ManifestError`` naming the file and field if wrong."""
    return validate_preset(read_preset(text, file=file), file=file)


def read_preset(text: str, *, file: str) -> Any:
    """The YAML data of one preset file, not validated yet; ``ManifestError`` naming
    the file when it is not YAML. (ruamel.yaml is imported here, not with the module:
    a CLI run whose presets come from the scan cache never loads it.)"""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise ManifestError(" ".join(str(exc).split()), file=file) from exc


def validate_preset(data: Any, *, file: str) -> models.PolicyPreset:
    """``data`` (:func:`read_preset`'s) as a preset; ``ManifestError`` naming the file
    and field if wrong. (pydantic is imported here: a preset validated before comes
    from the scan cache as ``plainmodels``' copy, engine/presets.py.)"""
    from pydantic import ValidationError

    from reconciler.core import models

    try:
        return models.PolicyPreset.model_validate(data)
    except ValidationError as exc:
        field, message = models.describe_error(exc)[0]
        raise ManifestError(message, file=file, field=field) from exc


@dataclass(frozen=True)
class Effective:
    """A Rollout's policy after its preset is applied."""

    selection: selection.Policy
    bake_time: timedelta | None
    deploy_timeout: timedelta | None
    preset: str | None


def effective(spec: models.RolloutSpec,
              presets: Mapping[str, models.PolicyPreset]) -> Effective:
    """Merge ``spec`` over the preset it names. ``KeyError`` for an unknown preset."""
    preset = presets[spec.policy] if spec.policy else None
    constraint = spec.versionConstraint or (preset.versionConstraint if preset else None)
    max_bump = spec.maxBump or (preset.maxBump if preset else DEFAULT_MAX_BUMP)
    bake = spec.bakeTime or (preset.bakeTime if preset else None)
    deploy = spec.deployTimeout or (preset.deployTimeout if preset else None)
    return Effective(
        selection=selection.Policy(
            constraint=constraint,
            max_bump=max_bump,
            wanted_version=spec.wantedVersion,
            suspend=spec.suspend,
            allow_prerelease=bool(preset and preset.allowPrerelease),
        ),
        bake_time=durations.parse(bake) if bake else None,
        deploy_timeout=durations.parse(deploy) if deploy else None,
        preset=preset.name if preset else None,
    )
