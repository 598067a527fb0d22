"""The emulator enforcing a CRD's structural schema, through the official client:
kube-apiserver's 422 Invalid with ``details.causes[]``, pruning of unknown fields
and of nulls, for creates, updates, patches and status writes. The schema used is
kuberik's published Rollout CRD (``tests/data/kuberik/``)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from ruamel.yaml import YAML

from reconciler.emulator import Emulator
from reconciler.emulator.structural import Schema, from_crd

GROUP, VERSION, PLURAL, NS = "kuberik.com", "v1alpha1", "rollouts", "apps"
KUBERIK_CRD = Path(__file__).parents[1] / "data" / "kuberik" / "kuberik.com_rollouts.yaml"


def kuberik_crd() -> dict[str, Any]:
    crd: dict[str, Any] = YAML(typ="safe", pure=True).load(KUBERIK_CRD.read_text("utf-8"))
    return crd


@pytest.fixture
def custom() -> Iterator[client.CustomObjectsApi]:
    with Emulator() as emu:
        emu.enforce(kuberik_crd())
        with client.ApiClient(client.Configuration(host=emu.url)) as api:
            yield client.CustomObjectsApi(api)


def create(custom: client.CustomObjectsApi, **spec: Any) -> dict[str, Any]:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Rollout",
            "metadata": {"name": "podinfo"},
            "spec": spec or {"releasesImagePolicy": {"name": "podinfo"}}}
    out: dict[str, Any] = custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL,
                                                                 body)
    return out


def patch_status(custom: client.CustomObjectsApi, status: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, NS, PLURAL, "podinfo", {"status": status})
    return out


def refusal(call: Any) -> dict[str, Any]:
    with pytest.raises(ApiException) as info:
        call()
    assert info.value.status == 422
    body: dict[str, Any] = json.loads(info.value.body)
    return body


GOOD = {"history": [{"id": 1, "version": {"tag": "6.5.0"}, "timestamp": "2026-03-02T09:00:00Z",
                     "triggeredBy": {"kind": "System", "name": "reconciler"},
                     "bakeStatus": "Succeeded", "commit": "a" * 40}],
        "availableReleases": [{"tag": "6.5.0", "digest": "sha256:0"}],
        "gitRevision": "a" * 40}


def test_a_status_in_kuberiks_shape_is_stored_without_the_fields_kuberik_lacks(
        custom: client.CustomObjectsApi) -> None:
    create(custom)
    stored = patch_status(custom, GOOD)["status"]
    assert stored == {"history": [{k: v for k, v in GOOD["history"][0].items()  # type: ignore[index]
                                   if k != "commit"}],
                      "availableReleases": [{"tag": "6.5.0", "digest": "sha256:0"}]}


def test_the_string_shape_is_refused_with_a_cause_per_field(
        custom: client.CustomObjectsApi) -> None:
    create(custom)
    body = refusal(lambda: patch_status(custom, {
        "history": [{"version": "6.5.0", "timestamp": "2026-03-02T09:00:00Z",
                     "failedHealthChecks": ["apps/errors"]}],
        "availableReleases": ["6.5.0"]}))
    assert (body["kind"], body["status"], body["reason"], body["code"]) == (
        "Status", "Failure", "Invalid", 422)
    assert body["details"]["name"] == "podinfo" and body["details"]["kind"] == "Rollout"
    assert body["details"]["causes"] == [
        {"reason": "FieldValueTypeInvalid", "field": "status.history[0].version",
         "message": 'Invalid value: "6.5.0": status.history[0].version in body must be of '
                    'type object: "string"'},
        {"reason": "FieldValueTypeInvalid",
         "field": "status.history[0].failedHealthChecks[0]",
         "message": 'Invalid value: "apps/errors": status.history[0].failedHealthChecks[0] '
                    'in body must be of type object: "string"'},
        {"reason": "FieldValueTypeInvalid", "field": "status.availableReleases[0]",
         "message": 'Invalid value: "6.5.0": status.availableReleases[0] in body must be of '
                    'type object: "string"'}]
    assert body["message"].startswith('Rollout.kuberik.com "podinfo" is invalid: '
                                      '[status.history[0].version: Invalid value')
    # Nothing was written.
    got = custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "podinfo")
    assert "status" not in got


@pytest.mark.parametrize(("status", "cause"), [
    pytest.param({"history": [{"version": {"tag": "1.0.0"}}]},
                 ("status.history[0].timestamp", "FieldValueRequired"), id="required"),
    pytest.param({"history": [{"version": {"tag": "1.0.0"}, "timestamp": "soon"}]},
                 ("status.history[0].timestamp", "FieldValueInvalid"), id="date-time"),
    pytest.param({"history": [{"version": {"tag": "1.0.0"}, "timestamp": "2026-03-02T09:00:00Z",
                               "triggeredBy": {"kind": "Robot", "name": "x"}}]},
                 ("status.history[0].triggeredBy.kind", "FieldValueNotSupported"), id="enum"),
    pytest.param({"conditions": [{"type": "Ready", "status": "True", "reason": "not ok!",
                                  "message": "", "lastTransitionTime": "2026-03-02T09:00:00Z"}]},
                 ("status.conditions[0].reason", "FieldValueInvalid"), id="pattern"),
    pytest.param({"conditions": [
        {"type": "Ready", "status": s, "reason": "R", "message": "",
         "lastTransitionTime": "2026-03-02T09:00:00Z"} for s in ("True", "False")]},
                 ("status.conditions[1]", "FieldValueDuplicate"), id="list-map-duplicate"),
    pytest.param({"history": [{"id": "one", "version": {"tag": "1.0.0"},
                               "timestamp": "2026-03-02T09:00:00Z"}]},
                 ("status.history[0].id", "FieldValueTypeInvalid"), id="integer"),
])
def test_each_kind_of_violation(custom: client.CustomObjectsApi, status: dict[str, Any],
                                cause: tuple[str, str]) -> None:
    create(custom)
    body = refusal(lambda: patch_status(custom, status))
    assert [(c["field"], c["reason"]) for c in body["details"]["causes"]] == [cause]


def test_creates_and_spec_writes_are_checked_and_pruned_too(
        custom: client.CustomObjectsApi) -> None:
    body = refusal(lambda: create(custom, versionHistoryLimit="ten"))
    assert body["details"]["causes"][0]["field"] == "spec.versionHistoryLimit"
    # An extension kuberik does not define is pruned, silently, as on a real cluster.
    created = create(custom, releasesImagePolicy={"name": "podinfo"}, maxBump="minor",
                     wantedVersion=None)
    assert created["spec"] == {"releasesImagePolicy": {"name": "podinfo"}}


def test_objects_stored_before_enforcement_are_pruned() -> None:
    with Emulator() as emu:
        emu.apply({"apiVersion": f"{GROUP}/{VERSION}", "kind": "Rollout",
                   "metadata": {"name": "podinfo", "namespace": NS},
                   "spec": {"releasesImagePolicy": {"name": "podinfo"}, "policy": "standard"}})
        emu.enforce(kuberik_crd())
        got = emu.get_object(f"{GROUP}/{VERSION}", "Rollout", namespace=NS, name="podinfo")
        assert got is not None and got["spec"] == {"releasesImagePolicy": {"name": "podinfo"}}


def test_without_enforcement_anything_goes() -> None:
    with Emulator() as emu, client.ApiClient(client.Configuration(host=emu.url)) as api:
        custom = client.CustomObjectsApi(api)
        create(custom)
        assert patch_status(custom, {"availableReleases": ["6.5.0"]})["status"] == {
            "availableReleases": ["6.5.0"]}


def test_from_crd_refuses_what_is_not_a_crd() -> None:
    with pytest.raises(ValueError, match="not a CustomResourceDefinition"):
        from_crd({"kind": "Rollout"})
    assert isinstance(from_crd(kuberik_crd())[3], Schema)


def test_the_command_line_enforces_a_crd_file(tmp_path: Path) -> None:
    with subprocess.Popen([sys.executable, "-m", "reconciler.emulator", "--crd",
                           str(KUBERIK_CRD)], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            with client.ApiClient(client.Configuration(host=url)) as api:
                custom = client.CustomObjectsApi(api)
                create(custom)
                refusal(lambda: patch_status(custom, {"availableReleases": ["6.5.0"]}))
        finally:
            proc.terminate()
            proc.wait(10)
