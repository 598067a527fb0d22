"""Security review, RBAC: what the reconciler may do in the cluster. The verbs each
``Cluster`` method needs are derived from the kubernetes client calls in
reconciler/adapters/cluster.py and compared with tests/unit/test_deploy_rbac.py's
table, whose checks must fail when a rule is added to deploy/ or the code calls
something new. (The review's points and which test covers each are listed in
docs/reliability.md.)
"""

from __future__ import annotations

import ast
import copy
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.adapters import cluster
from tests.unit import deployfiles
from tests.unit import test_deploy_rbac as deploy_checks

# The first word of a kubernetes client method, as the RBAC verb it needs.
CLIENT_VERBS = {"list": "list", "get": "get", "read": "get", "create": "create",
                "replace": "update", "patch": "patch", "delete": "delete",
                # adapters/coregroup.CoreGroup, the core group's endpoints
                "lister": "list", "reader": "get", "creator": "create", "patcher": "patch"}


def _client_verb(method: str) -> str:
    verb = CLIENT_VERBS.get(method.split("_", 1)[0], f"unknown client call {method}")
    return verb + ("/status" if method.endswith("_status") else "")


def cluster_method_verbs(source: str) -> dict[str, set[str]]:
    """Public ``Cluster`` method -> the RBAC verbs of the kubernetes client calls it makes
    (``patch/status`` for the status subresource), following the private helpers it
    calls. Read from the adapter's source."""
    tree = ast.parse(source)
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Cluster"]
    methods = {f.name: f for f in cls.body if isinstance(f, ast.FunctionDef)}

    def is_api(node: ast.AST) -> bool:  # self._custom or self._core
        return (isinstance(node, ast.Attribute) and node.attr in ("_custom", "_core")
                and isinstance(node.value, ast.Name) and node.value.id == "self")

    def direct(fn: ast.FunctionDef) -> tuple[set[str], set[str]]:
        verbs: set[str] = set()
        calls: set[str] = set()
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and is_api(node.func.value) and node.func.attr == "patcher":
                # CoreGroup.patcher(plural, namespace, name, "status"): the subresource
                sub = [a.value for a in node.args[3:] if isinstance(a, ast.Constant)]
                verbs.add("patch" + ("/status" if sub == ["status"] else ""))
            elif isinstance(node, ast.Attribute) and is_api(node.value):
                if node.attr != "patcher":  # its Call says which (above)
                    verbs.add(_client_verb(node.attr))
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "self" and node.attr in methods:
                calls.add(node.attr)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                args = node.args
                if node.func.id == "_core_method":  # "read" + kind [+ "_status"]
                    parts = [a.value for a in args if isinstance(a, ast.Constant)]
                    verbs.add(_client_verb("_".join(str(p) for p in parts)))
                elif node.func.id == "getattr" and args and is_api(args[0]) \
                        and isinstance(args[1], ast.JoinedStr):
                    first = args[1].values[0]
                    assert isinstance(first, ast.Constant)
                    verbs.add(_client_verb(str(first.value)))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "Watcher":  # streams the list call, watch=True
                verbs.add("watch")
        return verbs, calls

    found = {name: direct(fn) for name, fn in methods.items()}

    def closure(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        verbs, calls = found[name]
        return verbs.union(*(closure(c, seen | {name}) for c in calls if c not in seen))

    return {name: closure(name) for name in methods if not name.startswith("_")}


def rbac_derivation_gaps(source: str) -> dict[str, tuple[set[str], set[str]]]:
    """Where test_deploy_rbac's map of Cluster methods to verbs (``VERBS``, and a watched Kind
    granted ``READ``) differs from what the adapter's source calls: method ->
    (derived, assumed)."""
    assumed = {m: {verb + ("/status" if m == "patch_status" else "")}
               for m, verb in deploy_checks.VERBS.items()}
    assumed["watch"] = set(deploy_checks.READ)  # informer Kinds get READ in test_deploy_rbac
    assumed["create_event"] = {"create"}  # core/v1 events, by name in test_deploy_rbac
    derived = {m: v for m, v in cluster_method_verbs(source).items() if v}
    return {m: (derived.get(m, set()), assumed.get(m, set()))
            for m in derived.keys() | assumed.keys()
            if derived.get(m, set()) != assumed.get(m, set())}


def test_rbac_verbs_of_every_cluster_method_are_derived_from_its_client_calls() -> None:
    source = Path(cluster.__file__).read_text(encoding="utf-8")
    assert rbac_derivation_gaps(source) == {}
    assert cluster_method_verbs(source)["create_event"] == {"create"}
    assert {m for m, v in cluster_method_verbs(source).items() if v} >= {
        "get", "list", "watch", "patch_status", "create", "replace", "annotate"}


def test_rbac_derivation_notices_a_new_kind_of_api_call() -> None:
    source = Path(cluster.__file__).read_text(encoding="utf-8")
    mutated = source.replace("    # -- plumbing ", textwrap.indent(textwrap.dedent("""\
        def delete(self, kind: Kind, *, namespace: str, name: str) -> None:
            self._call("delete", kind, name, self._custom.delete_namespaced_custom_object,
                       *_custom_args(kind, namespace, name))

        """), "    ") + "    # -- plumbing ", 1)
    assert mutated != source
    assert rbac_derivation_gaps(mutated) == {"delete": ({"delete"}, set())}
    sneaky = source.replace("self._custom.patch_namespaced_custom_object_status",
                            "self._custom.replace_namespaced_custom_object_status")
    assert rbac_derivation_gaps(sneaky) == {
        "patch_status": ({"patch/status", "update/status"}, {"patch/status"})}


def test_lease_role_grants_exactly_what_leader_election_calls() -> None:
    """test_deploy_rbac checks the calls are a subset of the Role; this closes the other
    direction: a Lease verb the code stopped using must leave the Role too."""
    used = {u for u in deploy_checks.daemon_uses() if u[0] == "coordination.k8s.io"}
    role = deploy_checks.one("Role", "reconciler-leader-election")
    assert deploy_checks.grants(role) == used


def _add_rule(kind: str, rule: dict[str, Any]) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(docs: list[dict[str, Any]]) -> None:
        next(d for d in docs if d["kind"] == kind)["rules"].append(rule)
    return mutate


def _edit_rule(kind: str, resource: str, **changes: Any,
               ) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(docs: list[dict[str, Any]]) -> None:
        role = next(d for d in docs if d["kind"] == kind)
        rule = next(r for r in role["rules"] if resource in r["resources"]
                    and "resourceNames" in r) if kind == "Role" else \
            next(r for r in role["rules"] if resource in r["resources"])
        for key, value in changes.items():
            if value is None:
                rule.pop(key, None)
            else:
                rule[key] = value
    return mutate


CLUSTER_ROLE_CHECKS = ("test_cluster_role_grants_exactly_the_table",
                       "test_no_secrets_anywhere_in_rbac")
LEASE_ROLE_CHECKS = ("test_lease_role_is_namespaced_and_minimal",)


@pytest.mark.parametrize(("mutate", "checks"), [
    (_add_rule("ClusterRole", {"apiGroups": ["apps"], "resources": ["deployments"],
                               "verbs": ["get"]}), CLUSTER_ROLE_CHECKS),
    (_add_rule("ClusterRole", {"apiGroups": [""], "resources": ["secrets"],
                               "verbs": ["get"]}), CLUSTER_ROLE_CHECKS),
    (_add_rule("ClusterRole", {"apiGroups": ["kuberik.com"], "resources": ["rollouts"],
                               "verbs": ["update"]}), CLUSTER_ROLE_CHECKS),
    (_add_rule("ClusterRole", {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}),
     CLUSTER_ROLE_CHECKS),
    (_edit_rule("ClusterRole", "gitrepositories", resourceNames=None), CLUSTER_ROLE_CHECKS),
    (_edit_rule("ClusterRole", "events", verbs=["create", "delete"]), CLUSTER_ROLE_CHECKS),
    (_add_rule("Role", {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                        "verbs": ["list"]}), LEASE_ROLE_CHECKS),
    (_edit_rule("Role", "leases", resourceNames=None), LEASE_ROLE_CHECKS),
], ids=["new-resource", "secrets", "spec-update", "wildcard", "any-gitrepository",
        "delete-events", "lease-list", "any-lease"])
def test_rbac_checks_fail_when_deploy_grants_more(
        monkeypatch: pytest.MonkeyPatch, mutate: Callable[[list[dict[str, Any]]], None],
        checks: tuple[str, ...]) -> None:
    docs = copy.deepcopy(deploy_checks.manifests())
    mutate(docs)
    monkeypatch.setattr(deploy_checks, "manifests", lambda: docs)
    monkeypatch.setattr(deployfiles, "manifests", lambda: docs)  # what one() reads
    failed = []
    for name in checks:
        try:
            getattr(deploy_checks, name)()
        except (AssertionError, KeyError):  # a rule without its resourceNames: KeyError
            failed.append(name)
    assert failed, f"deploy/ granting more went unnoticed by {checks}"


def test_rbac_check_fails_when_the_daemon_calls_something_new(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    extra = tmp_path / "new_feature.py"
    extra.write_text(textwrap.dedent("""
        from reconciler.adapters import cluster as k8s

        def scale(c: k8s.Cluster) -> None:
            c.replace(k8s.ROLLOUT, namespace="apps", name="podinfo", body={})
    """))
    monkeypatch.setattr(deploy_checks, "DAEMON_SOURCES", [*deploy_checks.DAEMON_SOURCES, extra])
    with pytest.raises(AssertionError, match="rollouts"):
        deploy_checks.test_rbac_table_is_the_daemons_use()
