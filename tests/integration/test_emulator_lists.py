"""The API emulator's lists, through the official kubernetes client: label and field
selectors, the list's shape across namespaces, a bad selector refused, and one
storage serving every version of a kind.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from reconciler.emulator import Emulator
from tests.integration.emulatorapi import GROUP, NS, PLURAL, VERSION, create, rollout

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
