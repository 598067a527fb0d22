"""Hostile input in the config repository: every repository case of the corpus
(hostilerepo.py) is a test.

For each: a clear error naming the file, document and field on one line; the
repository untouched (a refused release leaves the remote head where it was, an
accepted one leaves every hostile file byte-identical and writes only podinfo's
targets).

The cases run the real CLI in this process (click's runner: the same code path as the
console script, exit codes included) against a bare repository over ``file://``. The
big inputs (alias bombs, 10 MB files, deep nesting) run their ``validate`` as a child
process that reports its own peak RSS: memory bounded (``PEAK_GROWTH``), time bounded
by the test timeout and printed. One more test runs ``validate`` and ``release`` as
processes over a repository holding every combinable case at once, and one offers
every hostile tag on the command line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reconciler.interfaces.cli import cli
from tests.integration.conftest import sample_files
from tests.reliability import hostile, hostilerepo
from tests.reliability.craftedtree import changed_paths, commit_raw, tree_entries
from tests.reliability.hostile import APPS
from tests.reliability.hostilerepo import RepoCase
from tests.support import gitrepo

MiB = 1024 * 1024
PEAK_GROWTH = 200 * MiB  # over a validate of the plain sample repository
REPO_CASES = hostilerepo.all_repo_cases()


# -- the repository ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> gitrepo.BareRepo:
    """sample-repo/ as a bare repository, built once and copied for each case."""
    tmp = tmp_path_factory.mktemp("template")
    return gitrepo.make_bare_repo(tmp / "fleet.git", sample_files(), home=tmp / "home",
                                  message="Initial fleet configuration")


def copy_repo(template: gitrepo.BareRepo, where: Path) -> gitrepo.BareRepo:
    shutil.copytree(template.path, where / "fleet.git")
    return gitrepo.BareRepo(path=where / "fleet.git", home=template.home)


def apply_case(repo: gitrepo.BareRepo, case: RepoCase) -> str:
    if case.files or case.symlinks:
        repo.commit(dict(case.files), f"hostile: {case.name}", symlinks=case.symlinks)
    if case.raw:
        commit_raw(repo, case.raw, f"hostile: {case.name} (crafted tree)")
    return repo.head()


def identity(repo: gitrepo.BareRepo, rev: str, case: RepoCase) -> dict[str, Any]:
    """What must not change: each hostile path's object id (a symlink's too), and the
    raw entries of each crafted directory."""
    found: dict[str, Any] = {}
    for path in case.hostile_paths:
        found[path] = repo.git("rev-parse", f"{rev}:{path}").decode().strip()
    for raw in case.raw:
        tree = f"{rev}^{{tree}}" if not raw.parent else f"{rev}:{raw.parent}"
        found[f"raw:{raw.parent}/{raw.name!r}"] = next(
            e for e in tree_entries(repo, tree) if e[1] == raw.name)
    return found


# -- the CLI ------------------------------------------------------------------------------------

def run_cli(*args: str, repo: gitrepo.BareRepo, cache: Path) -> Result:
    """``reconciler <args> --repo <repo>`` in this process, as the console script runs it."""
    result = CliRunner().invoke(cli, [*args, "--repo", repo.url, "--cache-dir", str(cache)],
                                prog_name="reconciler")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"reconciler {args[0]} raised (a traceback for the user): "
                             f"{result.exception!r}") from result.exception
    return result


@dataclass
class Child:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss: int  # bytes, the child's own high-water mark


# The console script, reporting its own peak RSS when it exits (sys.exit included).
# VmHWM belongs to the process's own address space; getrusage's ru_maxrss would not
# do: Linux carries the parent's high-water mark across a (v)fork and exec.
_MEASURED = """\
import atexit, os, sys
def _peak():
    try:
        with open("/proc/self/status") as status:
            kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):  # not Linux: nothing measured
        kib = "0"
    with open(os.environ["PEAK_RSS_FILE"], "w") as out:
        out.write(kib)
atexit.register(_peak)
sys.argv[0] = "reconciler"
from reconciler.interfaces.cli import main
main()
"""


def run_measured(*args: str, cache: Path) -> Child:
    """``reconciler <args>`` as a child process: output, seconds and peak RSS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    peak = cache.parent / f"peak-rss-{time.monotonic_ns()}"
    env.update(RECONCILER_CACHE_DIR=str(cache), PEAK_RSS_FILE=str(peak))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _MEASURED, *args], env=env,
                          capture_output=True, text=True, timeout=110, check=False)
    seconds = time.monotonic() - started
    return Child(proc.returncode, proc.stdout, proc.stderr, seconds,
                 int(peak.read_text()) * 1024)


@pytest.fixture(scope="module")
def baseline_rss(template: gitrepo.BareRepo, tmp_path_factory: pytest.TempPathFactory) -> int:
    child = run_measured("validate", "--repo", template.url,
                         cache=tmp_path_factory.mktemp("baseline"))
    assert child.returncode == 0, child.stderr
    return child.peak_rss


def no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


def problem_lines(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    # One problem a line: a newline in a file name, key or value cannot start a line.
    for line in lines:
        assert line.startswith(("error: ", "warning: ")), (line, stdout)
    return lines


def check_validate(case: RepoCase, code: int, stdout: str, stderr: str) -> None:
    no_traceback(stderr)
    assert code == case.validate_exit, f"exit {code}\n{stdout}{stderr}"
    lines = problem_lines(stdout)
    if case.severity == "none":
        assert not lines, stdout
        return
    hits = [ln for ln in lines if case.where in ln and case.says in ln]
    assert hits, f"no line with {case.where!r} and {case.says!r}:\n{stdout}"
    assert hits[0].startswith(f"{case.severity}: "), hits[0]
    assert " errors, " in stderr.splitlines()[-1], stderr


def stderr_lines(result: Result) -> list[str]:
    lines = result.stderr.splitlines()
    for line in lines:
        assert line.startswith("reconciler: "), (line, result.stderr)
    return lines


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=[pytest.mark.slow] * c.slow)
                                  for c in REPO_CASES])
def test_repository_case(case: RepoCase, template: gitrepo.BareRepo, tmp_path: Path,
                         request: pytest.FixtureRequest) -> None:
    repo = copy_repo(template, tmp_path)
    head = apply_case(repo, case)
    before = identity(repo, head, case)
    cache = tmp_path / "cache"

    # validate: one line naming file, document and field; exit 1 on errors.
    if case.heavy:
        child = run_measured("validate", "--repo", repo.url, cache=cache)
        check_validate(case, child.returncode, child.stdout, child.stderr)
        growth = child.peak_rss - request.getfixturevalue("baseline_rss")
        print(f"{case.name}: validate {child.seconds:.1f}s, peak RSS "
              f"{child.peak_rss / MiB:.0f} MiB ({growth / MiB:+.0f} MiB over the baseline)")
        assert growth < PEAK_GROWTH, f"{case.name}: peak RSS grew by {growth / MiB:.0f} MiB"
    else:
        result = run_cli("validate", repo=repo, cache=cache)
        check_validate(case, result.exit_code, result.stdout, result.stderr)

    # plan: read-only, exit 0, JSON that parses; warnings one line each. (A big input
    # costs one more scan of the same bytes that release does anyway: skipped.)
    if not case.heavy:
        plan = run_cli("plan", "-o", "json", repo=repo, cache=cache)
        assert plan.exit_code == 0, plan.stderr
        rollouts = {p["rollout"]: p for p in json.loads(plan.stdout)}
        assert "apps/podinfo" in rollouts
        stderr_lines(plan)

    # release: lands without touching a hostile byte, or is refused with one line.
    release = run_cli("release", "apps/podinfo", "6.5.0", "--push", repo=repo, cache=cache)
    lines = stderr_lines(release)
    if case.release == "refused":
        assert release.exit_code == 2, release.stdout + release.stderr
        errors = [ln for ln in lines if ln.startswith("reconciler: error: ")]
        assert len(errors) == 1 and errors == lines[-1:], lines
        for fragment in case.refused:
            assert fragment in errors[0], (fragment, errors[0])
        assert repo.head() == head
        return
    assert release.exit_code == 0, release.stdout + release.stderr
    assert "pushed" in release.stdout
    new = repo.head()
    assert repo.git("rev-parse", f"{new}^").decode().strip() == head
    assert changed_paths(repo, head, new) == [APPS]
    after = identity(repo, new, case)
    if case.release == "rewrites":  # the hostile value was a target: replaced, nothing else
        old, now = repo.show(head, APPS), repo.show(new, APPS)
        for value, release in case.rewrite:
            old = old.replace(value, release)
        assert now == old, now.decode()
        after.pop(APPS), before.pop(APPS)
    assert after == before


def test_every_combinable_case_at_once_through_the_console_script(
        template: gitrepo.BareRepo, tmp_path: Path) -> None:
    """The real process over one repository holding every case that has its own files:
    one line per problem, exit 1; then a release of podinfo that touches none of them."""
    cases = [c for c in REPO_CASES if c.combinable and not c.heavy]
    repo = copy_repo(template, tmp_path)
    files: dict[str, bytes | str] = {}
    symlinks: dict[str, str] = {}
    for case in cases:
        files.update(case.files)
        symlinks.update(case.symlinks)
    repo.commit(files, "hostile: everything at once", symlinks=symlinks)
    head = repo.head()
    proc = subprocess.run([sys.executable, "-m", "reconciler", "validate", "--repo", repo.url,
                           "--cache-dir", str(tmp_path / "cache")], capture_output=True,
                          text=True, timeout=110, check=False)
    no_traceback(proc.stderr)
    assert proc.returncode == 1
    lines = problem_lines(proc.stdout)
    for case in cases:
        if case.severity != "none":
            assert any(case.where in ln and case.says in ln for ln in lines), case.name
    rel = subprocess.run([sys.executable, "-m", "reconciler", "release", "apps/podinfo",
                          "6.5.0", "--repo", repo.url, "--push", "--cache-dir",
                          str(tmp_path / "cache")], capture_output=True, text=True,
                         timeout=110, check=False)
    no_traceback(rel.stderr)
    assert rel.returncode == 0, rel.stderr
    assert changed_paths(repo, head, repo.head()) == [APPS]
    for line in rel.stderr.splitlines():
        assert line.startswith("reconciler: warning: skipped, never rewritten: "), line


@pytest.mark.parametrize("tag", hostile.HOSTILE_TAGS, ids=[t.name for t in hostile.HOSTILE_TAGS])
def test_hostile_tag_on_the_command_line(tag: hostile.Tag, template: gitrepo.BareRepo,
                                         tmp_path: Path) -> None:
    """``release apps/podinfo <tag>``: exit 2, one line giving the reason with the tag
    escaped, nothing written. ``plan --release``: the candidate is ignored, and says so
    on one line."""
    repo = copy_repo(template, tmp_path)
    head = repo.head()
    release = run_cli("release", "apps/podinfo", tag.value, "--push", repo=repo,
                      cache=tmp_path / "cache")
    lines = stderr_lines(release)
    assert (release.exit_code, len(lines)) == (2, 1), lines
    assert tag.why in lines[0], lines[0]
    plan = run_cli("plan", "--release", f"apps/podinfo={tag.value}", repo=repo,
                   cache=tmp_path / "cache")
    assert plan.exit_code == 0, plan.stderr
    ignored = [ln for ln in plan.stdout.splitlines() if ln.strip().startswith("Ignored")]
    assert len(ignored) == 1 and "not a valid semver OCI tag" in ignored[0], plan.stdout
    assert "apps/podinfo: nothing to do (at 6.4.0)" in plan.stdout
    assert repo.head() == head
