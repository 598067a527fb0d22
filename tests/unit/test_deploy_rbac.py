"""The install surface, RBAC: deploy/ grants exactly what the daemon uses and nothing
touching Secrets. What the daemon uses is derived from the code (every cluster Kind
it passes to a ``Cluster`` method, or watches) and compared with a small table, so a
new API call fails here until deploy/base/rbac.yaml follows; the leader-election
Role is namespaced and limited to its Lease.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reconciler.adapters import cluster
from tests.unit.deployfiles import NAMESPACE, ROOT, manifests, one, settings

READ = ("list", "watch")  # an informer lists, then watches; nothing gets one object

# What the daemon does through reconciler/adapters/cluster.py, as RBAC rules
# (apiGroup, resource, verb). Kept small on purpose; test_rbac_table_is_the_daemons_use
# derives the same set from the code, so a new call fails here until RBAC follows.
EXPECTED_CLUSTER_RULES = {
    # informers: list + watch of every input
    *(("kuberik.com", r, v) for r in ("rollouts", "healthchecks", "rolloutgates",
                                       "rolloutschedules", "clusterrolloutschedules")
      for v in READ),
    *(("image.toolkit.fluxcd.io", "imagepolicies", v) for v in READ),  # v1 and v1beta2
    *(("kustomize.toolkit.fluxcd.io", "kustomizations", v) for v in READ),
    # whether an OCIRepository target's artifact is applied, and by which consumers
    *(("source.toolkit.fluxcd.io", "ocirepositories", v) for v in READ),
    *(("helm.toolkit.fluxcd.io", "helmreleases", v) for v in READ),
    *(("", "namespaces", v) for v in READ),  # HealthCheck namespaceSelectors
    ("kuberik.com", "rollouts/status", "patch"),  # Cluster.patch_status
    ("kuberik.com", "rolloutschedules/status", "patch"),  # deploy windows: active, ...
    ("kuberik.com", "clusterrolloutschedules/status", "patch"),
    ("", "events", "create"),  # Cluster.create_event (core/v1 Events)
    ("source.toolkit.fluxcd.io", "gitrepositories", "patch"),  # Cluster.annotate: fetch nudge
}
# Leader election, in the reconciler's own namespace only.
EXPECTED_LEASE_RULES = {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")}
# Modules that make up the deployed daemon (the demo plays Flux against the emulator
# and is not part of it).
DAEMON_SOURCES = [p for d in ("engine", "interfaces") for p in (ROOT / "reconciler" / d).glob(
    "*.py") if p.name != "demo.py"]


def grants(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


# Cluster methods and the RBAC verb each needs on the Kind passed first.
VERBS = {"get": "get", "list": "list", "watch": "watch", "create": "create",
         "replace": "update", "annotate": "patch", "patch_status": "patch"}


def _kind_uses(path: Path) -> Iterator[tuple[str, str, str]]:
    """(group, resource, verb) for every use of a cluster Kind in one source file: the
    Kind passed to a Cluster method needs that method's verb; a Kind used as data
    (the daemon's list of informer kinds) is watched, which needs list and watch."""
    kinds = {n: k for n, k in vars(cluster).items() if isinstance(k, cluster.Kind)}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases, direct = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "reconciler.adapters":
            aliases |= {a.asname or a.name for a in node.names if a.name == "cluster"}
        elif isinstance(node, ast.ImportFrom) and node.module == "reconciler.adapters.cluster":
            direct |= {a.asname or a.name for a in node.names if a.name in kinds}
        elif isinstance(node, ast.Import):
            aliases |= {a.asname for a in node.names
                        if a.name == "reconciler.adapters.cluster" and a.asname}

    def kind_of(node: ast.AST) -> cluster.Kind | None:
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in aliases and node.attr in kinds:
            return kinds[node.attr]
        if isinstance(node, ast.Name) and node.id in direct:
            return kinds[node.id]
        return None

    in_calls: set[int] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr == "create_event":
            yield "", "events", "create"
        kind = kind_of(node.args[0]) if node.args else None
        if kind is not None and node.func.attr in VERBS:
            in_calls.add(id(node.args[0]))
            resource = kind.plural + ("/status" if node.func.attr == "patch_status" else "")
            yield kind.group, resource, VERBS[node.func.attr]
    for node in ast.walk(tree):
        kind = kind_of(node)
        if kind is not None and id(node) not in in_calls:
            yield from ((kind.group, kind.plural, v) for v in READ)


def daemon_uses() -> set[tuple[str, str, str]]:
    return {use for path in DAEMON_SOURCES for use in _kind_uses(path)}


def test_rbac_table_is_the_daemons_use() -> None:
    used = {u for u in daemon_uses() if u[0] != "coordination.k8s.io"}  # the Role's
    assert used == EXPECTED_CLUSTER_RULES, (
        "the daemon's API calls changed: update deploy/base/rbac.yaml, docs/install.md and "
        f"EXPECTED_CLUSTER_RULES (missing from table: {sorted(used - EXPECTED_CLUSTER_RULES)}, "
        f"no longer used: {sorted(EXPECTED_CLUSTER_RULES - used)})")


def test_cluster_role_grants_exactly_the_table() -> None:
    role = one("ClusterRole", "reconciler")
    assert grants(role) == EXPECTED_CLUSTER_RULES
    for rule in role["rules"]:
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], rule
        assert "nonResourceURLs" not in rule
    (nudge,) = [r for r in role["rules"] if r["resources"] == ["gitrepositories"]]
    source = one("ConfigMap", "reconciler-config")["data"]["RECONCILER_FLUX_SOURCE"]
    assert nudge["resourceNames"] == [source.split("/", 1)[1]]


def test_lease_role_is_namespaced_and_minimal() -> None:
    role = one("Role", "reconciler-leader-election")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert grants(role) == EXPECTED_LEASE_RULES
    used = {u for u in daemon_uses() if u[0] == "coordination.k8s.io"}
    assert used <= EXPECTED_LEASE_RULES, sorted(used - EXPECTED_LEASE_RULES)
    from reconciler.interfaces.settings import LeaderSettings

    lease = LeaderSettings().lease(settings().get("RECONCILER_WATCH_LABEL_SELECTOR"))
    for rule in role["rules"]:
        if rule["verbs"] != ["create"]:  # create cannot be limited to a name
            assert rule["resourceNames"] == [lease], rule


def test_bindings_name_the_service_account() -> None:
    account = {"kind": "ServiceAccount", "name": "reconciler", "namespace": NAMESPACE}
    for kind, role in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        binding = one(kind)
        assert binding["subjects"] == [account]
        assert binding["roleRef"]["kind"] == role
        one(role, binding["roleRef"]["name"])


def test_no_secrets_anywhere_in_rbac() -> None:
    for doc in manifests():
        if doc["kind"] in ("ClusterRole", "Role"):
            for _group, resource, verb in grants(doc):
                assert resource.split("/")[0] != "secrets", (doc["metadata"]["name"], verb)
                assert verb not in ("escalate", "bind", "impersonate", "*")
