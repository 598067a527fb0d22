"""The API emulator's objects, through the official kubernetes client: 201 on create
with the stored object, Status bodies for refusals, delete and finalizers,
resourceVersion preconditions on update and patch (merge, JSON and strategic merge
patches), the status subresource, and generation following the spec only.
"""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.integration.emulatorapi import (
    GROUP,
    NS,
    PLURAL,
    VERSION,
    create,
    get,
    rollout,
    rv,
    status_of,
)

# -- create, get, delete ----------------------------------------------------------


def test_create_answers_201_with_the_stored_object(custom: client.CustomObjectsApi) -> None:
    data, code, _ = custom.create_namespaced_custom_object_with_http_info(
        GROUP, VERSION, NS, PLURAL, rollout("podinfo"))
    assert code == 201
    meta = data["metadata"]
    assert meta["namespace"] == NS and meta["name"] == "podinfo"
    assert meta["generation"] == 1 and meta["uid"] and meta["creationTimestamp"]
    assert int(meta["resourceVersion"]) > 0
    assert get(custom, "podinfo") == data


def test_resource_versions_are_global_and_increase(custom: client.CustomObjectsApi) -> None:
    a = create(custom, rollout("a"))
    b = create(custom, rollout("b"), ns="other")
    assert int(rv(b)) == int(rv(a)) + 1


def test_create_drops_status_of_a_kind_with_a_status_subresource(
        custom: client.CustomObjectsApi) -> None:
    body = {**rollout("podinfo"), "status": {"history": []}}
    assert "status" not in create(custom, body)


def test_create_twice_is_already_exists(custom: client.CustomObjectsApi) -> None:
    create(custom, rollout("podinfo"))
    with pytest.raises(ApiException) as caught:
        create(custom, rollout("podinfo"))
    assert caught.value.status == 409
    status = status_of(caught.value)
    assert status["kind"] == "Status" and status["status"] == "Failure"
    assert status["reason"] == "AlreadyExists" and status["code"] == 409
    assert 'rollouts.kuberik.com "podinfo" already exists' in status["message"]


def test_get_missing_is_not_found_with_a_status_body(custom: client.CustomObjectsApi) -> None:
    with pytest.raises(ApiException) as caught:
        get(custom, "nope")
    assert caught.value.status == 404
    assert status_of(caught.value) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'rollouts.kuberik.com "nope" not found', "reason": "NotFound",
        "details": {"name": "nope", "group": GROUP, "kind": PLURAL}, "code": 404}


def test_delete_answers_200_with_the_object(custom: client.CustomObjectsApi) -> None:
    created = create(custom, rollout("podinfo"))
    deleted = custom.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "podinfo")
    assert deleted["metadata"]["uid"] == created["metadata"]["uid"]
    with pytest.raises(ApiException) as caught:
        get(custom, "podinfo")
    assert caught.value.status == 404


def test_delete_with_finalizers_waits_for_them(custom: client.CustomObjectsApi) -> None:
    body = rollout("podinfo")
    body["metadata"]["finalizers"] = ["kuberik.com/cleanup"]
    create(custom, body)
    custom.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "podinfo")
    pending = get(custom, "podinfo")
    assert pending["metadata"]["deletionTimestamp"]
    custom.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "podinfo",
                                          {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as caught:
        get(custom, "podinfo")
    assert caught.value.status == 404


# -- update and patch preconditions ------------------------------------------------


def test_replace_with_a_stale_resource_version_is_a_conflict(
        custom: client.CustomObjectsApi) -> None:
    old = create(custom, rollout("podinfo"))
    fresh = custom.replace_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "podinfo", {**old, "spec": {"bakeTime": "10m"}})
    assert int(rv(fresh)) > int(rv(old))
    with pytest.raises(ApiException) as caught:
        custom.replace_namespaced_custom_object(
            GROUP, VERSION, NS, PLURAL, "podinfo", {**old, "spec": {"bakeTime": "1m"}})
    assert caught.value.status == 409
    status = status_of(caught.value)
    assert status["reason"] == "Conflict"
    assert "the object has been modified" in status["message"]
    assert get(custom, "podinfo")["spec"] == {"bakeTime": "10m"}


def test_replace_of_a_custom_resource_needs_a_resource_version(
        custom: client.CustomObjectsApi) -> None:
    create(custom, rollout("podinfo"))
    with pytest.raises(ApiException) as caught:
        custom.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "podinfo",
                                                rollout("podinfo", bakeTime="1m"))
    assert caught.value.status == 422
    assert status_of(caught.value)["reason"] == "Invalid"


def test_merge_patch_with_a_stale_resource_version_is_a_conflict(
        custom: client.CustomObjectsApi) -> None:
    old = create(custom, rollout("podinfo", bakeTime="5m", maxBump="minor"))
    custom.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "podinfo",
                                          {"spec": {"bakeTime": "10m"}})
    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, NS, PLURAL, "podinfo",
            {"metadata": {"resourceVersion": rv(old)}, "spec": {"bakeTime": "1m"}})
    assert caught.value.status == 409
    current = get(custom, "podinfo")
    # A merge patch merges: the untouched key survives the first patch.
    assert current["spec"] == {"bakeTime": "10m", "maxBump": "minor"}
    patched = custom.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "podinfo",
        {"metadata": {"resourceVersion": rv(current)}, "spec": {"maxBump": None}})
    assert patched["spec"] == {"bakeTime": "10m"}


def test_json_patch(custom: client.CustomObjectsApi) -> None:
    create(custom, rollout("podinfo", bakeTime="5m", gates=["a"]))
    patched = custom.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "podinfo",
        [{"op": "test", "path": "/spec/bakeTime", "value": "5m"},
         {"op": "replace", "path": "/spec/bakeTime", "value": "10m"},
         {"op": "add", "path": "/spec/gates/-", "value": "b"},
         {"op": "add", "path": "/metadata/labels/team~1name", "value": "core"}],
        _content_type="application/json-patch+json")
    assert patched["spec"] == {"bakeTime": "10m", "gates": ["a", "b"]}
    assert patched["metadata"]["labels"] == {"team/name": "core"}
    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, NS, PLURAL, "podinfo",
            [{"op": "test", "path": "/spec/bakeTime", "value": "5m"}],
            _content_type="application/json-patch+json")
    assert caught.value.status == 422
    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, NS, PLURAL, "podinfo",
            [{"op": "replace", "path": "/metadata/resourceVersion", "value": "1"}],
            _content_type="application/json-patch+json")
    assert caught.value.status == 409


def test_strategic_merge_patch_is_served_as_a_merge_patch(
        custom: client.CustomObjectsApi) -> None:
    create(custom, rollout("podinfo", bakeTime="5m"))
    patched = custom.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "podinfo", {"spec": {"maxBump": "patch"}},
        _content_type="application/strategic-merge-patch+json")
    assert patched["spec"] == {"bakeTime": "5m", "maxBump": "patch"}


# -- status subresource and generation -----------------------------------------------


def test_status_subresource_is_separate_from_the_main_resource(
        custom: client.CustomObjectsApi) -> None:
    create(custom, rollout("podinfo", bakeTime="5m"))
    with_status = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, NS, PLURAL, "podinfo",
        {"status": {"phase": "Baking"}, "spec": {"bakeTime": "1h"}})
    assert with_status["status"] == {"phase": "Baking"}
    assert with_status["spec"] == {"bakeTime": "5m"}  # spec is not writable through /status
    main = custom.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "podinfo",
        {"status": {"phase": "Hacked"}, "spec": {"bakeTime": "10m"}})
    assert main["status"] == {"phase": "Baking"}  # status is not writable through the object
    assert main["spec"] == {"bakeTime": "10m"}
    replaced = custom.replace_namespaced_custom_object_status(
        GROUP, VERSION, NS, PLURAL, "podinfo", {**main, "status": {"phase": "Done"}})
    assert replaced["status"] == {"phase": "Done"}
    with pytest.raises(ApiException) as caught:
        custom.replace_namespaced_custom_object_status(
            GROUP, VERSION, NS, PLURAL, "podinfo", {**main, "status": {"phase": "Stale"}})
    assert caught.value.status == 409


def test_generation_follows_the_spec_only(custom: client.CustomObjectsApi) -> None:
    created = create(custom, rollout("podinfo", bakeTime="5m"))
    after_status = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, NS, PLURAL, "podinfo", {"status": {"phase": "Baking"}})
    after_labels = custom.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "podinfo", {"metadata": {"labels": {"team": "core"}}})
    after_spec = custom.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "podinfo", {"spec": {"bakeTime": "10m"}})
    generations = [o["metadata"]["generation"]
                   for o in (created, after_status, after_labels, after_spec)]
    assert generations == [1, 1, 1, 2]
    versions = [int(rv(o)) for o in (created, after_status, after_labels, after_spec)]
    assert versions == sorted(set(versions))  # every write bumped the resourceVersion


def test_a_write_that_changes_nothing_is_not_a_write(custom: client.CustomObjectsApi) -> None:
    created = create(custom, rollout("podinfo", bakeTime="5m"))
    same = custom.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "podinfo",
                                                 {"spec": {"bakeTime": "5m"}})
    assert rv(same) == rv(created)
