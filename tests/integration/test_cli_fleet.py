"""The command line on a fleet repository with several clusters (docs/fleet.md):
per-cluster reports without ``--path``, one cluster with it, and a write that
refuses to guess the cluster. The repository is the ``classic`` golden layout
(tests/golden/scope/classic): clusters/staging and clusters/production, one
``podinfo/podinfo`` Rollout and one annotated ``flux-system/apps`` per cluster, and
a Helm chart whose template mentions kuberik.com outside every scope."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import gitrepo
from tests.support.cli import one_error_line, run

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "scope"
TEMPLATE = "charts/podinfo/templates/deployment.yaml"


def tree(layout: str) -> dict[str, bytes | str]:
    base = GOLDEN / layout
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*"))
            if p.is_file() and not p.name.startswith("expected-")}


@pytest.fixture
def fleet(tmp_path: Path, git_home: Path) -> gitrepo.BareRepo:
    return gitrepo.make_bare_repo(tmp_path / "srv" / "fleet.git", tree("classic"),
                                  home=git_home, message="Two clusters")


def test_validate_reports_each_cluster(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    proc = run("validate", "--repo", fleet.url, cache=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == ["== production (clusters/production) ==",
                                        "== staging (clusters/staging) =="]
    assert proc.stderr.splitlines() == [
        "production: 1 rollouts, 1 targets, 0 errors, 0 warnings in 17 YAML files",
        "staging: 1 rollouts, 1 targets, 0 errors, 0 warnings in 17 YAML files"]


def test_validate_with_path_is_one_cluster(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    proc = run("validate", "--repo", fleet.url, "--path", "./clusters/staging", cache=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == "1 rollouts, 1 targets, 0 errors, 0 warnings in 17 YAML files\n"
    by_env = run("validate", "--repo", fleet.url, cache=tmp_path,
                 env={"RECONCILER_PATH": "clusters/production"})
    assert by_env.returncode == 0 and by_env.stdout == ""


def test_plan_json_is_one_array_tagged_by_environment(fleet: gitrepo.BareRepo,
                                                      tmp_path: Path) -> None:
    proc = run("plan", "--repo", fleet.url, "--release", "podinfo/podinfo=6.5.0", "-o", "json",
               cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    plans = json.loads(proc.stdout)
    assert [(p["environment"], p["rollout"], p["action"], p["next"]) for p in plans] == [
        ("production", "podinfo/podinfo", "release", "6.5.0"),
        ("staging", "podinfo/podinfo", "release", "6.5.0")]
    assert [[c["file"] for c in p["changes"]] for p in plans] == [
        ["clusters/production/apps.yaml"], ["clusters/staging/apps.yaml"]]
    text = run("plan", "--repo", fleet.url, cache=tmp_path)
    assert text.stdout.splitlines() == [
        "== production (clusters/production) ==",
        "podinfo/podinfo: nothing to do (at 6.4.0)",
        "    No release candidates yet.",
        "== staging (clusters/staging) ==",
        "podinfo/podinfo: nothing to do (at 6.4.0)",
        "    No release candidates yet."]


def test_release_without_path_asks_for_one(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    head = fleet.head()
    proc = run("release", "podinfo/podinfo", "6.5.0", "--repo", fleet.url, "--push",
               cache=tmp_path)
    assert proc.returncode == 2
    assert one_error_line(proc) == (
        "reconciler: error: podinfo/podinfo is defined in 2 clusters; choose one with --path "
        "(clusters/production, clusters/staging)")
    assert run("revert", "podinfo/podinfo", "--repo", fleet.url, "--push",
               cache=tmp_path).returncode == 2
    assert fleet.head() == head


def test_release_with_path_writes_that_cluster_only(fleet: gitrepo.BareRepo,
                                                    tmp_path: Path) -> None:
    before = fleet.head()
    proc = run("release", "podinfo/podinfo", "6.5.0", "--repo", fleet.url, "--push",
               "--path", "clusters/staging", cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    changed = fleet.git("diff", "--name-only", before, fleet.head()).decode().split()
    assert changed == ["clusters/staging/apps.yaml"]
    assert "\nEnvironment: staging\n" in fleet.git("log", "-1", "--format=%B").decode()
    hist = run("history", "--repo", fleet.url, "--path", "clusters/staging", "-o", "json",
               cache=tmp_path)
    (entry,) = json.loads(hist.stdout)
    assert (entry["environment"], entry["release"]) == ("staging", "6.5.0")
    # Per cluster, by the Environment trailer: production has no record of it.
    every = run("history", "--repo", fleet.url, "-o", "json", cache=tmp_path)
    assert [(e["environment"], e["release"]) for e in json.loads(every.stdout)] == [
        ("staging", "6.5.0")]
    text = run("history", "--repo", fleet.url, cache=tmp_path).stdout.splitlines()
    assert text[:2] == ["== production (clusters/production) ==", "no reconciler commits"]
    assert text[2] == "== staging (clusters/staging) ==" and "6.4.0 -> 6.5.0" in text[3]
    plan = run("plan", "--repo", fleet.url, "-o", "json", cache=tmp_path)
    assert {p["environment"]: p["current"] for p in json.loads(plan.stdout)} == {
        "production": "6.4.0", "staging": "6.5.0"}


@pytest.mark.parametrize(("path", "says"), [
    ("clusters/nope", "--path 'clusters/nope': no such directory in the repository"),
    ("../elsewhere", "--path '../elsewhere': expected a directory inside the repository"),
])
def test_bad_path_exit_2(fleet: gitrepo.BareRepo, tmp_path: Path, path: str, says: str) -> None:
    proc = run("plan", "--repo", fleet.url, "--path", path, cache=tmp_path)
    assert proc.returncode == 2
    assert says in one_error_line(proc)


def test_daemon_refuses_a_path_that_is_not_in_the_repository(
        fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
                          "    server: http://127.0.0.1:9\ncontexts:\n- name: c\n  context:\n"
                          "    cluster: c\ncurrent-context: c\n")
    proc = run("run", "--repo", fleet.url, "--path", "clusters/nowhere", "--kubeconfig",
               str(kubeconfig), cache=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "clusters/nowhere" in one_error_line(proc)


def test_helm_template_never_parsed_in_a_scope(tmp_path: Path, git_home: Path) -> None:
    """The chart template mentions kuberik.com but is no YAML: out of every cluster's
    scope, or left out by .sourceignore in a one-cluster repository, it is never
    parsed; without either it is reported, as before."""
    files = tree("classic")
    assert b"kuberik.com" in files[TEMPLATE]  # type: ignore[operator]
    single = {p: d for p, d in files.items()
              if not p.startswith(("clusters/production/", "apps/production/"))}
    single[".sourceignore"] = "charts/\n"
    repo = gitrepo.make_bare_repo(tmp_path / "srv" / "one.git", single, home=git_home)
    proc = run("validate", "--repo", repo.url, cache=tmp_path / "one")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert TEMPLATE not in proc.stdout + proc.stderr
    del single[".sourceignore"]
    plain = gitrepo.make_bare_repo(tmp_path / "srv" / "plain.git", single, home=git_home)
    proc = run("validate", "--repo", plain.url, cache=tmp_path / "plain")
    assert proc.returncode == 1
    assert f"error: {TEMPLATE}" in proc.stdout
    scoped = run("validate", "--repo", plain.url, "--path", "clusters/staging",
                 cache=tmp_path / "plain")
    assert scoped.returncode == 0, scoped.stdout


def test_artifact_generator_layout_per_cluster(tmp_path: Path, git_home: Path) -> None:
    """The Flux 2.7 layout: apps reach each cluster through an ExternalArtifact whose
    ArtifactGenerator copies apps/base and apps/<env>; same answers per cluster."""
    repo = gitrepo.make_bare_repo(tmp_path / "srv" / "artifacts.git", tree("artifacts"),
                                  home=git_home)
    proc = run("validate", "--repo", repo.url, cache=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [
        "production: 1 rollouts, 1 targets, 0 errors, 0 warnings in 18 YAML files",
        "staging: 1 rollouts, 1 targets, 0 errors, 0 warnings in 18 YAML files"]
    plan = run("plan", "--repo", repo.url, "--release", "podinfo/podinfo=6.5.0", "-o", "json",
               cache=tmp_path)
    assert [(p["environment"], [c["file"] for c in p["changes"]])
            for p in json.loads(plan.stdout)] == [
        ("production", ["clusters/production/apps.yaml"]),
        ("staging", ["clusters/staging/apps.yaml"])]
