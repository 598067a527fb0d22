"""The install surface, deploy/'s manifests: every manifest is listed and loads; the
Deployment carries the security settings docs/install.md promises (non-root, read-only
root filesystem, no capabilities, writable paths on volumes, credentials as files);
the Service; and `kubectl kustomize` renders deploy/ (where kubectl exists).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.unit.deployfiles import (
    BASE,
    DEPLOY,
    NAMESPACE,
    USER,
    container,
    env_values,
    manifests,
    one,
    pod_spec,
)

# -- the manifests ---------------------------------------------------------------


def test_every_manifest_is_listed_and_loads() -> None:
    assert YAML(typ="safe").load((DEPLOY / "kustomization.yaml").read_text())[
        "resources"] == ["base"]
    assert {p.name for p in DEPLOY.glob("*.yaml")} == {"kustomization.yaml"}
    listed = YAML(typ="safe").load((BASE / "kustomization.yaml").read_text())["resources"]
    files = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert files == {n for n in listed if not n.startswith("..")}
    kinds = sorted(d["kind"] for d in manifests())
    assert kinds == sorted(["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                            "Role", "RoleBinding", "ConfigMap", "Deployment", "Service",
                            "PodDisruptionBudget"])
    for doc in manifests():
        if doc["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]


def test_namespace_enforces_restricted_pod_security() -> None:
    labels = one("Namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_deployment_shape() -> None:
    deployment = one("Deployment", "reconciler")
    assert deployment["spec"]["replicas"] == 2
    c = container()
    assert c["image"] == "ghcr.io/reconciler/reconciler:0.1.0"
    assert c["args"] == ["run"] and "command" not in c  # the image's ENTRYPOINT
    assert pod_spec()["serviceAccountName"] == one("ServiceAccount")["metadata"]["name"]
    assert pod_spec().get("automountServiceAccountToken", True) is True  # it talks to the API
    (port,) = c["ports"]
    assert (port["name"], port["containerPort"]) == ("http", 8080)
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind]), kind
    env = env_values()
    assert env["RECONCILER_HTTP_ADDRESS"].rsplit(":", 1)[1] == str(port["containerPort"])
    # More than one replica is only safe with leader election on.
    assert env["RECONCILER_LEADER_ELECT"] == "true"
    assert env["RECONCILER_LEADER_ELECTION_NAMESPACE"] == NAMESPACE


def test_pod_and_container_security() -> None:
    pod = pod_spec()
    sc = pod["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == USER
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    for forbidden in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(forbidden)
    assert not any("hostPath" in v for v in pod["volumes"])
    csc = container()["securityContext"]
    assert csc["runAsNonRoot"] is True and csc.get("runAsUser", USER) == USER
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc.get("privileged", False) is False
    assert csc["capabilities"] == {"drop": ["ALL"]}
    assert csc["seccompProfile"] == {"type": "RuntimeDefault"}


def test_writable_paths_are_volumes_and_credentials_are_files() -> None:
    volumes = {v["name"]: v for v in pod_spec()["volumes"]}
    mounts = {m["mountPath"]: m for m in container()["volumeMounts"]}
    for path, mount in mounts.items():
        source = volumes[mount["name"]]
        if not mount.get("readOnly"):
            assert "emptyDir" in source, f"{path}: writable mounts must be emptyDir volumes"
    env = env_values()

    def volume_at(path: str) -> dict[str, Any]:
        parents = [m for m in mounts if path == m or path.startswith(m.rstrip("/") + "/")]
        assert parents, f"{path} is on the read-only root filesystem"
        result: dict[str, Any] = volumes[mounts[max(parents, key=len)]["name"]]
        return result

    for writable in (env["RECONCILER_CACHE_DIR"], env["HOME"], "/tmp"):
        assert "emptyDir" in volume_at(writable), writable
    for var in ("RECONCILER_GIT_SSH_KEY", "RECONCILER_GIT_KNOWN_HOSTS"):
        secret = volume_at(env[var])["secret"]
        assert Path(env[var]).name in {i["path"] for i in secret["items"]}, var
        assert not secret.get("optional"), f"{var}: without it the daemon cannot start"
    for mount in mounts.values():
        secret = volumes[mount["name"]].get("secret")
        if secret:
            # readable by group 65532 (fsGroup), not by others, writable by nobody
            assert mount["readOnly"] is True and secret["defaultMode"] == 0o440, mount
    assert pod_spec()["securityContext"]["fsGroup"] == USER
    # Secrets reach the pod as files only: no env var is filled from a Secret.
    for e in container().get("env", []):
        assert "secretKeyRef" not in e.get("valueFrom", {}), e["name"]
    assert all("secretRef" not in src for src in container().get("envFrom", []))


def test_service_serves_http_on_80() -> None:
    service = one("Service", "reconciler")
    (port,) = service["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (80, "http")
    template = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= template.items()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_renders_deploy() -> None:
    proc = subprocess.run(["kubectl", "kustomize", str(DEPLOY)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in YAML(typ="safe").load_all(proc.stdout) if d]
    kinds = [d["kind"] for d in docs]
    assert kinds.count("CustomResourceDefinition") == 5
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"} \
        == {"rollouts.kuberik.com", "healthchecks.kuberik.com", "rolloutgates.kuberik.com",
            "rolloutschedules.kuberik.com", "clusterrolloutschedules.kuberik.com"}
    assert len(docs) == len(manifests()) + 5
    for d in docs:
        assert d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "reconciler"
    for d in docs:  # nothing outside the reconciler's namespace, whatever kustomize did
        assert d["metadata"].get("namespace", NAMESPACE) == NAMESPACE
