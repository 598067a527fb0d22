"""The API emulator's core resources, through the official kubernetes client: Events
(created and listed by involved object), Leases (updates with conflicts, as leader
election makes them) and cluster-scoped Namespaces.
"""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from reconciler.emulator import Emulator
from tests.integration.emulatorapi import GROUP, NS, VERSION

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
