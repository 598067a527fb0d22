"""``reconciler check`` as a CI job runs it: a working clone with a detached ``HEAD``
(the pull request), ``origin/main`` beside it and no local ``main`` branch, the
command as a separate process. Each test commits a change on top of sample-repo/ (or
examples/fleet/) and asserts the findings, the exit code and each output's shape."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import APPS, ROOT, sample_files
from tests.support import gitrepo
from tests.support.cli import one_error_line, run

PODINFO = "apps/podinfo/rollout.yaml"
FRONTEND_OCI = "apps/frontend/ocirepository.yaml"


@dataclass
class Clone:
    """A CI checkout: ``git clone`` of the remote, then a detached HEAD."""

    path: Path
    home: Path
    remote: gitrepo.BareRepo

    def git(self, *args: str) -> str:
        return gitrepo.run_git(*args, cwd=self.path, home=self.home).decode()

    def edit(self, file: str, old: str, new: str) -> None:
        target = self.path / file
        text = target.read_text()
        assert old in text, (file, old)
        target.write_text(text.replace(old, new, 1))

    def write(self, file: str, text: str) -> None:
        (self.path / file).parent.mkdir(parents=True, exist_ok=True)
        (self.path / file).write_text(text)

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def check(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run("check", "--repo", str(self.path), "--base", "origin/main", *args,
                   cache=self.path.parent / "cache")

    def json(self, *args: str) -> dict[str, Any]:
        proc = self.check("-o", "json", *args)
        assert proc.returncode in (0, 1), proc.stderr
        data: dict[str, Any] = json.loads(proc.stdout)
        return data


def _clone(tmp_path: Path, home: Path, files: dict[str, bytes | str],
           *, prepare: dict[str, str] | None = None) -> Clone:
    remote = gitrepo.make_bare_repo(tmp_path / "srv" / "fleet.git", files, home=home)
    if prepare:
        remote.commit(prepare, "prepare the base")
    path = tmp_path / "work"
    gitrepo.run_git("clone", "--quiet", remote.url, str(path), cwd=tmp_path, home=home)
    clone = Clone(path, home, remote)
    clone.git("checkout", "--quiet", "--detach")
    clone.git("branch", "--quiet", "-D", "main")
    return clone


@pytest.fixture
def clone(tmp_path: Path, git_home: Path) -> Clone:
    return _clone(tmp_path, git_home, sample_files())


def changes(data: dict[str, Any], rollout: str, cluster: int = 0) -> list[dict[str, Any]]:
    found = [r["changes"] for r in data["clusters"][cluster]["rollouts"]
             if r["rollout"] == rollout]
    return found[0] if found else []


def kinds(data: dict[str, Any], rollout: str, cluster: int = 0) -> list[str]:
    return [c["kind"] for c in changes(data, rollout, cluster)]


def test_nothing_changed_exit_0(clone: Clone) -> None:
    clone.commit("empty")
    proc = clone.check()
    assert proc.returncode == 0, proc.stderr
    assert "no change to releases" in proc.stdout
    data = clone.json()
    assert set(data) == {"base", "head", "errors", "clusters"}
    assert data["base"] == {"ref": "origin/main", "commit": clone.remote.head()}
    assert data["head"]["commit"] == clone.git("rev-parse", "HEAD").strip()
    assert data["clusters"] == [{"environment": None, "path": None, "rollouts": [],
                                 "problems": {"introduced": [], "existing": []}}]


def test_pin_will_be_written(clone: Clone) -> None:
    clone.edit(PODINFO, "  bakeTime: 5m", '  wantedVersion: "6.5.0"\n  bakeTime: 5m')
    clone.commit("pin podinfo")
    data = clone.json()
    [pin] = changes(data, "apps/podinfo")
    assert (pin["kind"], pin["severity"], pin["old"], pin["new"]) == ("pin", "warning",
                                                                      "6.4.0", "6.5.0")
    assert "6.4.0 -> 6.5.0 will be written to 2 target(s)" in pin["message"]
    assert pin["file"] == PODINFO and isinstance(pin["line"], int)
    assert set(pin) == {"kind", "severity", "message", "file", "line", "old", "new"}
    assert data["errors"] == 0
    github = clone.check("-o", "github")
    assert github.returncode == 0
    assert github.stdout == (f"::warning file={PODINFO},line={pin['line']}::apps/podinfo: "
                             f"{pin['message']}\n")


def test_constraint_that_excludes_the_current_release(clone: Clone) -> None:
    clone.edit(PODINFO, '">=6.0.0 <8.0.0"', '">=7.0.0 <8.0.0"')
    clone.commit("podinfo: 7.x only")
    [policy] = changes(clone.json(), "apps/podinfo")
    assert policy["kind"] == "policy" and policy["severity"] == "warning"
    assert policy["message"].startswith(
        "versionConstraint '>=6.0.0 <8.0.0' -> '>=7.0.0 <8.0.0': now excludes the current "
        "6.4.0")


def test_constraint_that_keeps_the_current_release_is_not_a_warning(clone: Clone) -> None:
    clone.edit(PODINFO, '">=6.0.0 <8.0.0"', '">=6.4.0 <7.0.0"')
    clone.commit("podinfo: 6.x only")
    [policy] = changes(clone.json(), "apps/podinfo")
    assert policy["kind"] == "policy" and policy["severity"] == "info"
    assert "the current 6.4.0 still fits" in policy["message"]
    assert clone.check("-o", "github").stdout == ""


def test_suspend_blocks_the_rollout(clone: Clone) -> None:
    clone.edit(PODINFO, "  bakeTime: 5m", "  suspend: true\n  bakeTime: 5m")
    clone.commit()
    assert kinds(clone.json(), "apps/podinfo") == ["policy", "blocked"]


def test_hand_edit_of_a_released_rollout_holds_it(tmp_path: Path, git_home: Path) -> None:
    files = sample_files()
    released = str(files[APPS].decode() if isinstance(files[APPS], bytes) else files[APPS])
    clone = _clone(tmp_path, git_home, files)
    clone.remote.commit({APPS: released.replace('"6.4.0"', '"6.5.0"')},
                        "podinfo: 6.4.0 -> 6.5.0\n\nRollout: apps/podinfo\nRelease: 6.5.0\n"
                        "Previous-Release: 6.4.0\nAction: release\n")
    clone.git("fetch", "--quiet", "origin")
    clone.git("checkout", "--quiet", "--detach", "origin/main")
    clone.edit(APPS, 'PODINFO_VERSION: "6.5.0"', 'PODINFO_VERSION: "6.6.0"')
    clone.edit(APPS, 'PODINFO_UI_TAG: "6.5.0"', 'PODINFO_UI_TAG: "6.6.0"')
    clone.commit("bump podinfo by hand")
    data = clone.json()
    [hold] = changes(data, "apps/podinfo")
    assert (hold["kind"], hold["severity"], hold["old"], hold["new"]) == ("hold", "warning",
                                                                          "6.5.0", "6.6.0")
    assert "the reconciler last wrote 6.5.0" in hold["message"]
    assert "`reconciler release apps/podinfo 6.6.0 --push`" in hold["message"]
    assert hold["file"] == APPS
    assert clone.check("-o", "github").stdout.startswith(f"::warning file={APPS},line=")


def test_reconciler_commit_in_the_pull_request_is_not_a_hold(clone: Clone) -> None:
    clone.edit(APPS, 'PODINFO_VERSION: "6.4.0"', 'PODINFO_VERSION: "6.5.0"')
    clone.edit(APPS, 'PODINFO_UI_TAG: "6.4.0"', 'PODINFO_UI_TAG: "6.5.0"')
    clone.commit("podinfo: 6.4.0 -> 6.5.0\n\nRollout: apps/podinfo\nRelease: 6.5.0\n"
                 "Previous-Release: 6.4.0\nAction: release\n")
    [change] = changes(clone.json(), "apps/podinfo")
    assert change["kind"] == "release" and change["severity"] == "info"
    assert "written by the reconciler" in change["message"]


def test_hand_edit_before_any_release_is_not_held(clone: Clone) -> None:
    clone.edit(FRONTEND_OCI, '"1.4.2"', '"1.4.3"')
    clone.commit()
    [change] = changes(clone.json(), "apps/frontend")
    assert change["kind"] == "hand-edit" and "nothing is held" in change["message"]


def test_rollout_removed_leaves_its_target_orphaned_exit_1(clone: Clone) -> None:
    (clone.path / "apps/frontend/rollout.yaml").unlink()
    clone.commit("drop the frontend rollout")
    proc = clone.check("-o", "json")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert kinds(data, "apps/frontend") == ["rollout-removed", "target-orphaned"]
    [orphan] = [c for c in changes(data, "apps/frontend") if c["kind"] == "target-orphaned"]
    assert orphan["file"] == FRONTEND_OCI and "which this change removes" in orphan["message"]
    [problem] = data["clusters"][0]["problems"]["introduced"]
    assert (problem["severity"], problem["file"]) == ("error", FRONTEND_OCI)
    assert data["errors"] == 1
    github = clone.check("-o", "github").stdout.splitlines()
    assert github[0] == (f"::error file={FRONTEND_OCI},line={problem['line']}::"
                         f"{problem['field']}: {problem['message']}")
    assert github[1].startswith(f"::warning file={FRONTEND_OCI},line={orphan['line']}::"
                                "apps/frontend: ")
    assert len(github) == 2


def test_rollout_added_and_target_moved(clone: Clone) -> None:
    clone.write("apps/cache/rollout.yaml", "apiVersion: kuberik.com/v1alpha1\nkind: Rollout\n"
                "metadata:\n  name: cache\n  namespace: apps\nspec:\n"
                "  releasesImagePolicy:\n    name: cache\n")
    clone.write("apps/cache/oci.yaml", "apiVersion: source.toolkit.fluxcd.io/v1\n"
                "kind: OCIRepository\nmetadata:\n  name: cache\n  namespace: apps\n"
                "  annotations:\n    rollout.kuberik.com/rollout: cache\n"
                "spec:\n  url: oci://example/cache\n  ref:\n    tag: \"2.0.0\"\n")
    text = (clone.path / FRONTEND_OCI).read_text()
    (clone.path / FRONTEND_OCI).unlink()
    clone.write("apps/frontend/source.yaml", text)
    clone.commit()
    data = clone.json()
    assert kinds(data, "apps/cache") == ["rollout-added"]
    assert "1 target(s)" in changes(data, "apps/cache")[0]["message"]
    [moved] = changes(data, "apps/frontend")
    assert moved["kind"] == "target-moved" and moved["file"] == "apps/frontend/source.yaml"
    assert f"from {FRONTEND_OCI}:12 to apps/frontend/source.yaml:12" in moved["message"]
    assert data["errors"] == 0


def test_problem_on_base_listed_apart_and_does_not_fail(tmp_path: Path,
                                                        git_home: Path) -> None:
    broken = ("apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n"
              "  name: stray\n  namespace: apps\n  annotations:\n"
              "    rollout.kuberik.com/rollout: nobody\nspec:\n  ref:\n    tag: \"1.0.0\"\n")
    clone = _clone(tmp_path, git_home, sample_files(), prepare={"apps/stray.yaml": broken})
    # The pull request moves the broken document down a few lines: still the base's.
    clone.write("apps/stray.yaml", "# a comment\n# and another\n" + broken)
    clone.edit(PODINFO, "  bakeTime: 5m", '  wantedVersion: "6.5.0"\n  bakeTime: 5m')
    clone.commit()
    proc = clone.check("-o", "json")
    assert proc.returncode == 0, proc.stdout
    problems = json.loads(proc.stdout)["clusters"][0]["problems"]
    assert problems["introduced"] == []
    assert [(p["file"], p["line"]) for p in problems["existing"]] == [("apps/stray.yaml", 12)]
    # The existing orphan is no finding of this change either.
    assert kinds(json.loads(proc.stdout), "apps/nobody") == []
    markdown = clone.check("-o", "markdown")
    assert markdown.returncode == 0
    body = markdown.stdout
    assert body.startswith("<!-- reconciler-check -->\n## reconciler check: "
                           ":white_check_mark: no error introduced\n")
    assert "| Rollout | Effect |\n|---|---|\n| `apps/podinfo` | :warning: **pin**: " in body
    assert ("<details><summary>1 problem(s) already on base (not counted)</summary>\n\n"
            "- :x: `apps/stray.yaml:12` ") in body
    assert body.endswith("</details>\n")
    assert "Problems introduced" not in body
    text = clone.check().stdout
    assert "problems already on base, not counted (1):" in text
    assert "0 errors, 0 warnings introduced; 1 problems already on base" in text


def test_markdown_lists_introduced_problems(clone: Clone) -> None:
    clone.edit(PODINFO, "  bakeTime: 5m", "  policy: nonsense\n  bakeTime: 5m")
    clone.edit(PODINFO, "  policy: standard          # minor and patch releases flow on "
                        "their own\n", "")
    clone.commit()
    proc = clone.check("-o", "markdown")
    assert proc.returncode == 1
    assert "## reconciler check: :x: 1 error(s) introduced" in proc.stdout
    assert "**Problems introduced (1)**\n\n- :x: `apps/podinfo/rollout.yaml:1` spec.policy: " \
           "unknown preset 'nonsense'" in proc.stdout
    assert "<details>" not in proc.stdout


@pytest.mark.parametrize("flag", ["--base", "--head"])
def test_bad_revision_exit_2_naming_the_flag(clone: Clone, flag: str) -> None:
    args = ["check", "--repo", str(clone.path), "--base", "origin/main", flag, "no-such-rev"]
    proc = run(*args, cache=clone.path.parent / "cache")
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert line.startswith(f"reconciler: error: {flag} 'no-such-rev' names no commit in ")


def test_revisions_as_git_names_them(clone: Clone) -> None:
    base = clone.git("rev-parse", "HEAD").strip()
    clone.edit(PODINFO, "  bakeTime: 5m", '  wantedVersion: "6.5.0"\n  bakeTime: 5m')
    head = clone.commit()
    clone.commit("one more")
    for base_rev, head_rev in ((base[:10], "HEAD~1"), ("remotes/origin/main", "HEAD^"),
                               ("refs/remotes/origin/main", head)):
        proc = run("check", "--repo", str(clone.path), "--base", base_rev, "--head", head_rev,
                   "-o", "json", cache=clone.path.parent / "cache")
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert (data["base"]["commit"], data["head"]["commit"]) == (base, head)
        assert kinds(data, "apps/podinfo") == ["pin"]


FLEET = ROOT / "examples" / "fleet"


def test_fleet_reports_each_cluster(tmp_path: Path, git_home: Path) -> None:
    files: dict[str, bytes | str] = {p.relative_to(FLEET).as_posix(): p.read_bytes()
                                     for p in sorted(FLEET.rglob("*")) if p.is_file()}
    clone = _clone(tmp_path, git_home, files)
    clone.edit("apps/staging/rollout.yaml", "  bakeTime: 10m",
               '  wantedVersion: "6.5.0"\n  bakeTime: 10m')
    clone.commit()
    data = clone.json()
    assert [(c["environment"], c["path"]) for c in data["clusters"]] == [
        ("production", "clusters/production"), ("staging", "clusters/staging")]
    assert kinds(data, "apps/podinfo", cluster=0) == []
    assert kinds(data, "apps/podinfo", cluster=1) == ["pin"]
    text = clone.check().stdout
    assert "== staging (clusters/staging) ==" in text
    github = clone.check("-o", "github").stdout
    assert github.startswith("::warning file=apps/staging/rollout.yaml,line=")
    assert "::[staging] apps/podinfo: spec.wantedVersion pins 6.5.0" in github
    one = clone.json("--path", "clusters/staging")
    assert [c["environment"] for c in one["clusters"]] == ["staging"]
    missing = run("check", "--repo", str(clone.path), "--base", "origin/main",
                  "--path", "clusters/nowhere", cache=clone.path.parent / "cache")
    assert missing.returncode == 2
    assert "--path 'clusters/nowhere'" in one_error_line(missing)
