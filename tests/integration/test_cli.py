"""The command line as a user runs it: a separate process, real remotes, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import APPS
from tests.support import githttp, gitrepo, secretscan
from tests.support.cli import one_error_line, run
from tests.support.fixtures import Remote


def test_plan_json_contract(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    proc = run("plan", "--repo", fleet.url, "--release", "apps/podinfo=6.5.0",
               "--release", "apps/podinfo=6.6.0-rc.1", "--release", "apps/checkout=2.4.0",
               "-o", "json", cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    plans = {p["rollout"]: p for p in json.loads(proc.stdout)}
    assert set(plans) == {"apps/checkout", "apps/frontend", "apps/podinfo"}
    # sample-repo's canary: the release's first commit is step 1 of 3, canary values only.
    checkout = plans["apps/checkout"]
    assert (checkout["current"], checkout["next"], checkout["action"], checkout["step"]) == (
        "2.3.0", "2.4.0", "release", "1/3")
    where = "clusters/production/checkout.yaml"
    assert [(c["file"], c["path"].rsplit("/", 1)[1], c["old"], c["new"])
            for c in checkout["changes"]] == [
        (where, "CHECKOUT_CANARY_VERSION", "2.3.0", "2.4.0"),
        (where, "CHECKOUT_CANARY_WEIGHT", "0", "10"),
        (where, "CHECKOUT_STABLE_WEIGHT", "100", "90")]
    podinfo = plans["apps/podinfo"]
    assert (podinfo["current"], podinfo["next"], podinfo["action"]) == ("6.4.0", "6.5.0",
                                                                       "release")
    assert any("6.6.0-rc.1" in r for r in podinfo["reasons"])
    assert podinfo["changes"] == [
        {"file": APPS, "document": 1, "path": "/spec/postBuild/substitute/PODINFO_UI_TAG",
         "old": "6.4.0", "new": "6.5.0"},
        {"file": APPS, "document": 1, "path": "/spec/postBuild/substitute/PODINFO_VERSION",
         "old": "6.4.0", "new": "6.5.0"},
    ]
    assert plans["apps/frontend"]["action"] == "none" and plans["apps/frontend"]["next"] is None
    assert podinfo["step"] is None


def test_release_revert_history_round_trip(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    rel = run("release", "apps/podinfo", "6.5.0", "--repo", fleet.url, "--push", cache=tmp_path)
    assert rel.returncode == 0, rel.stderr
    assert "pushed" in rel.stdout
    rev = run("revert", "apps/podinfo", "--repo", fleet.url, "--reason", "error rate",
              "--push", cache=tmp_path)
    assert rev.returncode == 0, rev.stderr
    hist = run("history", "apps/podinfo", "--repo", fleet.url, "-o", "json", cache=tmp_path)
    entries = json.loads(hist.stdout)
    assert [(e["action"], e["release"], e["previous_release"]) for e in entries] == [
        ("revert", "6.4.0", "6.5.0"), ("release", "6.5.0", "6.4.0")]
    assert entries[0]["reason"] == "error rate"
    assert {"commit", "rollout", "action", "release", "previous_release", "time",
            "reason"} <= set(entries[0])
    assert entries[0]["commit"] == fleet.head()
    # The reverted release is never planned again.
    plan = run("plan", "--repo", fleet.url, "--release", "apps/podinfo=6.5.0", "-o", "json",
               cache=tmp_path)
    podinfo = next(p for p in json.loads(plan.stdout) if p["rollout"] == "apps/podinfo")
    assert podinfo["next"] is None and podinfo["action"] == "blocked"


def test_dry_run_shows_diff_and_writes_nothing(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    head = fleet.head()
    proc = run("release", "apps/podinfo", "6.5.0", "--repo", fleet.url, "--dry-run",
               cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert '-      PODINFO_VERSION: "6.4.0"   # written by reconciler' in proc.stdout
    assert '+      PODINFO_VERSION: "6.5.0"   # written by reconciler' in proc.stdout
    assert fleet.head() == head


@pytest.mark.parametrize("tag", ["latest", "6.5.0+build.1", "6.5.0;reboot", "ü6.5.0"])
def test_invalid_tag_exit_2_nothing_written(fleet: gitrepo.BareRepo, tmp_path: Path,
                                            tag: str) -> None:
    head = fleet.head()
    proc = run("release", "apps/podinfo", tag, "--repo", fleet.url, "--push", cache=tmp_path)
    assert proc.returncode == 2
    assert repr(tag) in one_error_line(proc)
    assert fleet.head() == head


def test_unknown_rollout_exit_2(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    proc = run("release", "apps/nope", "1.0.0", "--repo", fleet.url, "--push", cache=tmp_path)
    assert proc.returncode == 2
    assert "apps/nope" in one_error_line(proc)
    proc = run("plan", "--repo", fleet.url, "--release", "apps/nope=1.0.0", cache=tmp_path)
    assert proc.returncode == 2 and "apps/nope" in one_error_line(proc)


@pytest.mark.parametrize("command", [
    ("plan",), ("validate",), ("history",), ("release", "apps/podinfo", "6.5.0", "--push"),
    ("revert", "apps/podinfo"), ("check", "--base", "main"), ("run",),
])
def test_a_local_repo_that_does_not_exist_is_a_usage_error(
        tmp_path: Path, command: tuple[str, ...]) -> None:
    missing = tmp_path / "no-such-fleet"
    for repo in (str(missing), missing.as_uri()) if command == ("plan",) else (str(missing),):
        proc = run(*command, "--repo", repo, cache=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert one_error_line(proc) == f"reconciler: error: --repo {repo!r}: no such directory"


def test_unreachable_remote_exit_1(tmp_path: Path) -> None:
    proc = run("plan", "--repo", "http://127.0.0.1:9/fleet.git", cache=tmp_path)
    assert proc.returncode == 1
    assert "127.0.0.1:9" in one_error_line(proc)


def test_wrong_password_exit_1_and_never_printed(fleet: gitrepo.BareRepo, git_home: Path,
                                                 tmp_path: Path) -> None:
    secret = secretscan.register("s3cr3t-token-that-must-not-leak", "wrong git password "
                                 "(test_cli.py)")
    with githttp.serve_git_http(fleet.path.parent, home=git_home / "http") as server:
        proc = run("plan", "--repo", server.url_for(fleet.path), "--username", server.username,
                   cache=tmp_path, env={"RECONCILER_GIT_PASSWORD": secret})
    assert proc.returncode == 1
    assert "credentials refused" in one_error_line(proc)
    assert secret not in proc.stderr + proc.stdout


def test_push_refused_by_hook_exit_1_remote_unchanged(fleet: gitrepo.BareRepo, git_home: Path,
                                                      tmp_path: Path) -> None:
    fleet.install_hook("pre-receive", "#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    head = fleet.head()
    with githttp.serve_git_http(fleet.path.parent, home=git_home / "http") as server:
        env = {"RECONCILER_GIT_PASSWORD": server.password}
        args = ("release", "apps/podinfo", "6.5.0", "--repo", server.url_for(fleet.path),
                "--username", server.username, "--push")
        proc = run(*args, cache=tmp_path, env=env)
        assert proc.returncode == 1
        assert "protected branch" in one_error_line(proc)
        assert fleet.head() == head
        # The mirror is still usable once the server accepts pushes again.
        (fleet.path / "hooks" / "pre-receive").unlink()
        again = run(*args, cache=tmp_path, env=env)
        assert again.returncode == 0, again.stderr
        assert fleet.head() != head


def test_validate_names_file_document_field(tmp_path: Path, git_home: Path,
                                            fleet_remote: Remote) -> None:
    repo = fleet_remote.repo
    rollout = repo.show(repo.head(), "apps/frontend/rollout.yaml").replace(
        b"policy: conservative", b"policy: conservative\n  maxBump: huge")
    repo.commit({"apps/frontend/rollout.yaml": rollout,
                 "apps/broken.yaml": b"# kuberik.com\nkind: [\n"}, "oops")
    env = {"RECONCILER_GIT_PASSWORD": fleet_remote.credentials.password or ""} \
        if fleet_remote.credentials else {}
    extra = ("--username", fleet_remote.credentials.username or "") \
        if fleet_remote.credentials else ()
    proc = run("validate", "--repo", fleet_remote.url, *extra, cache=tmp_path, env=env)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    # maxBump is added on line 10, after the policy line: the line of the value.
    assert any(ln.startswith("error: apps/frontend/rollout.yaml:10 (document 1) spec.maxBump: "
                             "must be one of") for ln in lines), lines
    assert any(ln.startswith("error: apps/broken.yaml") and "line" in ln for ln in lines), lines
    clean = run("validate", "--repo", fleet_remote.url, *extra, cache=tmp_path / "2", env=env)
    assert clean.returncode == 1  # still broken: validation is not cached away


def test_validate_clean_sample_repo(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    proc = run("validate", "--repo", fleet.url, cache=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 rollouts, 7 targets, 0 errors" in proc.stderr


def test_local_path_and_relative_path_work(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    proc = run("plan", "--repo", str(fleet.path), cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "apps/podinfo: nothing to do (at 6.4.0)" in proc.stdout


def test_release_warns_about_unparsable_file_and_leaves_it(fleet: gitrepo.BareRepo,
                                                           tmp_path: Path) -> None:
    broken = b"# kuberik.com\nkind: Kustomization\nspec: [\n"
    fleet.commit({"apps/wip.yaml": broken}, "work in progress")
    proc = run("release", "apps/podinfo", "6.5.0", "--repo", fleet.url, "--push",
               cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "warning: skipped, never rewritten: error: apps/wip.yaml" in proc.stderr
    assert "line 4, column 1" in proc.stderr
    assert fleet.show(fleet.head(), "apps/wip.yaml") == broken
    plan = run("plan", "--repo", fleet.url, cache=tmp_path)
    assert plan.returncode == 0 and "apps/wip.yaml" in plan.stderr


def test_release_of_a_reverted_tag_warns_first(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    assert run("release", "apps/podinfo", "6.5.0", "--repo", fleet.url, "--push",
               cache=tmp_path).returncode == 0
    assert run("revert", "apps/podinfo", "--repo", fleet.url, "--push",
               cache=tmp_path).returncode == 0
    proc = run("release", "apps/podinfo", "6.5.0", "--repo", fleet.url, "--dry-run",
               cache=tmp_path)
    assert proc.returncode == 0
    assert "6.5.0 was reverted before" in proc.stderr


@pytest.mark.parametrize("flag", ["--ssh-key", "--known-hosts", "--password-file",
                                  "--ca-bundle"])
def test_missing_credentials_file_stops_with_one_line(fleet: gitrepo.BareRepo, tmp_path: Path,
                                                      flag: str) -> None:
    missing = tmp_path / "not-mounted"
    proc = run("plan", "--repo", fleet.url, flag, str(missing), cache=tmp_path)
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert flag in line and str(missing) in line


@pytest.mark.parametrize("field", ["semver", "digest"])
def test_oci_tag_beside_semver_or_digest_is_refused(fleet: gitrepo.BareRepo, tmp_path: Path,
                                                    field: str) -> None:
    # Flux reads digest, then semver, then tag: a release written to the tag would
    # change nothing in the cluster, so validate reports it and release refuses it.
    oci = "apps/frontend/ocirepository.yaml"
    value = ">=1.0.0" if field == "semver" else "sha256:" + "c" * 64
    fleet.commit({oci: fleet.show(fleet.head(), oci).replace(
        b'  ref: {tag: "1.4.2"}', f'  ref:\n    tag: "1.4.2"\n    {field}: "{value}"'.encode())},
        f"pin the frontend by {field}")
    head = fleet.head()
    where = f"{oci}:14 (document 1) spec.ref.{field}: "

    proc = run("validate", "--repo", fleet.url, cache=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert [ln for ln in proc.stdout.splitlines() if ln.startswith("error: ")] == [
        ln for ln in proc.stdout.splitlines() if ln.startswith(f"error: {where}")], proc.stdout
    assert f"error: {where}is set beside spec.ref.tag, so Flux ignores the tag" in proc.stdout

    release = run("release", "apps/frontend", "1.4.3", "--repo", fleet.url, "--push",
                  cache=tmp_path)
    assert release.returncode == 2, release.stdout + release.stderr
    line = one_error_line(release)
    assert line.startswith(f"reconciler: error: {where}is set beside spec.ref.tag"), line
    assert fleet.head() == head

    plan = run("plan", "--repo", fleet.url, "-o", "json", cache=tmp_path)
    assert plan.returncode == 0, plan.stderr
    frontend = next(p for p in json.loads(plan.stdout) if p["rollout"] == "apps/frontend")
    assert (frontend["action"], frontend["next"], frontend["changes"]) == ("blocked", None, [])
    assert any(where in reason for reason in frontend["reasons"]), frontend["reasons"]


def test_anchored_target_reused_elsewhere_is_refused_up_front(fleet: gitrepo.BareRepo,
                                                              tmp_path: Path) -> None:
    apps = fleet.show(fleet.head(), APPS)
    assert b'PODINFO_UI_TAG: "6.4.0"' in apps
    fleet.commit({APPS: apps.replace(b'PODINFO_UI_TAG: "6.4.0"', b'PODINFO_UI_TAG: &ui "6.4.0"')
                  .replace(b'PODINFO_REPLICAS: "2"\n',
                           b'PODINFO_REPLICAS: "2"\n      SIDECAR_TAG: *ui\n')},
                 "reuse the UI tag")
    text = fleet.show(fleet.head(), APPS).decode().splitlines()
    anchor = next(n for n, ln in enumerate(text, 1) if "&ui" in ln)
    alias = next(n for n, ln in enumerate(text, 1) if "*ui" in ln)
    head = fleet.head()

    proc = run("validate", "--repo", fleet.url, cache=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    expected = (f"error: {APPS}:{anchor} (document 1) spec.postBuild.substitute.PODINFO_UI_TAG: "
                f"the value is anchored as &ui at line {anchor} and reused through *ui at line "
                f"{alias}")
    assert any(ln.startswith(expected) for ln in proc.stdout.splitlines()), proc.stdout

    release = run("release", "apps/podinfo", "6.5.0", "--repo", fleet.url, "--push",
                  cache=tmp_path)
    assert release.returncode == 2
    assert f"and reused through *ui at line {alias}" in one_error_line(release)
    assert fleet.head() == head
