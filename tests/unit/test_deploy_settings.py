"""The install surface, settings and sample-repo's install: every RECONCILER_ variable
the manifests set (and sample-repo patches in) is a documented `reconciler run` option
with a value it accepts; sample-repo installs deploy/ from a Flux source that keeps
what deploy/ reads, and renders (where kubectl exists).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from ruamel.yaml import YAML

from tests.unit.deployfiles import BASE, DEPLOY, ROOT, load_all, settings

# -- settings ---------------------------------------------------------------------


def sample_settings() -> dict[str, str]:
    """The ConfigMap data sample-repo patches in."""
    (release,) = load_all(ROOT / "sample-repo" / "infrastructure" / "reconciler" /
                          "release.yaml")
    (patch,) = release["spec"]["patches"]
    data: dict[str, str] = YAML(typ="safe").load(patch["patch"])["data"]
    return data


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
