"""The install surface: deploy/, the Dockerfile, requirements.lock, sample-repo's install.

No container engine or cluster runs here, so these tests check what can be
checked from the files: every manifest loads; the Deployment carries the security
settings docs/install.md promises; RBAC grants exactly what the daemon uses (derived
from the code, compared with a small table) and nothing touching Secrets; every
RECONCILER_ variable the manifests set is a documented `reconciler run` option with
a value it accepts; `kubectl kustomize` renders (where kubectl exists); the image
runs `reconciler run` as a numeric non-root user with writable paths on volumes.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from ruamel.yaml import YAML

from reconciler.adapters import cluster

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "base"  # the manifests; deploy/ and deploy/shards/ build on them
NAMESPACE = "reconciler-system"
USER = 65532
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


# -- RBAC ---------------------------------------------------------------------------


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


# -- settings ---------------------------------------------------------------------


def sample_settings() -> dict[str, str]:
    """The ConfigMap data sample-repo patches in."""
    (release,) = load_all(ROOT / "sample-repo" / "infrastructure" / "reconciler" /
                          "release.yaml")
    (patch,) = release["spec"]["patches"]
    data: dict[str, str] = YAML(typ="safe").load(patch["patch"])["data"]
    return data


def settings() -> dict[str, str]:
    configmap = one("ConfigMap", "reconciler-config")["data"]
    out = {**configmap, **{k: v for k, v in env_values().items()
                           if k.startswith("RECONCILER_")}}
    assert all(isinstance(v, str) for v in out.values()), "ConfigMap values must be strings"
    return out


def test_every_reconciler_variable_is_a_documented_run_option() -> None:
    from reconciler.interfaces import settings as config

    proc = subprocess.run([sys.executable, "-m", "reconciler", "run", "--help"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    known = {group.env_name(field): group.flag(field) for group in config.RUN_GROUPS
             for field in group.model_fields}
    variables = {*settings(), *sample_settings()}
    assert {"RECONCILER_REPO", "RECONCILER_GIT_SSH_KEY", "RECONCILER_GIT_KNOWN_HOSTS",
            "RECONCILER_CACHE_DIR"} <= variables
    for var in sorted(variables):
        assert var in known, f"{var} is set in deploy/ but `reconciler run` has no such setting"
        assert var in proc.stdout and known[var] in proc.stdout, (
            f"{var} ({known[var]}) is not in `reconciler run --help`")


@pytest.mark.parametrize("source", ["deploy", "sample-repo"])
def test_run_accepts_the_settings(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The values parse as `reconciler run` parses them (types, ranges, NS/NAME)."""
    from reconciler.interfaces import settings as config

    values = settings() if source == "deploy" else {**settings(), **sample_settings()}
    for name in [n for n in os.environ if n.startswith("RECONCILER_")]:
        monkeypatch.delenv(name)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    loaded = config.RunSettings.load({})
    assert loaded.git.repo == values["RECONCILER_REPO"]
    assert str(loaded.git.cache_dir) == values["RECONCILER_CACHE_DIR"]
    assert loaded.server.log_format == "json"
    assert loaded.leader.leader_elect


# -- sample-repo: installed beside Flux ----------------------------------------------


def test_sample_repo_installs_deploy_from_a_flux_source() -> None:
    sample = ROOT / "sample-repo"
    (outer,) = load_all(sample / "clusters" / "production" / "reconciler.yaml")
    assert outer["kind"] == "Kustomization"
    assert (sample / outer["spec"]["path"] / "kustomization.yaml").is_file()
    here = sample / outer["spec"]["path"]
    listed = YAML(typ="safe").load((here / "kustomization.yaml").read_text())["resources"]
    docs = {d["kind"]: d for name in listed for d in load_all(here / name)}
    source, release = docs["GitRepository"], docs["Kustomization"]
    assert release["spec"]["sourceRef"] == {"kind": "GitRepository",
                                            "name": source["metadata"]["name"]}
    assert (ROOT / release["spec"]["path"]).resolve() == DEPLOY
    # The source's ignore rules keep everything deploy/ reads.
    kept = {line[2:] for line in source["spec"]["ignore"].splitlines()
            if line.startswith("!/")}
    needed = {"deploy", *(str((BASE / r).resolve().relative_to(ROOT)) for r in
                          YAML(typ="safe").load((BASE / "kustomization.yaml").read_text())[
                              "resources"] if r.startswith("../.."))}
    assert needed <= kept
    (patch,) = release["spec"]["patches"]
    assert patch["target"] == {"kind": "ConfigMap", "name": "reconciler-config"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_renders_sample_install() -> None:
    proc = subprocess.run(["kubectl", "kustomize",
                           str(ROOT / "sample-repo" / "infrastructure" / "reconciler")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    kinds = sorted(d["kind"] for d in YAML(typ="safe").load_all(proc.stdout) if d)
    assert kinds == ["GitRepository", "Kustomization"]


# -- the image ----------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, args = line.strip().partition(" ")
            out.append((instruction.upper(), args.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    last_from = max(i for i, (ins, _) in enumerate(steps) if ins == "FROM")
    return steps[last_from:]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for ins, args in final_stage():
        if ins == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    return env


def test_image_runs_reconciler_run_as_numeric_non_root_user() -> None:
    stage = final_stage()
    entry = [json.loads(a) for i, a in stage if i == "ENTRYPOINT"]
    cmd = [json.loads(a) for i, a in stage if i == "CMD"]
    assert entry[-1] == ["reconciler"] and cmd[-1] == ["run"]
    users = [a for i, a in stage if i == "USER"]
    assert users and re.fullmatch(r"(\d+)(:\d+)?", users[-1]), users
    assert int(users[-1].split(":")[0]) == USER
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "reconciler" in project["scripts"]
    assert "/opt/reconciler/bin" in image_env()["PATH"].split(":")


def test_image_base_is_a_pinned_slim_python_311() -> None:
    args = {m[0]: m[1] for i, a in dockerfile() if i == "ARG"
            for m in [a.split("=", 1)] if len(m) == 2}
    froms = [a.split()[0] for i, a in dockerfile() if i == "FROM"]
    assert len(froms) == 2, "a build stage and a runtime stage"
    for ref in froms:
        image = args.get(ref.strip("${}"), ref)
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", image), image


def test_image_copies_only_the_venv_and_installs_git() -> None:
    stage = final_stage()
    copies = [a for i, a in stage if i == "COPY"]
    assert copies == ["--from=build /opt/reconciler /opt/reconciler"]
    # The git command line packs the mirror (adapters/gitpack.py) and does a new
    # mirror's first fetch (adapters/gitclone.py); every other transfer is pygit2's,
    # so no build dependency and nothing else of git's comes in.
    installs = [a for i, a in stage if i == "RUN" and "apt-get install" in a]
    assert any(re.search(r"apt-get install [^&]*--no-install-recommends [^&]*\bgit\b", a)
               for a in installs), installs
    for ins, args in dockerfile():
        if ins == "RUN":
            assert "apt-get" not in args or "build-essential" not in args
    build = " ".join(a for i, a in dockerfile() if i == "RUN")
    assert "--requirement requirements.lock" in build and "--only-binary=:all:" in build
    assert "--no-deps ." in build


def test_image_writable_paths_match_the_deployment() -> None:
    env = image_env()
    deployment = env_values()
    assert env["RECONCILER_CACHE_DIR"] == deployment["RECONCILER_CACHE_DIR"]
    assert env["HOME"] == deployment["HOME"]
    assert env["XDG_CACHE_HOME"] + "/reconciler" == env["RECONCILER_CACHE_DIR"]
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"  # the root filesystem is read-only


def dockerignored(path: str) -> bool:
    """Docker's .dockerignore matching, enough for this file (last match wins)."""
    ignored = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate, pattern = line.startswith("!"), line.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatch(p, pattern[3:]) for p in parts)
        else:
            hit = any(fnmatch.fnmatch(p, pattern) for p in prefixes)
        if hit:
            ignored = not negate
    return ignored


def test_build_context_holds_what_the_dockerfile_copies_and_nothing_else() -> None:
    for ins, args in dockerfile():
        if ins == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert not dockerignored(source), f"{source} is excluded by .dockerignore"
    for heavy in (".git", ".venv", "tests", "sample-repo", "bench",
                  "reconciler/core/__pycache__"):
        assert dockerignored(heavy), heavy


# -- requirements.lock ----------------------------------------------------------------


def lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"requirements.lock: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version
    return pins


def test_lock_pins_every_runtime_dependency_within_its_range() -> None:
    pins = lock()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, (f"{req.name} is a dependency but not in requirements.lock: "
                              "regenerate it (see its header)")
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {req.name}=={pins[name]}, outside {req.specifier}")
    for test_only in project["optional-dependencies"]["test"]:
        name = canonicalize_name(Requirement(test_only).name)
        assert name not in pins, f"{name} is a test tool; the image does not need it"
    assert "pip" not in pins and "setuptools" not in pins


def test_the_ci_entry_point_is_valid_bash_and_ends_with_the_readme_command() -> None:
    """A broken .ci/run fails CI before a single test runs; bash -n parses it."""
    script = Path(__file__).resolve().parents[2] / ".ci" / "run"
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in script.read_text().splitlines() if line.strip()]
    assert lines[-1] == "make test"
