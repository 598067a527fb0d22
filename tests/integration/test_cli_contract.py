"""Every command ends the same way (issue 15, section 3): the 0/1/2 exit codes, one
error line, documents counted from 1, a word on downgrades, no half-made mirror."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import APPS
from tests.support import gitrepo
from tests.support.cli import run

EXPECTED = "a local path, file://, http://, https://, ssh:// or user@host:path"


def error_line(proc: object) -> str:
    stderr: str = proc.stderr  # type: ignore[attr-defined]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(("args", "line"), [
    (("plan", "--bogus"),
     "reconciler: error: No such option '--bogus'. (see 'reconciler plan --help')"),
    (("release", "--repo", "x"),
     "reconciler: error: Missing argument 'NS/NAME'. (see 'reconciler release --help')"),
    (("history", "-o", "yaml", "--repo", "x"),
     "reconciler: error: Invalid value for '-o' / '--output': 'yaml' is not one of 'text', "
     "'json'. (see 'reconciler history --help')"),
    (("frobnicate",),
     "reconciler: error: No such command 'frobnicate'. (see 'reconciler --help')"),
    (("plan", "--repo", "x", "--release", "podinfo"),
     "reconciler: error: Invalid value for --release: 'podinfo': expected NS/NAME=TAG "
     "(see 'reconciler plan --help')"),
])
def test_usage_errors_are_one_line_exit_2(tmp_path: Path, args: tuple[str, ...],
                                          line: str) -> None:
    proc = run(*args, cache=tmp_path)
    assert proc.returncode == 2
    assert error_line(proc) == line
    assert proc.stdout == ""


def test_help_and_version_still_exit_0(tmp_path: Path) -> None:
    assert run("--version", cache=tmp_path).returncode == 0
    helped = run("plan", "--help", cache=tmp_path)
    assert helped.returncode == 0 and helped.stdout.startswith("Usage: reconciler plan")


def test_no_command_shows_the_help_not_an_error_line() -> None:
    proc = subprocess.run([sys.executable, "-m", "reconciler"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode in (0, 2)  # click < 8.2 exits 0, later versions 2
    assert (proc.stdout + proc.stderr).startswith("Usage: reconciler [OPTIONS] COMMAND")
    assert "reconciler: error:" not in proc.stderr


def test_history_of_an_unknown_rollout_exits_2(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    proc = run("history", "apps/podinfoo", "--repo", fleet.url, cache=tmp_path)
    assert proc.returncode == 2
    assert error_line(proc) == (
        "reconciler: error: no Rollout apps/podinfoo in the repository and no reconciler "
        "commit names it (known: apps/checkout, apps/frontend, apps/podinfo)")
    # A known rollout without commits yet is not an error.
    known = run("history", "apps/frontend", "--repo", fleet.url, cache=tmp_path)
    assert known.returncode == 0, known.stderr
    assert known.stdout == "no reconciler commits for apps/frontend\n"


def test_history_of_a_deleted_rollout_still_shows_its_commits(fleet: gitrepo.BareRepo,
                                                              tmp_path: Path) -> None:
    assert run("release", "apps/frontend", "1.4.3", "--repo", fleet.url, "--push",
               cache=tmp_path).returncode == 0
    work, home = tmp_path / "work", tmp_path / "home"
    gitrepo.run_git("clone", "-q", str(fleet.path), str(work), cwd=tmp_path, home=home)
    gitrepo.run_git("rm", "-q", "apps/frontend/rollout.yaml", cwd=work, home=home)
    gitrepo.run_git("commit", "-qm", "retire frontend", cwd=work, home=home)
    gitrepo.run_git("push", "-q", "origin", "HEAD:main", cwd=work, home=home)
    proc = run("history", "apps/frontend", "--repo", fleet.url, "-o", "json", cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [e["release"] for e in json.loads(proc.stdout)] == ["1.4.3"]


def test_revert_with_nothing_to_revert_exits_1(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    # The command ran and found nothing to revert: exit 1, as docs/commits.md says.
    head = fleet.head()
    proc = run("revert", "apps/podinfo", "--repo", fleet.url, "--push", cache=tmp_path)
    assert proc.returncode == 1
    assert error_line(proc) == ("reconciler: error: apps/podinfo has no release commit on "
                                "this branch that is not already reverted")
    assert fleet.head() == head


def test_run_with_a_missing_kubeconfig_exits_2(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    proc = run("run", "--repo", fleet.url, "--kubeconfig", str(missing), "--http-address",
               "off", cache=tmp_path)
    assert proc.returncode == 2
    assert error_line(proc) == f"reconciler: error: --kubeconfig {missing}: no such file"


@pytest.mark.parametrize(("repo", "why"), [
    ("ftp://host/x", f"unsupported scheme 'ftp' (expected {EXPECTED})"),
    ("http://", "http:// needs a host (http://HOST/PATH)"),
    ("ssh:///fleet.git", "ssh:// needs a host (ssh://HOST/PATH)"),
    ("file://", "file:// needs a path"),
    ("https://host:port/x", "not a valid URL: Port could not be cast to integer value as "
                            "'port'"),
])
@pytest.mark.parametrize("command", ["plan", "validate", "history"])
def test_a_malformed_repo_url_exits_2_naming_repo(tmp_path: Path, repo: str, why: str,
                                                  command: str) -> None:
    proc = run(command, "--repo", repo, cache=tmp_path / "cache")
    assert proc.returncode == 2
    assert error_line(proc) == f"reconciler: error: --repo {repo!r}: {why}"
    assert not (tmp_path / "cache").exists()


def test_a_malformed_repo_url_never_shows_its_password(tmp_path: Path) -> None:
    proc = run("plan", cache=tmp_path, env={"RECONCILER_REPO": "https://me:hunter2@/fleet"})
    assert proc.returncode == 2
    assert error_line(proc) == ("reconciler: error: RECONCILER_REPO='https://me:***@/fleet': "
                                "https:// needs a host (https://HOST/PATH)")


def test_documents_count_from_1_in_text_json_and_commits(fleet: gitrepo.BareRepo,
                                                         tmp_path: Path) -> None:
    text = run("plan", "--repo", fleet.url, "--release", "apps/podinfo=6.5.0", cache=tmp_path)
    assert (f"    ~ {APPS} (document 1) /spec/postBuild/substitute/PODINFO_VERSION: "
            f"6.4.0 -> 6.5.0") in text.stdout.splitlines()
    plan = run("plan", "--repo", fleet.url, "--release", "apps/podinfo=6.5.0", "-o", "json",
               cache=tmp_path)
    podinfo = next(p for p in json.loads(plan.stdout) if p["rollout"] == "apps/podinfo")
    assert {c["document"] for c in podinfo["changes"]} == {1}
    assert [p["document"] for p in podinfo["patch"]] == [1]
    assert run("release", "apps/podinfo", "6.5.0", "--repo", fleet.url, "--push",
               cache=tmp_path).returncode == 0
    body = fleet.git("log", "-1", "--format=%B").decode().splitlines()
    assert (f"  {APPS} [1] Kustomization flux-system/podinfo "
            f"/spec/postBuild/substitute/PODINFO_VERSION: 6.4.0 -> 6.5.0") in body


@pytest.mark.parametrize("mode", ["--dry-run", "--push"])
def test_release_of_a_lower_version_says_downgrade(fleet: gitrepo.BareRepo, tmp_path: Path,
                                                   mode: str) -> None:
    proc = run("release", "apps/podinfo", "6.3.0", "--repo", fleet.url, mode, cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert error_line(proc) == ("reconciler: warning: 6.3.0 is lower than the current "
                                "release 6.4.0 of apps/podinfo: this is a downgrade")
    assert "apps/podinfo: release 6.4.0 -> 6.3.0" in proc.stdout


def test_release_of_a_higher_version_says_nothing(fleet: gitrepo.BareRepo,
                                                  tmp_path: Path) -> None:
    proc = run("release", "apps/podinfo", "6.5.0", "--repo", fleet.url, "--dry-run",
               cache=tmp_path)
    assert proc.returncode == 0 and proc.stderr == ""


def test_a_failed_first_fetch_leaves_no_mirror(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    proc = run("plan", "--repo", "http://127.0.0.1:9/fleet.git", cache=cache)
    assert proc.returncode == 1
    assert list(cache.iterdir()) == []


def test_a_failed_fetch_keeps_a_working_mirror(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert run("plan", "--repo", fleet.url, cache=cache).returncode == 0
    mirrors = list(cache.iterdir())
    assert len(mirrors) == 1 and mirrors[0].name.endswith(".git")
    # The remote is broken for a while (its directory is there, its objects are not: a
    # missing directory is a wrong --repo, exit 2, before any fetch).
    shutil.move(fleet.path / "objects", tmp_path / "objects")
    proc = run("plan", "--repo", fleet.url, cache=cache)
    assert proc.returncode == 1, proc.stderr
    assert list(cache.iterdir()) == mirrors and (mirrors[0] / "HEAD").is_file()
    shutil.move(tmp_path / "objects", fleet.path / "objects")
    assert run("plan", "--repo", fleet.url, cache=cache).returncode == 0


@pytest.mark.parametrize("command", ["plan", "history", "validate", "release", "revert"])
def test_options_help_and_author_only_where_commits_are_written(tmp_path: Path,
                                                                command: str) -> None:
    helped = run(command, "--help", cache=tmp_path).stdout
    writes = command in ("release", "revert")
    assert ("--author-name" in helped) is writes
    assert ("--author-email" in helped) is writes
    if command in ("plan", "history"):
        option = next(ln for ln in helped.splitlines() if "-o, --output" in ln)
        assert "Output format" in option, option
