"""The API emulator's watches, through the official kubernetes client: replay from a
resourceVersion, live changes, objects leaving and entering a selector, 410 Gone once
history is compacted or expired, timeouts, bookmarks, and watches ending cleanly when
the server stops or restarting where they left off after it restarts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from reconciler.emulator import Emulator
from tests.integration.emulatorapi import GROUP, NS, PLURAL, VERSION, create, get, rollout, rv

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
