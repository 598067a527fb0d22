"""The cluster adapter's writes against the API emulator over loopback (status patches,
Events, the annotation that asks Flux to fetch) and its errors: every API error
becomes one of the project's, permanent or transient, naming the verb and resource
and never the token. Failures are produced by the emulator, never by patching the
client.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.adapters import cluster as k8s
from reconciler.emulator import Emulator
from reconciler.errors import (
    ClusterError,
    ClusterForbidden,
    ClusterInvalid,
    ClusterNotFound,
    ConflictError,
    PermanentError,
    TransientError,
)
from tests.integration.clusterworld import NS, rollout
from tests.support import secretscan

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


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
    right = secretscan.register("right-token", "API server token (test_cluster_adapter_writes.py)")
    wrong = secretscan.register("wrong-token-12345", "wrong API server token "
                                "(test_cluster_adapter_writes.py)")
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
