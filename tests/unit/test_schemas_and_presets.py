"""Generated schemas stay current; every shipped policy preset is valid."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from reconciler.core import models, policies
from reconciler.engine import presets
from reconciler.errors import ManifestError
from reconciler.interfaces import schemas

ROOT = Path(__file__).resolve().parents[2]


def test_schemas_in_repo_are_current() -> None:
    for name, text in schemas.render().items():
        committed = (ROOT / "schemas" / name).read_text(encoding="utf-8")
        assert committed == text, (
            f"schemas/{name} is stale: run `make schemas` and commit the result")


@pytest.mark.parametrize("path", sorted((ROOT / "policies").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_preset_validates_against_model_and_schema(path: Path) -> None:
    preset = policies.parse_preset(path.read_text(encoding="utf-8"), file=str(path))
    assert preset.name == path.stem
    schema = json.loads((ROOT / "schemas" / "policy-preset.schema.json").read_text())
    jsonschema.validate(YAML(typ="safe").load(path.read_text()), schema)


def test_at_least_three_presets_ship_and_differ() -> None:
    loaded = presets.load()
    assert {"conservative", "standard", "fast"} <= set(loaded)
    bumps = {p.maxBump for p in loaded.values()}
    assert bumps == {"patch", "minor", "major"}


def test_sample_rollouts_validate_against_schema() -> None:
    schema = json.loads((ROOT / "schemas" / "rollout.schema.json").read_text())
    for path in (ROOT / "sample-repo").rglob("rollout.yaml"):
        for doc in YAML(typ="safe").load_all(path.read_text()):
            if doc and doc.get("kind") == "Rollout":
                jsonschema.validate(doc, schema)


def test_bad_preset_names_file_and_field() -> None:
    with pytest.raises(ManifestError) as err:
        policies.parse_preset("name: x\ndescription: d\nmaxBump: huge\nbakeTime: 1m\n"
                              "deployTimeout: 1m\n", file="policies/x.yaml")
    assert str(err.value).startswith("policies/x.yaml maxBump: must be one of")


def test_spec_fields_win_over_preset() -> None:
    loaded = presets.load()
    spec = models.RolloutSpec(policy="conservative", bakeTime="1m", maxBump="minor")
    eff = policies.effective(spec, loaded)
    assert eff.selection.max_bump == "minor"
    assert eff.bake_time is not None and eff.bake_time.total_seconds() == 60
    assert eff.deploy_timeout is not None and eff.deploy_timeout.total_seconds() == 15 * 60
    plain = policies.effective(models.RolloutSpec(), loaded)
    assert plain.selection.max_bump == "major" and plain.bake_time is None


def test_rollout_errors_name_the_field() -> None:
    from pydantic import ValidationError
    with pytest.raises(ValidationError) as err:
        models.Rollout.model_validate({"metadata": {"name": "x"}, "spec": {
            "maxBump": "huge", "versionConstraint": ">=banana", "bakeTime": "5 minutes",
            "versionHistoryLimit": 0}})
    described = dict(models.describe_error(err.value))
    assert set(described) == {"spec.maxBump", "spec.versionConstraint", "spec.bakeTime",
                              "spec.versionHistoryLimit"}
    assert "patch" in described["spec.maxBump"]
    assert "1h30m" in described["spec.bakeTime"]
