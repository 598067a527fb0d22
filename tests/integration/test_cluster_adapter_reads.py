"""The cluster adapter against the API emulator over loopback: connecting (through a
kubeconfig the emulator writes, exactly as the daemon connects to a real cluster, or
in-cluster first) and reading (lists, gets, namespaces, core kinds), with a daemon
that never loads the client's CoreV1Api.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.adapters import cluster as k8s
from reconciler.emulator import Emulator
from reconciler.errors import ClusterConfigError, ClusterForbidden, ClusterNotFound
from tests.integration.clusterworld import NS, Recorder, Watches, rollout, wait_for

ROOT = Path(__file__).resolve().parents[2]


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
