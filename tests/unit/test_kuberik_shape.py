"""The status is kuberik's shape: kuberik's published CRD accepts what we render,
rejects the string shape we used to write, and our CRD is a superset of kuberik's.

The copy of kuberik's CRD in ``tests/data/kuberik/`` says where it came from."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from reconciler.core import inputs, progress, reasons, status
from reconciler.interfaces import schemas
from tests.unit.statusworld import KEPT, NOW, R2, R3, RECORDS, REV, render, step

KUBERIK_CRD = Path(__file__).parents[1] / "data" / "kuberik" / "kuberik.com_rollouts.yaml"


def kuberik_schema() -> dict[str, Any]:
    crd = YAML(typ="safe", pure=True).load(KUBERIK_CRD.read_text(encoding="utf-8"))
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def ours() -> dict[str, Any]:
    rollouts = next(c for c in schemas.CRDS if c.plural == "rollouts")
    return schemas.crd_schema(rollouts)


def kuberik_status_errors(written: Mapping[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(kuberik_schema()["properties"]["status"])
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(written)]


# --- kuberik's CRD accepts what we write --------------------------------------------------


def _gates(allowed: tuple[str, ...] | list[str] = ("1.2.0",)) -> inputs.Gates:
    return inputs.gates_for("podinfo", [
        {"metadata": {"namespace": "apps", "name": "change-freeze"},
         "spec": {"rolloutRef": {"name": "podinfo"}, "passing": True,
                  "allowedVersions": list(allowed)}}], candidates=["1.2.0"])


@pytest.mark.parametrize("written", [
    pytest.param(lambda: render(), id="baked-and-reverted"),
    pytest.param(lambda: status.render(
        step=step(), records=RECORDS, previous=None, generation=1, revision="a" * 40,
        candidates=["1.1.0", "1.2.0", "1.3.0"], limit=10, now=NOW, gates=_gates(),
        digests={"1.3.0": "sha256:" + "b" * 64}), id="gates-and-digests"),
    pytest.param(lambda: render(None, error=(reasons.GIT_ERROR, "fetch failed", False)),
                 id="error"),
])
def test_kuberiks_crd_accepts_the_status_we_render(written: Any) -> None:
    assert kuberik_status_errors(written()) == []


def test_kuberiks_crd_rejects_the_string_shape_we_used_to_write() -> None:
    old = {"history": [{"version": "1.2.0", "timestamp": "2026-03-02T08:30:00Z",
                        "failedHealthChecks": ["apps/errors"]}],
           "availableReleases": ["1.2.0"]}
    assert sorted(kuberik_status_errors(old)) == [
        "availableReleases.0: '1.2.0' is not of type 'object'",
        "history.0.failedHealthChecks.0: 'apps/errors' is not of type 'object'",
        "history.0.version: '1.2.0' is not of type 'object'"]


# --- release candidates and gates -----------------------------------------------------------


def test_release_candidates_are_above_the_current_version_and_gated_ones_allowed() -> None:
    written = status.render(
        step=step(current="1.1.0"), records=RECORDS, previous=None, generation=1,
        revision=None, candidates=["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"], limit=10,
        now=NOW, gates=_gates(allowed=["1.2.0", "1.3.0"]))
    # 1.2.0 was reverted (RECORDS): quarantined, so no candidate.
    assert written["releaseCandidates"] == [{"tag": "1.4.0"}, {"tag": "1.3.0"}]
    assert written["gatedReleaseCandidates"] == [{"tag": "1.3.0"}]
    assert written["gates"] == [{"name": "change-freeze", "passing": True,
                                 "allowedVersions": ["1.2.0", "1.3.0"], "bypassGates": False,
                                 "message": "Gate is passing"}]


def test_bypass_gates_lifts_every_gate_for_that_candidate_only() -> None:
    closed = [{"metadata": {"namespace": "apps", "name": "freeze"},
               "spec": {"rolloutRef": {"name": "podinfo"}, "passing": False}},
              {"metadata": {"namespace": "apps", "name": "allow"},
               "spec": {"rolloutRef": {"name": "podinfo"}, "allowedVersions": ["1.2.0"]}}]
    gates = inputs.gates_for("podinfo", closed, bypass="1.3.0", candidates=["1.2.0", "1.3.0"])
    assert gates.blocks == () and gates.allowed == frozenset({"1.3.0"})
    assert [(g["name"], g["bypassGates"], g["message"]) for g in gates.summary] == [
        ("freeze", True, "Gate bypassed for version 1.3.0"),
        ("allow", True, "Gate bypassed for version 1.3.0")]
    # Not a candidate (already out, or unknown): kuberik ignores the annotation.
    ignored = inputs.gates_for("podinfo", closed, bypass="1.1.0", candidates=["1.2.0"])
    assert ignored.blocks == ("RolloutGate apps/freeze is not passing",)
    assert ignored.allowed == frozenset({"1.2.0"})


# --- reading back: both shapes, and kuberik's fields alone -----------------------------------


def status_minutes() -> timedelta:
    return timedelta(minutes=1)


def _pruned(written: Mapping[str, Any]) -> dict[str, Any]:
    """What the API server stores where kuberik's CRD prunes our extra fields."""
    return {k: ([{f: v for f, v in e.items() if f in status.KUBERIK_ENTRY} for e in value]
                if k == "history" else value)
            for k, value in written.items() if k in status.KUBERIK_STATUS}


def test_kept_from_reads_kuberiks_fields_alone_given_the_records() -> None:
    pruned = _pruned(render())
    kept = status.kept_from(pruned, RECORDS)
    # appliedTime was pruned: the bake start stands in for it.
    assert kept == [
        progress.Bookkeeping(R3, "Failed", applied_at=NOW - 27 * status_minutes(),
                             bake_start=NOW - 27 * status_minutes(),
                             bake_end=NOW - 6 * status_minutes(),
                             failed_checks=("apps/errors", "apps/slo"),
                             message=KEPT[0].message),
        progress.Bookkeeping(R2, "Succeeded", applied_at=NOW - 117 * status_minutes(),
                             bake_start=NOW - 117 * status_minutes(),
                             bake_end=NOW - 107 * status_minutes(), message=KEPT[1].message)]
    assert status.kept_from(pruned) == []  # without records no entry names its commit


def test_kept_from_ignores_an_id_whose_record_has_another_version() -> None:
    pruned = _pruned(render())
    pruned["history"][1]["version"] = {"tag": "9.9.9"}
    assert [k.commit for k in status.kept_from(pruned, RECORDS)] == [R2]


def test_kept_from_reads_the_string_shape_an_earlier_daemon_wrote() -> None:
    old = {"history": [
        {"version": "1.1.0", "timestamp": "2026-03-02T08:55:00Z", "commit": REV,
         "action": "revert", "message": "revert of 1.2.0: HealthCheck apps/errors failed"},
        {"version": "1.2.0", "timestamp": "2026-03-02T08:30:00Z", "commit": R3,
         "action": "release", "bakeStatus": "InProgress",
         "appliedTime": "2026-03-02T08:32:00Z", "bakeStartTime": "2026-03-02T08:33:00Z",
         "failedHealthChecks": ["apps/errors"], "message": "baking, 300s left"}],
        "availableReleases": ["1.2.0", "1.1.0"]}
    assert status.kept_from(old) == [progress.Bookkeeping(
        R3, "InProgress", applied_at=NOW - 28 * status_minutes(),
        bake_start=NOW - 27 * status_minutes(), failed_checks=("apps/errors",),
        message="baking, 300s left")]
    assert status.known_releases(old) == ["1.2.0", "1.1.0"]
    assert status.current_of(old) == "1.1.0"
    # The next write is kuberik's shape.
    again = render(step(kept=tuple(status.kept_from(old))), previous=old)
    assert kuberik_status_errors(again) == []


def test_same_compares_kuberiks_fields_where_the_others_were_pruned() -> None:
    written = render()
    assert status.same(_pruned(written), written)
    changed = _pruned(written)
    changed["history"][1]["bakeStatus"] = "InProgress"
    assert not status.same(changed, written)


# --- our CRD is a superset of kuberik's ------------------------------------------------------


def _walk(theirs: Mapping[str, Any], mine: Mapping[str, Any],
          path: str) -> Iterator[str]:
    """Every way ``mine`` fails to accept what ``theirs`` defines at ``path``."""
    if theirs.get("type") != mine.get("type"):
        yield f"{path}: type {mine.get('type')!r}, kuberik {theirs.get('type')!r}"
        return
    if "enum" in mine and not set(mine["enum"]) >= set(theirs.get("enum", ("(any)",))):
        yield f"{path}: enum {mine['enum']}, kuberik {theirs.get('enum', 'any string')}"
    extra_required = set(mine.get("required", ())) - set(theirs.get("required", ()))
    if extra_required:
        yield f"{path}: requires {sorted(extra_required)}, kuberik does not"
    for name, sub in (theirs.get("properties") or {}).items():
        if name not in (mine.get("properties") or {}):
            yield f"{path}.{name}: missing"
        else:
            yield from _walk(sub, mine["properties"][name], f"{path}.{name}")
    if "items" in theirs:
        yield from _walk(theirs["items"], mine.get("items") or {}, f"{path}[]")
    if "additionalProperties" in theirs:
        yield from _walk(theirs["additionalProperties"], mine.get("additionalProperties") or {},
                         f"{path}{{}}")


# Where our spec is deliberately stricter: values kuberik's CRD lets through but that no
# controller can act on (a LabelSelector operator outside these four fails to parse in
# kuberik too; an ImagePolicy reference without a name refers to nothing).
STRICTER = {
    "spec.healthCheckSelector.namespaceSelector.matchExpressions[].operator: enum "
    "['In', 'NotIn', 'Exists', 'DoesNotExist'], kuberik any string",
    "spec.healthCheckSelector.selector.matchExpressions[].operator: enum "
    "['In', 'NotIn', 'Exists', 'DoesNotExist'], kuberik any string",
    "spec.releasesImagePolicy: requires ['name'], kuberik does not",
}


@pytest.mark.parametrize("part", ["spec", "status"])
def test_our_crd_has_every_field_of_kuberiks_with_its_type(part: str) -> None:
    theirs = kuberik_schema()["properties"][part]
    mine = ours()["properties"][part]
    assert set(_walk(theirs, mine, part)) == {d for d in STRICTER if d.startswith(part)}


def test_the_comparison_sees_a_missing_field_and_a_wrong_type() -> None:
    theirs = {"type": "object", "properties": {"a": {"type": "string"},
                                               "b": {"type": "array",
                                                     "items": {"type": "object"}}}}
    mine = {"type": "object", "required": ["a"],
            "properties": {"b": {"type": "array", "items": {"type": "string"}}}}
    assert list(_walk(theirs, mine, "status")) == [
        "status: requires ['a'], kuberik does not", "status.a: missing",
        "status.b[]: type 'string', kuberik 'object'"]


@pytest.mark.parametrize("number", [0, -1, 4, True, "2", None])
def test_kept_from_ignores_an_id_that_names_no_record(number: Any) -> None:
    pruned = _pruned(render())
    pruned["history"][1]["id"] = number
    assert [k.commit for k in status.kept_from(pruned, RECORDS)] == [R2]
