"""The CRDs in schemas/crds/: current, structural, and accepting what we ship and write.

A CRD whose schema is not structural is refused by the API server; one that is
stale or stricter than the models refuses Rollouts the reconciler would accept or
the status it writes. These tests stand in for an API server: structure by walking
the schema, acceptance with jsonschema (OpenAPI v3.0 is draft 4 semantics).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, Field
from ruamel.yaml import YAML

from reconciler.adapters import cluster
from reconciler.core import models, planning, progress, reasons, status, statusmodels, trailers
from reconciler.core.manifests import Target
from reconciler.interfaces import schemas

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "schemas" / "crds"
KINDS = {"rollouts": cluster.ROLLOUT, "healthchecks": cluster.HEALTHCHECK,
         "rolloutgates": cluster.ROLLOUTGATE, "rolloutschedules": cluster.ROLLOUTSCHEDULE,
         "clusterrolloutschedules": cluster.CLUSTERROLLOUTSCHEDULE}
# Keywords Kubernetes forbids in a CRD schema or that only make sense in JSON Schema.
FORBIDDEN = {"$ref", "$defs", "definitions", "$schema", "$id", "title", "const", "anyOf",
             "oneOf", "allOf", "not", "patternProperties", "dependencies", "default",
             "additionalItems", "examples", "nullable"}


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def crds() -> dict[str, dict[str, Any]]:
    return {plural: load(CRD_DIR / f"{plural}.kuberik.com.yaml") for plural in KINDS}


def openapi(plural: str) -> dict[str, Any]:
    schema: dict[str, Any] = crds()[plural]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def validator(schema: dict[str, Any]) -> jsonschema.Draft4Validator:
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def nodes(schema: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path (properties, items, map values)."""
    if not isinstance(schema, dict):
        return
    yield path or "<root>", schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}{{}}")


def without_nulls(value: Any) -> Any:
    """What the API server stores: a merge patch's null removes the key, and a null
    in a field that is not nullable is pruned."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


# -- generated and current -------------------------------------------------------


def test_crds_in_repo_are_current() -> None:
    rendered = schemas.render_crds()
    assert set(rendered) == {f"crds/{p.name}" for p in CRD_DIR.iterdir()}, (
        "schemas/crds/ holds files the generator does not write, or misses some")
    for name, text in rendered.items():
        committed = (ROOT / "schemas" / name).read_text(encoding="utf-8")
        assert committed == text, (
            f"schemas/{name} is stale: run `make schemas` and commit the result")


def test_deploy_takes_the_crds_from_schemas_only() -> None:
    """One source of truth: deploy/ includes schemas/crds and defines no CRD itself."""
    kustomization = load(ROOT / "deploy" / "kustomization.yaml")
    assert "../schemas/crds" in kustomization["resources"]
    for path in (ROOT / "deploy").glob("*.yaml"):
        for doc in YAML(typ="safe").load_all(path.read_text(encoding="utf-8")):
            assert (doc or {}).get("kind") != "CustomResourceDefinition", path
    listed = load(CRD_DIR / "kustomization.yaml")["resources"]
    assert sorted(listed) == sorted(f"{p}.kuberik.com.yaml" for p in KINDS)


# -- structure ----------------------------------------------------------------------


@pytest.mark.parametrize("plural", sorted(KINDS))
def test_crd_names_group_version_and_scope(plural: str) -> None:
    crd = crds()[plural]
    kind = KINDS[plural]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == kind.resource == f"{plural}.kuberik.com"
    spec = crd["spec"]
    assert spec["group"] == kind.group == "kuberik.com"
    assert spec["scope"] == ("Namespaced" if kind.namespaced else "Cluster")
    assert spec["names"] == {"kind": kind.kind, "listKind": f"{kind.kind}List",
                             "plural": plural, "singular": kind.kind.lower()}
    (version,) = spec["versions"]
    assert version["name"] == kind.version == "v1alpha1"
    assert version["served"] is True and version["storage"] is True
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize("plural", sorted(KINDS))
def test_schema_is_structural(plural: str) -> None:
    schema = openapi(plural)
    assert schema["type"] == "object"
    assert schema["properties"]["metadata"] == {"type": "object"}
    assert schema["properties"]["apiVersion"]["type"] == "string"
    assert schema["properties"]["kind"]["type"] == "string"
    assert "x-kubernetes-preserve-unknown-fields" not in schema  # top level is pruned
    assert schema["properties"]["status"]["x-kubernetes-preserve-unknown-fields"] is True
    for path, node in nodes(schema):
        assert not FORBIDDEN & set(node), f"{plural} {path}: {sorted(FORBIDDEN & set(node))}"
        assert node.get("type") in {"object", "array", "string", "integer", "number",
                                    "boolean"}, f"{plural} {path} has no type"
        assert not ("properties" in node and "additionalProperties" in node), path
        assert node.get("additionalProperties") is not False, path
        if node["type"] == "array":
            assert isinstance(node.get("items"), dict), f"{plural} {path}: array without items"
    assert "$ref" not in (CRD_DIR / f"{plural}.kuberik.com.yaml").read_text()


def test_models_that_keep_unknown_fields_say_so() -> None:
    spec = openapi("rollouts")["properties"]["spec"]
    assert spec["x-kubernetes-preserve-unknown-fields"] is True
    assert spec["properties"]["healthCheckSelector"]["x-kubernetes-preserve-unknown-fields"]
    assert openapi("healthchecks")["properties"]["spec"] == {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True,
        "description": "Owned by the controller that evaluates the check."}
    # maps of strings stay maps, not free-form objects
    labels = spec["properties"]["healthCheckSelector"]["properties"]["selector"][
        "properties"]["matchLabels"]
    assert labels["additionalProperties"] == {"type": "string"}


def test_descriptions_are_kept() -> None:
    spec = openapi("rollouts")["properties"]["spec"]["properties"]
    assert spec["maxBump"]["description"].startswith("Largest automatic jump")
    assert spec["maxBump"]["enum"] == ["patch", "minor", "major"]
    assert spec["versionHistoryLimit"] == {
        "type": "integer", "minimum": 1, "description": "How many history entries status keeps."}


def test_rollout_printer_columns() -> None:
    columns = {c["name"]: c for c in
               crds()["rollouts"]["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert list(columns) == ["Current", "Phase", "Ready", "Reason", "Message", "Age"]
    assert columns["Current"]["jsonPath"] == ".status.currentVersion"
    assert columns["Phase"]["jsonPath"] == ".status.phase"
    assert columns["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Reason"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].reason'
    assert columns["Age"] == {"name": "Age", "type": "date",
                              "jsonPath": ".metadata.creationTimestamp"}
    # every column path names a field the schema knows
    props = openapi("rollouts")["properties"]["status"]["properties"]
    assert {"currentVersion", "phase", "conditions"} <= set(props)


# -- acceptance ----------------------------------------------------------------------


def sample_objects(kind: str) -> list[dict[str, Any]]:
    out = []
    for path in sorted((ROOT / "sample-repo").rglob("*.yaml")):
        for doc in YAML(typ="safe").load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == kind and \
                    doc.get("apiVersion") == models.API_VERSION:
                out.append(doc)
    return out


@pytest.mark.parametrize(("kind", "plural", "model"), [
    ("Rollout", "rollouts", models.Rollout),
    ("HealthCheck", "healthchecks", models.HealthCheck),
])
def test_sample_repo_objects_validate_against_crd(kind: str, plural: str,
                                                  model: type[BaseModel]) -> None:
    objects = sample_objects(kind)
    assert objects, f"no {kind} in sample-repo/"
    check = validator(openapi(plural))
    for obj in objects:
        check.validate(obj)
        model.model_validate(obj)


def test_rollout_gate_validates_and_needs_a_rollout_ref() -> None:
    gate = {"apiVersion": models.API_VERSION, "kind": "RolloutGate",
            "metadata": {"name": "freeze", "namespace": "apps"},
            "spec": {"rolloutRef": {"name": "podinfo"}, "passing": False,
                     "allowedVersions": ["6.5.0"]}}
    check = validator(openapi("rolloutgates"))
    check.validate(gate)
    models.RolloutGate.model_validate(gate)
    with pytest.raises(jsonschema.ValidationError):
        check.validate({**gate, "spec": {"passing": True}})


def test_crd_refuses_what_the_model_refuses() -> None:
    check = validator(openapi("rollouts"))
    base = {"apiVersion": models.API_VERSION, "kind": "Rollout", "metadata": {"name": "x"}}
    for bad in ({"maxBump": "huge"}, {"versionHistoryLimit": 0}, {"suspend": "yes"},
                {"healthCheckSelector": {"selector": {"matchLabels": {"a": 1}}}}):
        with pytest.raises(jsonschema.ValidationError):
            check.validate({**base, "spec": bad})
    # unknown fields are kept (kuberik grows new ones), as the models keep them
    check.validate({**base, "spec": {"someFutureField": {"x": 1}}})


def test_health_check_status_values() -> None:
    check = validator(openapi("healthchecks"))
    obj = {"apiVersion": models.API_VERSION, "kind": "HealthCheck",
           "metadata": {"name": "h"}, "spec": {"class": "prometheus", "query": "up"},
           "status": {"status": "Unhealthy", "lastErrorTime": "2026-03-02T09:00:00Z",
                      "lastChangeTime": "2026-03-02T09:00:00Z", "message": "error rate",
                      "somethingNew": 1}}
    check.validate(obj)
    models.HealthCheck.model_validate(obj)
    with pytest.raises(jsonschema.ValidationError):
        check.validate({**obj, "status": {"status": "Sick"}})


def _status_written_by_the_reconciler() -> list[dict[str, Any]]:
    """Statuses ``core.status.render`` produces: a release baked and one reverted,
    a hold, and an error."""
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    minute = timedelta(minutes=1)
    target = [Target(rollout="apps/podinfo", file="apps.yaml", document=0,
                     kind="Kustomization", object="flux-system/podinfo",
                     path=("spec", "postBuild", "substitute", "VERSION"), value="1.0.0")]
    release = trailers.release_message(planning.changes_for("apps/podinfo", target, "1.1.0"),
                                       release="1.1.0", previous="1.0.0")
    revert = trailers.revert_message(
        reverted_subject="podinfo: 1.0.0 -> 1.1.0", reverted_sha="1" * 40,
        rollout="apps/podinfo", release="1.0.0", previous="1.1.0", reason="unhealthy")
    records = trailers.records([("2" * 40, revert, now - minute),
                                ("1" * 40, release, now - 30 * minute)])
    kept = (progress.Bookkeeping("1" * 40, "Failed", applied_at=now - 29 * minute,
                                 bake_start=now - 28 * minute, bake_end=now - 2 * minute,
                                 failed_checks=("apps/errors",), message="Unhealthy"),)
    out = []
    steps: list[tuple[progress.Action, str | None]] = [
        ("idle", "1.0.0"), ("held", "1.0.0"), ("wait", None)]
    for action, current in steps:
        step = progress.Step(action=action, reason=reasons.UP_TO_DATE, message="m",
                             kept=kept, current=current)
        out.append(status.render(step=step, records=records, previous=None, generation=3,
                                 revision="c" * 40, candidates=["1.0.0", "1.1.0", "bad tag"],
                                 limit=10, now=now))
    out.append(status.render(step=None, records=records, previous=out[0], generation=4,
                             revision=None, candidates=[], limit=10, now=now,
                             error=("GitUnreachable", "cannot fetch", False)))
    return out


def test_status_the_reconciler_writes_is_accepted() -> None:
    schema = openapi("rollouts")["properties"]["status"]
    check = validator(schema)
    for written in _status_written_by_the_reconciler():
        stored = without_nulls(written)
        check.validate(stored)
        statusmodels.RolloutStatus.model_validate(stored)
    held = without_nulls(_status_written_by_the_reconciler()[1])
    assert held["hold"] == {"version": "1.0.0", "message": "m"}
    assert held["history"][1]["bakeStatus"] == "Failed"


# -- the converter -------------------------------------------------------------------


class _Either(BaseModel):
    value: int | str = Field(description="two types")


class _Node(BaseModel):
    child: _Node | None = None


class _Positive(BaseModel):
    count: int = Field(gt=0)


def test_converter_refuses_what_has_no_structural_form() -> None:
    with pytest.raises(schemas.SchemaError, match="non-null types"):
        schemas.structural(_Either.model_json_schema())
    with pytest.raises(schemas.SchemaError, match="recursive"):
        schemas.structural(_Node.model_json_schema())


def test_converter_speaks_openapi_v3_0() -> None:
    count = schemas.structural(_Positive.model_json_schema())["properties"]["count"]
    assert count == {"type": "integer", "minimum": 0, "exclusiveMinimum": True}
    gate = schemas.structural(models.RolloutGate.model_json_schema())
    assert gate["properties"]["kind"] == {"type": "string", "enum": ["RolloutGate"],
                                          "description": "Always RolloutGate."}
