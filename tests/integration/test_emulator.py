"""The API emulator, exercised only through the official kubernetes client.

Every rule tested here is one the reconciler relies on and kube-apiserver enforces:
201 on create, Status bodies, resourceVersion preconditions on update and patch,
the status subresource, generation, selectors, watch replay, 410 and timeouts.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from reconciler.emulator import Emulator

GROUP, VERSION, PLURAL = "kuberik.com", "v1alpha1", "rollouts"
NS = "apps"


@pytest.fixture
def server() -> Iterator[Emulator]:
    with Emulator(bookmark_interval=0.2) as emu:
        yield emu


@pytest.fixture
def api_client(server: Emulator) -> Iterator[client.ApiClient]:
    cfg = client.Configuration(host=server.url)
    with client.ApiClient(cfg) as api:
        yield api


@pytest.fixture
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


def rollout(name: str, *, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Rollout",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": spec or {"bakeTime": "5m"}}


def status_of(exc: ApiException) -> dict[str, Any]:
    body = json.loads(exc.body)
    assert isinstance(body, dict)
    return body


def create(custom: client.CustomObjectsApi, body: dict[str, Any], ns: str = NS) -> dict[str, Any]:
    obj = custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
    assert isinstance(obj, dict)
    return obj


def get(custom: client.CustomObjectsApi, name: str, ns: str = NS) -> dict[str, Any]:
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    assert isinstance(obj, dict)
    return obj


def rv(obj: dict[str, Any]) -> str:
    value = obj["metadata"]["resourceVersion"]
    assert isinstance(value, str)
    return value


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


# -- lists and selectors -----------------------------------------------------------


def names(listing: dict[str, Any]) -> list[str]:
    return [f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in listing["items"]]


@pytest.fixture
def labelled(custom: client.CustomObjectsApi) -> None:
    create(custom, rollout("web", labels={"app": "podinfo", "tier": "web"}))
    create(custom, rollout("db", labels={"app": "podinfo", "tier": "db"}))
    create(custom, rollout("cache", labels={"app": "redis"}))
    create(custom, rollout("other", labels={"app": "podinfo", "tier": "web"}), ns="staging")


@pytest.mark.usefixtures("labelled")
@pytest.mark.parametrize(("selector", "expected"), [
    ("app=podinfo", ["apps/db", "apps/web"]),
    ("app==podinfo", ["apps/db", "apps/web"]),
    ("app!=podinfo", ["apps/cache"]),
    ("tier in (web,db)", ["apps/db", "apps/web"]),
    ("tier notin (web)", ["apps/cache", "apps/db"]),
    ("tier", ["apps/db", "apps/web"]),
    ("!tier", ["apps/cache"]),
    ("app=podinfo,tier notin (db)", ["apps/web"]),
])
def test_label_selectors(custom: client.CustomObjectsApi, selector: str,
                         expected: list[str]) -> None:
    listing = custom.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL,
                                                   label_selector=selector)
    assert names(listing) == expected


@pytest.mark.usefixtures("labelled")
def test_list_shape_and_all_namespaces(custom: client.CustomObjectsApi,
                                       server: Emulator) -> None:
    listing = custom.list_custom_object_for_all_namespaces(GROUP, VERSION, PLURAL,
                                                           label_selector="tier=web")
    assert listing["kind"] == "RolloutList" and listing["apiVersion"] == f"{GROUP}/{VERSION}"
    assert listing["metadata"]["resourceVersion"] == server.resource_version
    assert names(listing) == ["apps/web", "staging/other"]


@pytest.mark.usefixtures("labelled")
def test_field_selectors(custom: client.CustomObjectsApi) -> None:
    by_name = custom.list_custom_object_for_all_namespaces(
        GROUP, VERSION, PLURAL, field_selector="metadata.name=web")
    assert names(by_name) == ["apps/web"]
    not_apps = custom.list_custom_object_for_all_namespaces(
        GROUP, VERSION, PLURAL, field_selector="metadata.namespace!=apps")
    assert names(not_apps) == ["staging/other"]
    with pytest.raises(ApiException) as caught:
        custom.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL,
                                             field_selector="spec.bakeTime=5m")
    assert caught.value.status == 400


def test_a_bad_label_selector_is_a_bad_request(custom: client.CustomObjectsApi) -> None:
    with pytest.raises(ApiException) as caught:
        custom.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL,
                                             label_selector="tier in (web")
    assert caught.value.status == 400


def test_one_storage_serves_every_version(custom: client.CustomObjectsApi) -> None:
    group, plural = "image.toolkit.fluxcd.io", "imagepolicies"
    custom.create_namespaced_custom_object(group, "v1", NS, plural, {
        "apiVersion": f"{group}/v1", "kind": "ImagePolicy", "metadata": {"name": "podinfo"},
        "spec": {}})
    old = custom.get_namespaced_custom_object(group, "v1beta2", NS, plural, "podinfo")
    assert old["apiVersion"] == f"{group}/v1beta2"


# -- watches -----------------------------------------------------------------------


def stream(custom: client.CustomObjectsApi, **kwargs: Any) -> Iterator[dict[str, Any]]:
    w = watch.Watch()
    return w.stream(custom.list_namespaced_custom_object, GROUP, VERSION, NS, PLURAL,
                    **kwargs)  # type: ignore[no-any-return]


def take(events: Iterator[dict[str, Any]], n: int) -> list[tuple[str, str]]:
    seen = []
    for event in events:
        if event["type"] == "BOOKMARK":
            continue
        seen.append((event["type"], event["object"]["metadata"]["name"]))
        if len(seen) == n:
            break
    events.close()  # type: ignore[attr-defined]
    return seen


def test_watch_from_a_resource_version_replays_what_followed(
        custom: client.CustomObjectsApi) -> None:
    create(custom, rollout("before"))
    start = rv(get(custom, "before"))
    create(custom, rollout("podinfo"))
    custom.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "podinfo",
                                          {"spec": {"bakeTime": "9m"}})
    custom.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "podinfo")
    events = take(stream(custom, resource_version=start, timeout_seconds=5), 3)
    assert events == [("ADDED", "podinfo"), ("MODIFIED", "podinfo"), ("DELETED", "podinfo")]


def test_watch_from_zero_starts_with_what_exists(custom: client.CustomObjectsApi) -> None:
    create(custom, rollout("a"))
    create(custom, rollout("b"))
    events = stream(custom, resource_version="0", timeout_seconds=5)
    assert take(events, 2) == [("ADDED", "a"), ("ADDED", "b")]


def test_watch_delivers_live_changes_with_their_resource_versions(
        custom: client.CustomObjectsApi) -> None:
    start = rv(create(custom, rollout("a")))
    seen: list[dict[str, Any]] = []

    def consume() -> None:
        for event in stream(custom, resource_version=start, timeout_seconds=5):
            seen.append(event)
            if len(seen) == 2:
                break

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.2)
    second = create(custom, rollout("b"))
    third = custom.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "a",
                                                  {"spec": {"bakeTime": "1m"}})
    t.join(5)
    assert [(e["type"], e["raw_object"]["metadata"]["resourceVersion"]) for e in seen] == [
        ("ADDED", rv(second)), ("MODIFIED", rv(third))]


def test_watch_with_a_selector_sees_objects_leave_and_enter(
        custom: client.CustomObjectsApi) -> None:
    start = rv(create(custom, rollout("a", labels={"tier": "web"})))
    custom.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "a",
                                          {"metadata": {"labels": {"tier": "db"}}})
    custom.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "a",
                                          {"metadata": {"labels": {"tier": "web"}}})
    create(custom, rollout("b", labels={"tier": "db"}))
    events = stream(custom, resource_version=start, label_selector="tier=web", timeout_seconds=5)
    assert take(events, 2) == [("DELETED", "a"), ("ADDED", "a")]


def test_watch_from_a_compacted_resource_version_is_gone(
        custom: client.CustomObjectsApi, server: Emulator) -> None:
    old = rv(create(custom, rollout("a")))
    create(custom, rollout("b"))
    server.compact()
    with pytest.raises(ApiException) as caught:
        take(stream(custom, resource_version=old, timeout_seconds=5), 1)
    assert caught.value.status == 410
    assert "Expired" in str(caught.value.reason)
    # The current resourceVersion is still good after a compaction.
    current = server.resource_version
    create(custom, rollout("c"))
    assert take(stream(custom, resource_version=current, timeout_seconds=5), 1) == [
        ("ADDED", "c")]


def test_expire_watches_makes_every_client_relist(
        custom: client.CustomObjectsApi, server: Emulator) -> None:
    create(custom, rollout("a"))
    current = server.resource_version  # even the newest resourceVersion handed out
    server.expire_watches()
    with pytest.raises(ApiException) as caught:
        take(stream(custom, resource_version=current, timeout_seconds=5), 1)
    assert caught.value.status == 410
    # A fresh list hands out a resourceVersion that can be watched from.
    listed = custom.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)
    assert [o["metadata"]["name"] for o in listed["items"]] == ["a"]
    create(custom, rollout("b"))
    assert take(stream(custom, resource_version=listed["metadata"]["resourceVersion"],
                       timeout_seconds=5), 1) == [("ADDED", "b")]


def test_a_bounded_history_expires_old_resource_versions() -> None:
    with Emulator(history_limit=3) as emu, client.ApiClient(
            client.Configuration(host=emu.url)) as api:
        custom = client.CustomObjectsApi(api)
        first = rv(create(custom, rollout("r0")))
        for i in range(1, 5):
            create(custom, rollout(f"r{i}"))
        with pytest.raises(ApiException) as caught:
            take(stream(custom, resource_version=first, timeout_seconds=5), 1)
        assert caught.value.status == 410


def test_watch_ends_at_its_timeout(custom: client.CustomObjectsApi) -> None:
    started = time.monotonic()
    events = list(stream(custom, resource_version="0", timeout_seconds=1))
    elapsed = time.monotonic() - started
    assert [e for e in events if e["type"] != "BOOKMARK"] == []
    assert 0.9 <= elapsed < 3


def test_watch_sends_bookmarks_when_allowed(custom: client.CustomObjectsApi) -> None:
    created = create(custom, rollout("a"))
    events = list(stream(custom, resource_version=rv(created), allow_watch_bookmarks=True,
                         timeout_seconds=1))
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks
    assert bookmarks[-1]["raw_object"]["metadata"]["resourceVersion"] == rv(created)


def test_stopping_the_server_ends_watches_cleanly(custom: client.CustomObjectsApi,
                                                  server: Emulator) -> None:
    ended = threading.Event()

    def consume() -> None:
        for _ in stream(custom, resource_version="0", timeout_seconds=30):
            pass
        ended.set()

    t = threading.Thread(target=consume)
    t.start()
    deadline = time.monotonic() + 2
    while server.watchers() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.watchers() == 1
    server.stop()
    t.join(3)
    assert ended.is_set()


def test_restart_keeps_port_objects_and_history(custom: client.CustomObjectsApi,
                                                server: Emulator) -> None:
    port = server.port
    start = rv(create(custom, rollout("a")))
    server.stop()
    with pytest.raises(Exception):  # noqa: B017 - refused: urllib3 retries, then gives up
        get(custom, "a")
    server.start()
    assert server.port == port
    create(custom, rollout("b"))
    assert take(stream(custom, resource_version=start, timeout_seconds=5), 1) == [
        ("ADDED", "b")]


# -- core resources: events, leases, namespaces ----------------------------------------


def test_events_create_and_list(core: client.CoreV1Api, server: Emulator) -> None:
    body = client.CoreV1Event.from_dict({
        "metadata": {"name": "podinfo.17a1b2c3", "namespace": NS},
        "involvedObject": {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Rollout",
                           "name": "podinfo", "namespace": NS},
        "type": "Normal", "reason": "ReleaseWritten", "message": "6.4.0 -> 6.5.0",
        "count": 1})
    core.create_namespaced_event(NS, body)
    events = core.list_namespaced_event(NS, field_selector="involvedObject.name=podinfo")
    assert [(e.reason, e.message) for e in events.items] == [("ReleaseWritten", "6.4.0 -> 6.5.0")]
    assert core.list_namespaced_event(NS, field_selector="involvedObject.name=x").items == []
    assert server.count(verb="create", path="/events") == 1


def test_leases_create_and_update_with_conflicts(api_client: client.ApiClient) -> None:
    coordination = client.CoordinationV1Api(api_client)
    lease = client.V1Lease.from_dict({
        "metadata": {"name": "reconciler", "namespace": "flux-system"},
        "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15}})
    created = coordination.create_namespaced_lease("flux-system", lease)
    assert created.metadata.resource_version
    created.spec.holder_identity = "pod-b"
    taken = coordination.replace_namespaced_lease("reconciler", "flux-system", created)
    assert taken.spec.holder_identity == "pod-b"
    created.spec.holder_identity = "pod-c"  # still carries the old resourceVersion
    with pytest.raises(ApiException) as caught:
        coordination.replace_namespaced_lease("reconciler", "flux-system", created)
    assert caught.value.status == 409
    current = coordination.read_namespaced_lease("reconciler", "flux-system")
    assert current.spec.holder_identity == "pod-b"


def test_namespaces_are_cluster_scoped(core: client.CoreV1Api) -> None:
    core.create_namespace(client.V1Namespace.from_dict(
        {"metadata": {"name": "apps", "labels": {"team": "core"}}}))
    core.create_namespace(client.V1Namespace.from_dict({"metadata": {"name": "infra"}}))
    listing = core.list_namespace(label_selector="team=core")
    assert [n.metadata.name for n in listing.items] == ["apps"]
    assert core.read_namespace("infra").metadata.namespace is None


# -- hooks --------------------------------------------------------------------------


def test_request_log_counts_by_verb(custom: client.CustomObjectsApi, server: Emulator) -> None:
    create(custom, rollout("a"))
    get(custom, "a")
    custom.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)
    with pytest.raises(ApiException):
        get(custom, "missing")
    assert server.count(verb="create") == 1
    assert server.count(verb="get") == 2
    assert server.count(verb="list", path="/rollouts") == 1
    assert [r.code for r in server.request_log] == [201, 200, 200, 404]


def test_injected_failures_and_pause(custom: client.CustomObjectsApi, server: Emulator) -> None:
    create(custom, rollout("a"))
    server.fail_next(403, verb="patch")
    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "a", {"spec": {}})
    assert caught.value.status == 403
    assert status_of(caught.value)["reason"] == "Forbidden"
    server.pause()
    with pytest.raises(ApiException) as caught:
        get(custom, "a")
    assert caught.value.status == 503
    server.resume()
    assert get(custom, "a")["metadata"]["name"] == "a"


def test_python_hooks_act_like_a_controller(custom: client.CustomObjectsApi,
                                            server: Emulator) -> None:
    server.apply({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
                  "metadata": {"name": "podinfo", "namespace": NS}, "spec": {},
                  "status": {"latestRef": {"tag": "6.5.0"}}})
    server.set_status("image.toolkit.fluxcd.io/v1", "ImagePolicy", namespace=NS,
                      name="podinfo", status={"observedGeneration": 1})
    obj = custom.get_namespaced_custom_object("image.toolkit.fluxcd.io", "v1", NS,
                                              "imagepolicies", "podinfo")
    assert obj["status"] == {"latestRef": {"tag": "6.5.0"}, "observedGeneration": 1}
    assert [o["metadata"]["name"] for o in server.objects(kind="ImagePolicy")] == ["podinfo"]


def test_token_is_required_when_configured() -> None:
    with Emulator(token="s3cret") as emu:
        for token, expected in ((None, 401), ("s3cret", 404)):
            cfg = client.Configuration(host=emu.url)
            if token:
                cfg.api_key = {"BearerToken": token}
                cfg.api_key_prefix = {"BearerToken": "Bearer"}
            with client.ApiClient(cfg) as api, pytest.raises(ApiException) as caught:
                client.CustomObjectsApi(api).get_namespaced_custom_object(
                    GROUP, VERSION, NS, PLURAL, "a")
            assert caught.value.status == expected


def test_discovery_lists_the_status_subresource(custom: client.CustomObjectsApi) -> None:
    resources = custom.get_api_resources(GROUP, VERSION)
    names_ = {r.name for r in resources.resources}
    assert {"rollouts", "rollouts/status", "healthchecks", "rolloutgates"} <= names_


def test_injected_latency_slows_every_request(custom: client.CustomObjectsApi,
                                              server: Emulator) -> None:
    create(custom, rollout("a"))
    server.latency = 0.2
    started = time.monotonic()
    get(custom, "a")
    assert time.monotonic() - started >= 0.2
    server.latency = 0.0
    started = time.monotonic()
    get(custom, "a")
    assert time.monotonic() - started < 0.2


def test_python_dash_m_prints_the_url_and_writes_a_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler.emulator", "--port", "0",
         "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        deadline = time.monotonic() + 5
        while not kubeconfig.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert f'server: "{url}"' in kubeconfig.read_text()
        with client.ApiClient(client.Configuration(host=url)) as api:
            assert client.CoreV1Api(api).list_namespace().items == []
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
