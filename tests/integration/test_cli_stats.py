"""``reconciler stats`` as a process, on a repository whose history is written here:
release, revert and verdict commits with known times, verdicts as git notes, two
environments; the figures are checked to the second (docs/stats.md). The same
figures on the daemon's ``/metrics``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from reconciler.adapters import git
from reconciler.core import verdicts
from reconciler.engine import delivery
from reconciler.engine.releaser import Releaser
from reconciler.engine.repository import Repository
from reconciler.engine.verdicts import Verdicts
from reconciler.errors import InputError
from reconciler.interfaces import cli, exits, http, statscmd
from reconciler.interfaces.metrics import Metrics
from tests.support import gitrepo
from tests.support.cli import run
from tests.support.fakedaemon import FakeDaemon

PODINFO = "apps/podinfo"
NOW = datetime.now(UTC).replace(microsecond=0)
T = NOW - timedelta(days=20)


def message(action: str, release: str, env: str, *, previous: str | None = None,
            reverts: str | None = None) -> str:
    lines = [f"Rollout: {PODINFO}", f"Release: {release}"]
    lines += [f"Previous-Release: {previous}"] if previous else []
    lines += [f"Action: {action}", f"Environment: {env}"]
    lines += [f"Reverts: {reverts}"] if reverts else []
    return f"podinfo: {action} {release}\n\n" + "\n".join(lines) + "\n"


@pytest.fixture
def fleet(tmp_path: Path, git_home: Path) -> gitrepo.BareRepo:
    repo = gitrepo.make_bare_repo(tmp_path / "srv" / "fleet.git", {"README.md": "fleet\n"},
                                  home=git_home, message="Initial fleet configuration")
    count = 0

    def commit(when: datetime, text: str) -> str:
        nonlocal count
        count += 1  # every commit changes a file, as a release does
        return repo.commit({"version.txt": f"{count}\n"}, text, when=when)

    def note(sha: str, env: str, release: str, result: verdicts.Result,
             ended: datetime) -> None:
        text = verdicts.Verdict(commit=sha, rollout=PODINFO, release=release, environment=env,
                                result=result, started=ended - timedelta(minutes=5),
                                ended=ended).render()
        old = repo.git("notes", "--ref=reconciler", "list").decode()
        action = "append" if sha in old else "add"
        repo.git("notes", "--ref=reconciler", action, "-m", text, sha)

    day = timedelta(days=1)
    commit(NOW - timedelta(days=40), message("release", "6.3.0", "staging"))  # before --since
    r1 = commit(T, message("release", "6.4.0", "staging", previous="6.3.0"))
    note(r1, "staging", "6.4.0", "Succeeded", T + timedelta(minutes=10))
    r2 = commit(T + day, message("release", "6.5.0", "staging", previous="6.4.0"))
    note(r2, "staging", "6.5.0", "Failed", T + day + timedelta(minutes=5))
    commit(T + day + timedelta(minutes=6),
           message("revert", "6.4.0", "staging", previous="6.5.0", reverts=r2))
    r3 = commit(T + 2 * day, message("release", "6.5.1", "staging", previous="6.4.0"))
    note(r3, "staging", "6.5.1", "Succeeded", T + 2 * day + timedelta(minutes=20))
    commit(T + 3 * day, message("release", "6.6.0", "staging", previous="6.5.1"))  # baking
    p1 = commit(T + 5 * day, message("release", "6.5.1", "production", previous="6.4.0"))
    note(p1, "production", "6.5.1", "Succeeded", T + 5 * day + timedelta(hours=1))
    # Staging's verdict on the same commit is another environment's business.
    note(p1, "staging", "6.5.1", "Failed", T + 5 * day + timedelta(hours=2))
    return repo


def test_stats_json_from_commits_and_notes(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    proc = run("stats", "--repo", fleet.url, "-o", "json", cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["window_days"] == 30.0
    rows = {(g["environment"], g["rollout"]): g for g in data["rollouts"]}
    assert list(rows) == [("production", PODINFO), ("staging", PODINFO)]
    staging = rows[("staging", PODINFO)]
    assert {k: staging[k] for k in ("releases", "failed_releases", "verified_releases",
                                    "change_failure_rate", "unrestored_since")} == {
        "releases": 4, "failed_releases": 1, "verified_releases": 2,
        "change_failure_rate": 0.25, "unrestored_since": None}
    assert staging["deployment_frequency"]["per_day"] == pytest.approx(4 / 30)
    # 6.4.0 verified in 10m, 6.5.1 in 20m; 6.5.0 failed at +1d5m, 6.5.1 verified +2d20m.
    assert staging["lead_time_seconds"] == {"count": 2, "median": 900.0, "p90": 1140.0}
    assert staging["time_to_restore_seconds"] == {"count": 1, "median": 87300.0,
                                                  "p90": 87300.0}
    production = rows[("production", PODINFO)]
    assert (production["releases"], production["failed_releases"]) == (1, 0)
    assert production["lead_time_seconds"] == {"count": 1, "median": 3600.0, "p90": 3600.0}
    overall = data["overall"]
    assert (overall["releases"], overall["failed_releases"]) == (5, 1)
    assert overall["change_failure_rate"] == 0.2
    assert overall["lead_time_seconds"] == {"count": 3, "median": 1200.0, "p90": 3120.0}
    assert sum(w["releases"] for w in overall["weeks"]) == 5
    assert [e["environment"] for e in data["environments"]] == ["production", "staging"]

    # The rest in-process (a second interpreter start costs more than the command).
    runner = CliRunner(env={"RECONCILER_CACHE_DIR": str(tmp_path)})
    text = runner.invoke(cli.cli, ["stats", PODINFO, "--repo", fleet.url, "--since", "16d"])
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0].endswith("UTC (16d): release commits, bake verdicts and declines in git")
    assert lines[1].split() == ["ROLLOUT", "ENVIRONMENT", "RELEASES", "PER", "WEEK", "FAILED",
                                "CFR", "RESTORE", "P50", "RESTORE", "P90", "LEAD", "P50",
                                "LEAD", "P90"]
    # Only production's release (15 days ago) is within the last 16 days; staging's
    # rollout is listed all the same, with nothing in the window.
    assert [line.split() for line in lines[2:]] == [
        [PODINFO, "production", "1", "0.44", "0", "0%", "-", "-", "1h", "1h"],
        [PODINFO, "staging", "0", "0.00", "0", "-", "-", "-", "-", "-"]]

    unknown = runner.invoke(cli.cli, ["stats", "apps/nope", "--repo", fleet.url])
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith(
        "reconciler: error: no Rollout apps/nope in the repository and no reconciler commit")


@pytest.mark.parametrize(("text", "says"), [
    ("30 days", "--since: '30 days' is not a duration; write it like 12h, 30d or 2w"),
    ("0d", "--since '0d': the window must be longer than 0s"),
])
def test_since_is_an_input_error(text: str, says: str) -> None:
    with pytest.raises(InputError) as caught:
        statscmd.window(text)
    assert str(caught.value) == says
    assert exits.code(caught.value) == exits.EXIT_USAGE


def test_metrics_show_the_delivery_gauges_and_cache_them(
        fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    """The daemon's wiring (interfaces/daemon_main.py) over a real mirror, without the
    cluster: staging's reconciler exports staging's figures, computed at scrape time
    and again only once git moves."""
    mirror = git.Mirror.open(fleet.url, cache_dir=tmp_path / "daemon")
    repository = Repository(mirror=mirror, releaser=Releaser(mirror, environment="staging"))
    found = Verdicts(repository=repository, environment="staging")
    figures = delivery.Delivery(repository=repository, verdicts=found, environment="staging",
                                clock=lambda: datetime.now(UTC))
    metrics = Metrics(process_metrics=False)
    metrics.track_delivery(figures.figures)
    with TestClient(http.create_app(FakeDaemon(), webhook_secret=None,
                                    metrics=metrics)) as client:
        before = client.get("/metrics").text  # not read yet: every series, NaN
        assert 'reconciler_change_failure_ratio{window="30d"} NaN' in before
        repository.load()
        text = client.get("/metrics").text
        client.get("/metrics")
        assert figures.computed == 1  # git did not move: the second scrape is free
        for line in [
                'reconciler_deployment_frequency_per_day{window="7d"} 0.0',
                f'reconciler_deployment_frequency_per_day{{window="30d"}} {4 / 30!r}',
                'reconciler_change_failure_ratio{window="7d"} NaN',
                'reconciler_change_failure_ratio{window="30d"} 0.25',
                'reconciler_time_to_restore_seconds{quantile="0.5",window="30d"} 87300.0',
                'reconciler_time_to_restore_seconds{quantile="0.9",window="7d"} NaN',
                'reconciler_lead_time_seconds{quantile="0.5",window="30d"} 900.0',
                'reconciler_lead_time_seconds{quantile="0.9",window="30d"} 1140.0']:
            assert line in text, line
        fleet.commit({"version.txt": "hotfix\n"}, message("release", "6.6.1", "staging"),
                     when=NOW - timedelta(days=1))
        repository.fetch(interval=1.0, cap=1.0)
        moved = client.get("/metrics").text
        assert figures.computed == 2
        assert f'reconciler_deployment_frequency_per_day{{window="7d"}} {1 / 7!r}' in moved
