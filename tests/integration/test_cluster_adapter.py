"""The cluster adapter and the informer store against the API emulator over loopback.

``Cluster`` is connected through a kubeconfig the emulator writes, exactly as the
daemon connects to a real cluster; failures are produced by the emulator (stopped,
paused, compacted, injected errors), never by patching the client.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.adapters import cluster as k8s
from reconciler.adapters.clusterwatch import WatchHandle
from reconciler.core import backoff
from reconciler.emulator import Emulator
from reconciler.engine.informers import Store
from reconciler.errors import (
    ClusterConfigError,
    ClusterError,
    ClusterForbidden,
    ClusterInvalid,
    ClusterNotFound,
    ConflictError,
    PermanentError,
    TransientError,
)
from tests.support import secretscan

NS = "apps"
ROOT = Path(__file__).resolve().parents[2]
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
Obj = dict[str, Any]


@pytest.fixture
def server() -> Iterator[Emulator]:
    with Emulator(bookmark_interval=0.2) as emu:
        yield emu


@pytest.fixture
def kubeconfig(server: Emulator, tmp_path: Path) -> Path:
    return server.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def cluster(kubeconfig: Path) -> Iterator[k8s.Cluster]:
    with k8s.Cluster.connect(kubeconfig=kubeconfig) as c:
        yield c


class Watches:
    """Starts watches for a test and stops and joins them at the end."""

    def __init__(self, cluster: k8s.Cluster) -> None:
        self.cluster = cluster
        self.stop = threading.Event()
        self.handles: list[WatchHandle] = []

    def start(self, kind: k8s.Kind, on_event: Callable[[str, Obj], None],
              **kwargs: Any) -> WatchHandle:
        handle = self.cluster.watch(kind, on_event, stop=self.stop, **kwargs)
        self.handles.append(handle)
        return handle

    def close(self) -> None:
        self.stop.set()
        for h in self.handles:
            assert h.join(5), f"watch of {h.kind} did not stop"


@pytest.fixture
def watches(cluster: k8s.Cluster) -> Iterator[Watches]:
    w = Watches(cluster)
    yield w
    w.close()


def rollout(name: str, ns: str = NS, *, labels: dict[str, str] | None = None,
            status: Obj | None = None, **spec: Any) -> Obj:
    obj: Obj = {"apiVersion": "kuberik.com/v1alpha1", "kind": "Rollout",
                "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
                "spec": spec or {"bakeTime": "5m"}}
    if status is not None:
        obj["status"] = status
    return obj


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class Recorder:
    """Collects watch callbacks, thread-safely."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, str, str]] = []
        self.syncs: list[list[str]] = []

    def on_event(self, type_: str, obj: Obj) -> None:
        with self.lock:
            self.events.append((type_, obj["metadata"]["name"],
                                obj["metadata"]["resourceVersion"]))

    def on_sync(self, items: list[Obj]) -> None:
        with self.lock:
            self.syncs.append(sorted(o["metadata"]["name"] for o in items))

    def names(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(t, n) for t, n, _ in self.events]


# -- connect -----------------------------------------------------------------------


def test_connect_reads_the_kubeconfig_and_makes_no_request(kubeconfig: Path,
                                                           server: Emulator) -> None:
    with k8s.Cluster.connect(kubeconfig=kubeconfig, namespace=NS) as c:
        assert c.host == server.url and c.namespace == NS
        assert "token" not in repr(c).lower()
    assert server.request_log == []


def test_connect_without_any_configuration_is_one_clear_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(ClusterConfigError) as caught:
        k8s.Cluster.connect()
    assert "no Kubernetes configuration" in str(caught.value)
    assert "\n" not in str(caught.value)
    with pytest.raises(ClusterConfigError, match="does not exist"):
        k8s.Cluster.connect(kubeconfig=tmp_path / "nope")
    broken = tmp_path / "broken"
    broken.write_text("apiVersion: v1\nkind: Config\n")
    with pytest.raises(ClusterConfigError, match="broken"):
        k8s.Cluster.connect(kubeconfig=broken)


def test_in_cluster_first_then_kubeconfig(kubeconfig: Path, server: Emulator,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # In a "pod" whose service account files are missing, $KUBECONFIG still works...
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    with k8s.Cluster.connect() as c:
        assert c.host == server.url
    # ...and without it the error says why in-cluster configuration failed.
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig.parent / "missing"))
    with pytest.raises(ClusterConfigError, match="in-cluster configuration failed"):
        k8s.Cluster.connect()


# -- reads -------------------------------------------------------------------------


def test_list_and_get(cluster: k8s.Cluster, server: Emulator) -> None:
    server.apply(rollout("web", labels={"tier": "web"}))
    server.apply(rollout("db", labels={"tier": "db"}))
    server.apply(rollout("web", "staging", labels={"tier": "web"}))
    items, rv = cluster.list(k8s.ROLLOUT)
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in items] == [
        ("apps", "db"), ("apps", "web"), ("staging", "web")]
    assert rv == server.resource_version
    web, _ = cluster.list(k8s.ROLLOUT, namespace=NS, label_selector="tier=web")
    assert [o["metadata"]["name"] for o in web] == ["web"]
    by_dict, _ = cluster.list(k8s.ROLLOUT, label_selector={
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]})
    assert [o["metadata"]["name"] for o in by_dict] == ["db"]
    got = cluster.get(k8s.ROLLOUT, namespace=NS, name="web")
    assert got is not None and got["metadata"]["labels"] == {"tier": "web"}
    assert cluster.get(k8s.ROLLOUT, namespace=NS, name="missing") is None


def test_the_cluster_namespace_scopes_lists(kubeconfig: Path, server: Emulator) -> None:
    server.apply(rollout("a"))
    server.apply(rollout("b", "staging"))
    with k8s.Cluster.connect(kubeconfig=kubeconfig, namespace="staging") as c:
        items, _ = c.list(k8s.ROLLOUT)
        assert [o["metadata"]["name"] for o in items] == ["b"]


def test_core_kinds_through_the_same_api(cluster: k8s.Cluster, server: Emulator) -> None:
    server.apply({"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": "apps", "labels": {"team": "core"}}})
    server.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "infra"}})
    items, _ = cluster.list(k8s.NAMESPACE, label_selector="team=core")
    assert [(o["kind"], o["metadata"]["name"]) for o in items] == [("Namespace", "apps")]
    got = cluster.get(k8s.NAMESPACE, namespace="", name="infra")
    assert got is not None and got["metadata"]["name"] == "infra"


def test_namespaces_are_watched_like_any_kind(watches: Watches, server: Emulator) -> None:
    """A namespaceSelector follows a namespace's labels: the core group's watch (sent
    without CoreV1Api, adapters/coregroup.py) lists, then delivers the relabel."""
    server.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
    rec = Recorder()
    handle = watches.start(k8s.NAMESPACE, rec.on_event, on_sync=rec.on_sync,
                           label_selector={"matchLabels": {"team": "core"}})
    assert handle.synced.wait(5)
    assert rec.syncs == [[]]
    server.apply({"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": "apps", "labels": {"team": "core"}}})
    wait_for(lambda: len(rec.events) >= 1)
    assert rec.names() == [("ADDED", "apps")]
    assert handle.lists == 1 and handle.streams == 1


def test_core_kind_errors_name_the_resource(cluster: k8s.Cluster, server: Emulator) -> None:
    obj = server.apply(rollout("podinfo"))
    server.fail_next(403, verb="create", path="/events", message="events is forbidden")
    with pytest.raises(ClusterForbidden) as caught:
        cluster.create_event(involved=obj, type="Normal", reason="ReleaseWritten", message="x")
    assert str(caught.value).startswith('cannot create events "apps/podinfo.')
    assert "RBAC does not allow create on events (events is forbidden) [403]" in str(caught.value)
    with pytest.raises(ClusterNotFound):
        cluster.patch_status(k8s.NAMESPACE, namespace="", name="nowhere", status={"a": 1})


def test_the_daemon_does_not_load_corev1api(kubeconfig: Path, server: Emulator,
                                            tmp_path: Path) -> None:
    """kubernetes 37's CoreV1Api module imports ~250 model modules as it loads, 21 MiB
    of the daemon's resident memory for the two core kinds it uses (docs/performance.md,
    "Daemon latency"). The daemon's modules, a list, a watch and an Event, in a fresh
    process, leave it unloaded."""
    server.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
    server.apply(rollout("podinfo"))
    script = f"""
import sys, threading
from pathlib import Path
import reconciler.interfaces.daemon_main
from reconciler.adapters import cluster as k8s
with k8s.Cluster.connect(kubeconfig=Path({str(kubeconfig)!r})) as c:
    items, _ = c.list(k8s.NAMESPACE)
    assert [o["metadata"]["name"] for o in items] == ["apps"], items
    stop = threading.Event()
    handle = c.watch(k8s.NAMESPACE, lambda *a: None, stop=stop)
    assert handle.synced.wait(5)
    stop.set()
    assert handle.join(5)
    obj = c.get(k8s.ROLLOUT, namespace="apps", name="podinfo")
    c.create_event(involved=obj, type="Normal", reason="Probe", message="probe")
print(sorted(m for m in sys.modules if m.startswith("kubernetes.client.api.")))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["['kubernetes.client.api.custom_objects_api']"]
    assert len(server.objects("v1", "Event", namespace=NS)) == 1


# -- writes ------------------------------------------------------------------------


def test_patch_status_merges_into_the_status_only(cluster: k8s.Cluster,
                                                  server: Emulator) -> None:
    server.apply(rollout("podinfo", status={"history": [], "observedGeneration": 1}))
    updated = cluster.patch_status(k8s.ROLLOUT, namespace=NS, name="podinfo",
                                   status={"availableReleases": ["6.5.0"]})
    assert updated["status"] == {"history": [], "observedGeneration": 1,
                                 "availableReleases": ["6.5.0"]}
    assert updated["spec"] == {"bakeTime": "5m"}
    stored = server.get_object("kuberik.com/v1alpha1", "Rollout", namespace=NS, name="podinfo")
    assert stored == updated


def test_patch_status_with_a_stale_resource_version_is_a_conflict(
        cluster: k8s.Cluster, server: Emulator) -> None:
    old = server.apply(rollout("podinfo"))
    server.set_status("kuberik.com/v1alpha1", "Rollout", namespace=NS, name="podinfo",
                      status={"phase": "someone else"})
    with pytest.raises(ConflictError) as caught:
        cluster.patch_status(k8s.ROLLOUT, namespace=NS, name="podinfo",
                             status={"phase": "mine"},
                             resource_version=old["metadata"]["resourceVersion"])
    assert isinstance(caught.value, TransientError)
    assert "rollouts.kuberik.com" in str(caught.value) and "apps/podinfo" in str(caught.value)
    fresh = cluster.get(k8s.ROLLOUT, namespace=NS, name="podinfo")
    assert fresh is not None
    done = cluster.patch_status(k8s.ROLLOUT, namespace=NS, name="podinfo",
                                status={"phase": "mine"},
                                resource_version=fresh["metadata"]["resourceVersion"])
    assert done["status"] == {"phase": "mine"}


def test_patch_status_of_a_missing_object(cluster: k8s.Cluster) -> None:
    with pytest.raises(ClusterNotFound):
        cluster.patch_status(k8s.ROLLOUT, namespace=NS, name="gone", status={"a": 1})


def test_create_event(cluster: k8s.Cluster, server: Emulator) -> None:
    obj = server.apply(rollout("podinfo"))
    cluster.create_event(involved=obj, type="Warning", reason="ReleaseReverted",
                         message="6.5.0 failed its bake")
    cluster.create_event(involved=obj, type="Normal", reason="ReleaseWritten",
                         message="6.4.0 -> 6.5.0", action="Release")
    events = server.objects("v1", "Event", namespace=NS)
    assert len(events) == 2
    by_reason = {e["reason"]: e for e in events}
    event = by_reason["ReleaseReverted"]
    assert event["metadata"]["name"].startswith("podinfo.")
    assert event["involvedObject"] == {
        "apiVersion": "kuberik.com/v1alpha1", "kind": "Rollout", "name": "podinfo",
        "namespace": NS, "uid": obj["metadata"]["uid"],
        "resourceVersion": obj["metadata"]["resourceVersion"]}
    assert event["type"] == "Warning" and event["message"] == "6.5.0 failed its bake"
    assert event["count"] == 1 and event["firstTimestamp"] and event["lastTimestamp"]
    assert event["reportingComponent"] == "reconciler"
    assert event["source"] == {"component": "reconciler"}
    assert by_reason["ReleaseWritten"]["action"] == "Release"


def test_annotate_asks_flux_to_fetch(cluster: k8s.Cluster, server: Emulator) -> None:
    server.apply({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                  "metadata": {"name": "flux-system", "namespace": "flux-system",
                               "annotations": {"keep": "me"}},
                  "spec": {"interval": "1m"}})
    cluster.annotate(k8s.GITREPOSITORY, namespace="flux-system", name="flux-system",
                     annotations={REQUESTED_AT: "2024-05-01T10:00:00Z"})
    repo = server.get_object("source.toolkit.fluxcd.io/v1", "GitRepository",
                             namespace="flux-system", name="flux-system")
    assert repo is not None
    assert repo["metadata"]["annotations"] == {"keep": "me",
                                               REQUESTED_AT: "2024-05-01T10:00:00Z"}
    assert repo["metadata"]["generation"] == 1  # metadata only: Flux sees no spec change


# -- errors ------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "error", "permanent"), [
    (401, ClusterForbidden, True),
    (403, ClusterForbidden, True),
    (422, ClusterInvalid, True),
    (409, ConflictError, False),
    (429, ClusterError, False),
    (500, ClusterError, False),
    (503, ClusterError, False),
])
def test_api_errors_become_project_errors(cluster: k8s.Cluster, server: Emulator, code: int,
                                          error: type[Exception], permanent: bool) -> None:
    server.apply(rollout("podinfo"))
    server.fail_next(code, verb="patch")
    with pytest.raises(error) as caught:
        cluster.patch_status(k8s.ROLLOUT, namespace=NS, name="podinfo", status={"a": 1})
    assert isinstance(caught.value, PermanentError) is permanent
    message = str(caught.value)
    assert "patch" in message and "rollouts.kuberik.com" in message and f"[{code}]" in message
    assert isinstance(caught.value.__cause__, Exception)


def test_forbidden_names_verb_and_resource_and_never_the_token(tmp_path: Path) -> None:
    right = secretscan.register("right-token", "API server token (test_cluster_adapter.py)")
    wrong = secretscan.register("wrong-token-12345", "wrong API server token "
                                "(test_cluster_adapter.py)")
    with Emulator(token=right) as emu:
        config = emu.write_kubeconfig(tmp_path / "kc", token=wrong)
        with k8s.Cluster.connect(kubeconfig=config) as c:
            with pytest.raises(ClusterForbidden) as caught:
                c.list(k8s.HEALTHCHECK, namespace=NS)
            assert "cannot list healthchecks.kuberik.com in namespace apps" in str(caught.value)
            assert "wrong-token-12345" not in str(caught.value)
            assert "wrong-token-12345" not in repr(caught.value.__cause__)


def test_an_unreachable_server_is_transient(cluster: k8s.Cluster, server: Emulator) -> None:
    server.stop()
    with pytest.raises(ClusterError) as caught:
        cluster.get(k8s.ROLLOUT, namespace=NS, name="podinfo")
    assert server.url in str(caught.value) and "unreachable" in str(caught.value)


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


# -- the informer store, fed by a real watch ------------------------------------------


def test_store_mirrors_the_cluster_and_reports_changes(watches: Watches,
                                                       server: Emulator) -> None:
    server.apply(rollout("web", labels={"tier": "web"}))
    changes: list[tuple[str | None, str | None]] = []
    lock = threading.Lock()

    def on_change(kind: k8s.Kind, old: Obj | None, new: Obj | None) -> None:
        assert kind is k8s.ROLLOUT
        with lock:
            changes.append(((old or {}).get("metadata", {}).get("name"),
                            (new or {}).get("metadata", {}).get("name")))

    store = Store(k8s.ROLLOUT, on_change=on_change)
    watches.start(k8s.ROLLOUT, store.on_event, on_sync=store.on_sync)
    assert store.synced.wait(5)
    assert changes == [(None, "web")]
    server.apply(rollout("db", "data", labels={"tier": "db"}))
    server.set_status("kuberik.com/v1alpha1", "Rollout", namespace=NS, name="web",
                      status={"phase": "Baking"})
    wait_for(lambda: len(changes) == 3)
    assert changes[1:] == [(None, "db"), ("web", "web")]
    web = store.get(NS, "web")
    assert web is not None and web["status"] == {"phase": "Baking"}
    assert [o["metadata"]["name"] for o in store.list()] == ["web", "db"]  # apps/, data/
    assert [o["metadata"]["name"] for o in store.list(NS)] == ["web"]
    assert [o["metadata"]["name"] for o in store.list(label_selector={
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]})] == ["db"]
    web["status"]["phase"] = "mutated by a caller"
    assert store.get(NS, "web")["status"] == {"phase": "Baking"}  # type: ignore[index]
    server.delete_object("kuberik.com/v1alpha1", "Rollout", namespace="data", name="db")
    wait_for(lambda: len(changes) == 4)
    assert changes[3] == ("db", None) and store.get("data", "db") is None


def test_store_relist_reports_what_vanished(watches: Watches, server: Emulator) -> None:
    for name in ("stays", "changes", "goes"):
        server.apply(rollout(name))
    changes: list[tuple[str | None, str | None]] = []
    store = Store(k8s.ROLLOUT, on_change=lambda kind, old, new: changes.append(
        ((old or {}).get("metadata", {}).get("name"), (new or {}).get("metadata", {}).get(
            "name"))))
    handle = watches.start(k8s.ROLLOUT, store.on_event, on_sync=store.on_sync)
    assert store.synced.wait(5)
    changes.clear()
    server.pause()
    server.delete_object("kuberik.com/v1alpha1", "Rollout", namespace=NS, name="goes")
    server.apply(rollout("changes", bakeTime="1h"))
    server.compact()
    server.resume()
    wait_for(lambda: handle.lists == 2 and len(changes) == 2)
    assert sorted(changes, key=str) == [("changes", "changes"), ("goes", None)]
    assert sorted(o["metadata"]["name"] for o in store.list()) == ["changes", "stays"]


def test_store_ignores_replays_and_unknown_deletions() -> None:
    changes: list[tuple[Obj | None, Obj | None]] = []
    store = Store(k8s.ROLLOUT, on_change=lambda kind, old, new: changes.append((old, new)))
    obj = rollout("a")
    obj["metadata"]["resourceVersion"] = "7"
    store.on_event("ADDED", obj)
    store.on_event("MODIFIED", obj)  # same resourceVersion: a replay, not a change
    store.on_event("DELETED", rollout("never-seen"))
    store.on_event("BOOKMARK", obj)
    assert changes == [(None, obj)]
    assert not store.synced.is_set() and len(store) == 1
