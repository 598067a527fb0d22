"""deploy/shards/: the main instance plus one Deployment and Lease per shard.

From the files alone: every shardN/ directory is listed, names its own shard in its
selector, suffix and Lease. Rendered with ``kubectl kustomize`` (where kubectl
exists): every Deployment owns a disjoint set of Rollouts (the main one those without
the label), selects only its own pods (Deployment, Service, PodDisruptionBudget),
elects on its own Lease that its Role grants, and is otherwise the base Deployment;
the shared objects come once.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from reconciler.core import selectors, shards
from reconciler.interfaces.settings import LeaderSettings

ROOT = Path(__file__).resolve().parents[2]
SHARDS = ROOT / "deploy" / "shards"
SELECTOR = "RECONCILER_WATCH_LABEL_SELECTOR"
SHARED = {"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole",
          "ClusterRoleBinding", "ConfigMap"}


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def shard_dirs() -> list[Path]:
    return sorted(p.parent for p in SHARDS.glob("shard[0-9]*/kustomization.yaml"))


def test_every_shard_directory_names_its_own_shard_everywhere() -> None:
    top = load(SHARDS / "kustomization.yaml")
    dirs = shard_dirs()
    assert len(dirs) >= 2
    assert top["resources"] == ["../base", *(d.name for d in dirs)]
    for d in dirs:
        k = load(d / "kustomization.yaml")
        assert k["resources"] == ["../../base"] and k["components"] == ["../shard"]
        assert k["nameSuffix"] == f"-{d.name}"
        text = (d / "kustomization.yaml").read_text()
        selector = f"{shards.KEY}={d.name}"
        assert f"value: {selector}\n" in text
        assert f"[{shards.lease_name(selector)}]" in text  # the Role's resourceNames
        others = {o.name for o in dirs} - {d.name}
        assert not any(o in text for o in others), f"{d.name} names another shard"


def render() -> list[dict[str, Any]]:
    proc = subprocess.run(["kubectl", "kustomize", str(SHARDS)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return [d for d in YAML(typ="safe").load_all(proc.stdout) if d]


def env_of(deployment: dict[str, Any]) -> dict[str, str]:
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", "") for e in c.get("env", [])}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_the_sharded_install_renders_one_owner_per_rollout_and_one_lease_per_owner() -> None:
    docs = render()
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
        assert d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "reconciler"
    crds = len(list((ROOT / "schemas" / "crds").glob("*.kuberik.com.yaml")))
    for kind in SHARED:
        expected = crds if kind == "CustomResourceDefinition" else 1
        assert len(by_kind[kind]) == expected, kind
    deployments = {d["metadata"]["name"]: d for d in by_kind["Deployment"]}
    names = {"reconciler", *(f"reconciler-{p.name}" for p in shard_dirs())}
    assert set(deployments) == names

    # Every Rollout has exactly one owner: the main instance those without the label.
    owners = {n: shards.parse(env_of(d)[SELECTOR]) for n, d in deployments.items()}
    for labels, owner in [({}, "reconciler"), ({"team": "web"}, "reconciler"),
                          *(({shards.KEY: p.name}, f"reconciler-{p.name}")
                            for p in shard_dirs())]:
        owning = [n for n, sel in owners.items() if sel and selectors.matches(sel, labels)]
        assert owning == [owner], (labels, owning)

    # Each Deployment, Service and PDB selects the pods of one Deployment only.
    pods = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}
    selecting = [(d["kind"], d["metadata"]["name"], d["spec"]["selector"].get("matchLabels",
                                                                             d["spec"]["selector"]))
                 for d in [*by_kind["Deployment"], *by_kind["Service"],
                           *by_kind["PodDisruptionBudget"]]]
    for kind, name, sel in selecting:
        matched = [n for n, labels in pods.items() if sel.items() <= labels.items()]
        assert matched == [name], (kind, name, matched)

    # One Lease each, granted by the Role bound to its ServiceAccount.
    leases = {n: LeaderSettings().lease(env_of(d)[SELECTOR]) for n, d in deployments.items()}
    assert len(set(leases.values())) == len(leases)
    roles = {r["metadata"]["name"]: r for r in by_kind["Role"]}
    granted = set()
    for binding in by_kind["RoleBinding"]:
        role = roles[binding["roleRef"]["name"]]
        assert binding["subjects"][0]["name"] == "reconciler"
        for rule in role["rules"]:
            if "update" in rule["verbs"]:
                granted |= set(rule["resourceNames"])
    assert set(leases.values()) == granted

    # Otherwise every shard runs the main instance's pod, whatever the base becomes.
    def generic(d: dict[str, Any]) -> dict[str, Any]:
        spec = copy.deepcopy(d["spec"]["template"]["spec"])
        spec.pop("affinity")
        spec["containers"][0]["env"] = [e for e in spec["containers"][0]["env"]
                                        if e["name"] != SELECTOR]
        return spec

    main = generic(deployments["reconciler"])
    for name, d in deployments.items():
        assert generic(d) == main, name
        assert d["spec"]["replicas"] == deployments["reconciler"]["spec"]["replicas"]

    # deploy/flux-events lets every reconciler pod post Flux events.
    (policy,) = [d for d in YAML(typ="safe").load_all(
        (ROOT / "deploy" / "flux-events" / "networkpolicy.yaml").read_text()) if d]
    allowed = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert all(allowed.items() <= labels.items() for labels in pods.values())
