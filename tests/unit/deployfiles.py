"""deploy/ read as data, for the install-surface tests (test_deploy_*.py): the base
manifests listed in its kustomization, one object by kind and name, the Deployment's
pod and container, the environment the container gets, and the settings deploy/
gives ``reconciler run`` (its ConfigMap and RECONCILER_ variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "base"  # the manifests; deploy/ and deploy/shards/ build on them
NAMESPACE = "reconciler-system"
USER = 65532


def load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in YAML(typ="safe").load_all(path.read_text(encoding="utf-8")) if d]


def manifests() -> list[dict[str, Any]]:
    listed = YAML(typ="safe").load((BASE / "kustomization.yaml").read_text())["resources"]
    return [doc for name in listed if not name.startswith("..")
            for doc in load_all(BASE / name)]


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in manifests() if d["kind"] == kind
             and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''} in deploy/, found {len(found)}"
    return found[0]


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = one("Deployment")["spec"]["template"]["spec"]
    return spec


def container() -> dict[str, Any]:
    (c,) = pod_spec()["containers"]
    assert isinstance(c, dict)
    return c


def env_values() -> dict[str, str]:
    """The container's environment; a field reference stands for its value in the pod."""
    fields = {"metadata.namespace": NAMESPACE, "metadata.name": "reconciler-6d4f9-x2x7q"}
    return {e["name"]: e["value"] if "value" in e
            else fields[e["valueFrom"]["fieldRef"]["fieldPath"]]
            for e in container().get("env", [])}


def settings() -> dict[str, str]:
    configmap = one("ConfigMap", "reconciler-config")["data"]
    out = {**configmap, **{k: v for k, v in env_values().items()
                           if k.startswith("RECONCILER_")}}
    assert all(isinstance(v, str) for v in out.values()), "ConfigMap values must be strings"
    return out
