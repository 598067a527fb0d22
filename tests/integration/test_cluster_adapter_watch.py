"""The cluster adapter's watches against the API emulator over loopback: list then
changes, namespace and selector, resuming after a cut stream or a server restart
without losing events, relisting on 410 Gone, backing off (no busy loop) while the
server fails and resetting once a stream works, and stopping promptly. The failures
are produced by the emulator (stopped, paused, compacted), never by patching the
client.
"""

from __future__ import annotations

import time

import pytest

from reconciler.adapters import cluster as k8s
from reconciler.core import backoff
from reconciler.emulator import Emulator
from tests.integration.clusterworld import NS, Obj, Recorder, Watches, rollout, wait_for

# -- watch -------------------------------------------------------------------------


def test_watch_lists_then_delivers_changes(watches: Watches, server: Emulator) -> None:
    server.apply(rollout("existing"))
    rec = Recorder()
    handle = watches.start(k8s.ROLLOUT, rec.on_event, on_sync=rec.on_sync)
    assert handle.synced.wait(5)
    assert rec.syncs == [["existing"]]
    server.apply(rollout("podinfo"))
    server.set_status("kuberik.com/v1alpha1", "Rollout", namespace=NS, name="podinfo",
                      status={"phase": "Baking"})
    server.delete_object("kuberik.com/v1alpha1", "Rollout", namespace=NS, name="podinfo")
    wait_for(lambda: len(rec.events) == 3)
    assert rec.names() == [("ADDED", "podinfo"), ("MODIFIED", "podinfo"),
                           ("DELETED", "podinfo")]
    assert handle.lists == 1 and handle.streams == 1


def test_watch_honours_namespace_and_selector(watches: Watches, server: Emulator) -> None:
    rec = Recorder()
    handle = watches.start(k8s.ROLLOUT, rec.on_event, namespace=NS,
                           label_selector={"matchLabels": {"tier": "web"}})
    assert handle.synced.wait(5)
    server.apply(rollout("db", labels={"tier": "db"}))
    server.apply(rollout("web", "staging", labels={"tier": "web"}))
    server.apply(rollout("web", labels={"tier": "web"}))
    wait_for(lambda: len(rec.events) >= 1)
    time.sleep(0.2)
    assert rec.names() == [("ADDED", "web")]


def test_watch_resumes_after_the_stream_is_cut_without_losing_events(
        watches: Watches, server: Emulator) -> None:
    rec = Recorder()
    handle = watches.start(k8s.ROLLOUT, rec.on_event, on_sync=rec.on_sync)
    assert handle.synced.wait(5)
    server.apply(rollout("a"))
    wait_for(lambda: len(rec.events) == 1)
    for i in range(3):
        server.drop_watches()
        server.apply(rollout(f"b{i}"))  # written while the stream is down or resuming
    wait_for(lambda: len(rec.events) == 4)
    time.sleep(0.3)
    assert rec.names() == [("ADDED", "a"), ("ADDED", "b0"), ("ADDED", "b1"), ("ADDED", "b2")]
    assert [int(rv) for _, _, rv in rec.events] == sorted(int(rv) for _, _, rv in rec.events)
    assert handle.lists == 1 and len(rec.syncs) == 1  # resumed, never relisted
    assert handle.streams >= 2


def test_watch_resumes_when_the_server_ends_the_stream(watches: Watches,
                                                       server: Emulator) -> None:
    rec = Recorder()
    handle = watches.start(k8s.ROLLOUT, rec.on_event, timeout_seconds=1)
    assert handle.synced.wait(5)
    wait_for(lambda: handle.streams >= 2, timeout=4)  # the first stream timed out
    server.apply(rollout("late"))
    wait_for(lambda: rec.names() == [("ADDED", "late")])
    assert handle.lists == 1


def test_gone_relists_and_syncs_again(watches: Watches, server: Emulator) -> None:
    server.apply(rollout("stays"))
    server.apply(rollout("goes"))
    rec = Recorder()
    handle = watches.start(k8s.ROLLOUT, rec.on_event, on_sync=rec.on_sync)
    assert handle.synced.wait(5)
    server.pause()  # cut the stream; reconnects get 503 for now
    server.delete_object("kuberik.com/v1alpha1", "Rollout", namespace=NS, name="goes")
    server.apply(rollout("new"))
    server.compact()  # the watch's resourceVersion is now too old
    server.resume()
    wait_for(lambda: len(rec.syncs) == 2)
    assert rec.syncs == [["goes", "stays"], ["new", "stays"]]
    assert handle.lists == 2
    server.apply(rollout("after"))
    wait_for(lambda: ("ADDED", "after") in rec.names())


def test_no_busy_loop_while_the_server_answers_503(watches: Watches, server: Emulator) -> None:
    rec = Recorder()
    handle = watches.start(k8s.ROLLOUT, rec.on_event, on_sync=rec.on_sync)
    assert handle.synced.wait(5)
    server.pause()
    since = time.monotonic()
    time.sleep(2)
    attempts = server.count(verb="watch", since=since) + server.count(verb="list", since=since)
    # 0.2 s doubling: about 4 attempts in 2 s; a busy loop would make hundreds.
    assert 2 <= attempts < 10
    server.resume()
    server.apply(rollout("back"))
    wait_for(lambda: ("ADDED", "back") in rec.names(), timeout=8)


def test_watch_reconnects_after_the_server_restarts(watches: Watches,
                                                    server: Emulator) -> None:
    rec = Recorder()
    handle = watches.start(k8s.ROLLOUT, rec.on_event, on_sync=rec.on_sync)
    assert handle.synced.wait(5)
    port = server.port
    server.stop()
    time.sleep(2)
    server.apply(rollout("while-down"))  # storage outlives the process, like etcd
    server.start()
    assert server.port == port
    wait_for(lambda: ("ADDED", "while-down") in rec.names(), timeout=8)
    # Backoff: 0.2 s doubling, so a couple of seconds down cost a handful of attempts.
    assert 2 <= handle.errors <= 8
    assert handle.lists == 1  # the history survived, so it resumed without a relist
    since = time.monotonic()
    server.apply(rollout("after"))
    wait_for(lambda: ("ADDED", "after") in rec.names())
    assert server.count(verb="list", since=since) == 0


def test_failing_reports_an_outage_and_a_working_stream_resets_the_backoff(
        watches: Watches, server: Emulator) -> None:
    rec = Recorder()
    handle = watches.start(k8s.ROLLOUT, rec.on_event, on_sync=rec.on_sync)
    assert handle.synced.wait(5)
    assert handle.failing is None
    server.stop()
    wait_for(lambda: handle.errors >= 4, timeout=10)  # the next delay is now >= 2.5 s
    assert "unreachable" in (handle.failing or ""), handle.failing
    server.start()
    wait_for(lambda: handle.failing is None, timeout=10)
    time.sleep(1.2)  # the new stream works for more than a second, delivering nothing
    errors = handle.errors
    server.drop_watches()
    server.apply(rollout("after-cut"))
    wait_for(lambda: ("ADDED", "after-cut") in rec.names(), timeout=8)
    # Resumed at once: the cut of a stream that worked is not one more failure on
    # top of the outage's backoff.
    assert handle.errors == errors
    assert handle.failing is None


def test_stop_ends_the_watch_promptly(watches: Watches, server: Emulator) -> None:
    handle = watches.start(k8s.ROLLOUT, lambda t, o: None)
    assert handle.synced.wait(5)
    wait_for(lambda: server.watchers() == 1)
    time.sleep(0.2)  # idle: the thread is blocked reading the stream
    started = time.monotonic()
    watches.stop.set()
    assert handle.join(2)
    assert time.monotonic() - started < 1.0
    wait_for(lambda: server.watchers() == 0, timeout=2)


def test_stop_during_backoff(watches: Watches, server: Emulator) -> None:
    server.stop()
    handle = watches.start(k8s.ROLLOUT, lambda t, o: None)
    wait_for(lambda: handle.errors >= 2)
    started = time.monotonic()
    watches.stop.set()
    assert handle.join(2)
    assert time.monotonic() - started < 1.0
    assert not handle.synced.is_set()


def test_a_failing_callback_does_not_end_the_watch(watches: Watches, server: Emulator,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def flaky(type_: str, obj: Obj) -> None:
        seen.append(obj["metadata"]["name"])
        if obj["metadata"]["name"] == "bad":
            raise RuntimeError("boom")

    handle = watches.start(k8s.ROLLOUT, flaky)
    assert handle.synced.wait(5)
    server.apply(rollout("bad"))
    server.apply(rollout("good"))
    wait_for(lambda: seen == ["bad", "good"])
    assert "callback" in caplog.text and "boom" in caplog.text


def test_backoff_doubles_to_the_cap_with_jitter() -> None:
    low = backoff.Attempts(backoff.WATCHES, rand=lambda: 0.0)
    assert [round(low.delay(), 3) for _ in range(4)] == [0.16, 0.32, 0.64, 1.28]
    high = backoff.Attempts(backoff.WATCHES, rand=lambda: 0.999999)
    delays = [high.delay() for _ in range(12)]
    assert max(delays) == 30.0 and delays[0] < 0.25
    high.reset()
    assert high.delay() < 0.25
