"""Delivery metrics (reconciler.core.stats) over a hand-built history whose answers
were worked out by hand: a revert after a failed bake, a revert by hand, a rollback,
a superseded release, a release still waiting for its verdict, a commit without an
Environment trailer, two environments, declined pull requests, and the window's
edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.core import declines, durations, stats, trailers, verdicts

NOW = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=30)  # 2026-12-01T12:00Z
PODINFO = "apps/podinfo"


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def record(commit: str, when: datetime, action: trailers.Action, release: str, *,
           env: str | None, previous: str | None = None, reverts: str | None = None,
           rollout: str = PODINFO) -> trailers.Record:
    return trailers.Record(commit=commit, time=when, subject=commit, trailers=trailers.Trailers(
        rollout=rollout, action=action, release=release, previous_release=previous,
        reverts=reverts, environment=env))


def verdict(commit: str, release: str, env: str, result: verdicts.Result,
            ended: datetime) -> verdicts.Verdict:
    return verdicts.Verdict(commit=commit, rollout=PODINFO, release=release, environment=env,
                            result=result, ended=ended, started=ended - timedelta(minutes=5))


# Oldest first here; compute() is given them newest first, as git lists them.
STAGING = [
    record("r0", at(11, 20, 9), "release", "6.3.0", env="staging"),  # before the window
    record("r1", at(12, 2, 10), "release", "6.4.0", env="staging"),
    record("r2", at(12, 5, 9), "release", "6.5.0", env="staging"),  # bake fails
    record("v2", at(12, 5, 9, 21), "revert", "6.4.0", previous="6.5.0", reverts="r2",
           env="staging"),
    record("r3", at(12, 8, 9), "release", "6.5.1", env="staging"),
    record("r4", at(12, 10, 9), "release", "6.6.0", env="staging"),  # reverted by hand
    record("v4", at(12, 10, 12), "revert", "6.5.1", previous="6.6.0", reverts="r4",
           env="staging"),
    record("r5", at(12, 11, 9), "release", "6.6.1", env="staging"),  # superseded
    record("r6", at(12, 11, 10), "release", "6.6.2", env="staging"),
    record("r7", at(12, 20, 9), "release", "6.7.0", env="staging"),  # verified, rolled back
    record("b7", at(12, 21, 9), "rollback", "6.6.2", previous="6.7.0", env="staging"),
    record("r8", at(12, 30, 9), "release", "6.8.0", env=None),  # no verdict yet; no trailer
]
PRODUCTION = [
    record("p0", at(11, 29, 9), "release", "6.4.0", env="production"),
    record("q0", at(11, 29, 9, 11), "revert", "6.3.0", previous="6.4.0", reverts="p0",
           env="production"),
    record("p1", at(11, 30, 9), "release", "6.4.1", env="production"),
    record("p2", at(12, 9, 9), "release", "6.5.1", env="production"),
    record("p3", at(12, 15, 9), "release", "6.6.2", env="production"),  # fails, hand hotfix
    record("p4", at(12, 16, 9), "release", "6.6.3", env="production"),
]
VERDICTS = [
    verdict("r0", "6.3.0", "staging", "Succeeded", at(11, 20, 9, 10)),
    verdict("r1", "6.4.0", "staging", "Succeeded", at(12, 2, 10, 30)),
    verdict("r2", "6.5.0", "staging", "Failed", at(12, 5, 9, 20)),
    verdict("r3", "6.5.1", "staging", "Succeeded", at(12, 8, 10)),
    verdict("r6", "6.6.2", "staging", "Succeeded", at(12, 11, 10, 15)),
    verdict("r7", "6.7.0", "staging", "Succeeded", at(12, 20, 9, 30)),
    verdict("p0", "6.4.0", "production", "Failed", at(11, 29, 9, 10)),
    verdict("p1", "6.4.1", "production", "Succeeded", at(11, 30, 9, 10)),
    verdict("p2", "6.5.1", "production", "Succeeded", at(12, 9, 11)),
    verdict("p3", "6.6.2", "production", "Failed", at(12, 15, 9, 5)),
    verdict("p4", "6.6.3", "production", "Succeeded", at(12, 16, 10)),
    # Staging's verdict on a production commit says nothing about production.
    verdict("p2", "6.5.1", "staging", "Failed", at(12, 9, 12)),
    # A verdict after "now" does not exist yet.
    verdict("r8", "6.8.0", "staging", "Succeeded", NOW + timedelta(hours=1)),
]


def decision(release: str, when: datetime, what: declines.Decision) -> declines.Decline:
    return declines.Decline(commit=f"pr-{release}", rollout="apps/frontend", release=release,
                            environment="staging", number=7, at=when, decision=what)


DECIDED = [decision("2.0.0", at(12, 12, 9), "Declined"),
           decision("2.1.0", at(12, 13, 9), "Declined"),
           decision("2.1.0", at(12, 14, 9), "Resumed"),
           decision("1.9.0", at(11, 1, 9), "Declined")]  # before the window


def report(since: datetime = SINCE) -> stats.Report:
    history = (STAGING + PRODUCTION)[::-1]
    return stats.compute(history, VERDICTS, since=since, now=NOW, environment="staging",
                         decided=DECIDED)


def test_per_rollout_and_environment() -> None:
    groups = dict(report().groups)
    assert list(groups) == [(PODINFO, "production"), ("apps/frontend", "staging"),
                            (PODINFO, "staging")]
    staging = groups[(PODINFO, "staging")]
    # r1..r8 (r0 is before the window; r8 has no Environment trailer: staging's).
    assert (staging.releases, staging.failed, staging.verified) == (8, 3, 4)
    assert staging.change_failure_rate == 3 / 8  # r2 (failed bake), r4 (revert), r7 (rollback)
    assert staging.per_day == pytest.approx(8 / 30)
    assert staging.per_week == pytest.approx(8 * 7 / 30)
    # Lead times r1 30m, r3 1h, r6 15m, r7 30m.
    assert staging.lead_time == stats.Spread(count=4, median=1800.0, p90=3060.0)
    # r2 failed 12-05 09:20 -> r3 verified 12-08 10:00; r4 reverted 12-10 12:00 ->
    # r6 verified 12-11 10:15. r7's rollback (12-21 09:00) is not restored yet.
    assert staging.time_to_restore == stats.Spread(count=2, median=170850.0, p90=243450.0)
    assert staging.unrestored_since == at(12, 21, 9)
    assert [(w.week, w.start.isoformat(), w.releases, w.failures) for w in staging.weeks] == [
        ("2026-W49", "2026-11-30", 2, 1), ("2026-W50", "2026-12-07", 4, 1),
        ("2026-W51", "2026-12-14", 1, 1), ("2026-W52", "2026-12-21", 0, 0),
        ("2026-W53", "2026-12-28", 1, 0)]
    production = groups[(PODINFO, "production")]
    # p0/p1 are before the window: p0's failure was restored (p1) before it, too.
    assert (production.releases, production.failed, production.verified) == (3, 1, 2)
    assert production.lead_time == stats.Spread(count=2, median=5400.0, p90=6840.0)
    assert production.time_to_restore == stats.Spread(count=1, median=89700.0, p90=89700.0)
    assert production.unrestored_since is None
    frontend = groups[("apps/frontend", "staging")]
    assert (frontend.releases, frontend.declined, frontend.change_failure_rate) == (0, 1, None)
    assert frontend.lead_time == stats.Spread() and frontend.per_day == 0


def test_overall_and_per_environment_pool_the_groups() -> None:
    result = report()
    overall = result.overall
    assert (overall.releases, overall.failed, overall.verified, overall.declined) == (11, 4, 6, 1)
    assert overall.change_failure_rate == 4 / 11
    assert overall.lead_time == stats.Spread(count=6, median=2700.0, p90=5400.0)
    assert overall.time_to_restore == stats.Spread(count=3, median=89700.0, p90=227220.0)
    assert overall.unrestored_since == at(12, 21, 9)
    assert [(w.releases, w.failures) for w in overall.weeks] == [(2, 1), (5, 1), (3, 2), (0, 0),
                                                             (1, 0)]
    envs = dict(result.environments)
    assert (envs["staging"].releases, envs["staging"].declined) == (8, 1)
    assert envs["production"].releases == 3


def test_the_window_cuts_releases_and_restores_off() -> None:
    groups = dict(report(since=at(12, 9, 10)).groups)
    staging = groups[(PODINFO, "staging")]
    assert (staging.releases, staging.failed) == (5, 2)  # r4..r8
    # r2's episode ended before the window; r4's ended in it.
    assert staging.time_to_restore == stats.Spread(count=1, median=80100.0, p90=80100.0)
    production = groups[(PODINFO, "production")]
    assert production.releases == 2  # p2 (09:00) is cut off
    assert production.per_day == pytest.approx(2 / (NOW - at(12, 9, 10)).total_seconds()
                                                * 86400)


def test_empty_history() -> None:
    result = stats.compute([], [], since=SINCE, now=NOW)
    assert result.groups == () and result.environments == ()
    overall = result.overall
    assert (overall.releases, overall.per_day, overall.change_failure_rate) == (0, 0.0, None)
    assert overall.time_to_restore == stats.Spread() and overall.unrestored_since is None
    assert [w.releases for w in overall.weeks] == [0, 0, 0, 0, 0]
    assert result.as_dict()["overall"]["time_to_restore_seconds"] == {
        "count": 0, "median": None, "p90": None}


def test_json_shape() -> None:
    data = report().as_dict()
    assert data["since"] == "2026-12-01T12:00:00+00:00" and data["window_days"] == 30.0
    first = data["rollouts"][0]
    assert list(first) == [
        "rollout", "environment", "releases", "deployment_frequency", "failed_releases",
        "change_failure_rate", "verified_releases", "declined_releases",
        "time_to_restore_seconds", "unrestored_since", "lead_time_seconds", "weeks"]
    assert first["weeks"][0] == {"week": "2026-W49", "start": "2026-11-30", "releases": 0,
                                 "failures": 0}
    assert [e["environment"] for e in data["environments"]] == ["production", "staging"]


@pytest.mark.parametrize(("values", "median", "p90"), [
    ([5.0], 5.0, 5.0), ([1.0, 2.0], 1.5, 1.9), ([1.0, 2.0, 3.0, 4.0, 10.0], 3.0, 7.6)])
def test_quantiles_interpolate(values: list[float], median: float, p90: float) -> None:
    assert stats.quantile(values, 0.5) == pytest.approx(median)
    assert stats.quantile(values, 0.9) == pytest.approx(p90)


def test_spans_take_days_and_weeks_only_when_asked() -> None:
    assert durations.parse("30d", days=True) == timedelta(days=30)
    assert durations.parse("2w12h", days=True) == timedelta(days=14, hours=12)
    with pytest.raises(ValueError, match="write it like 90s"):
        durations.parse("30d")  # a spec field is Go's duration: no days
    with pytest.raises(ValueError, match="write it like 12h, 30d or 2w"):
        durations.parse("30 days", days=True)


def step(commit: str, when: datetime, release: str, stage: str | None) -> trailers.Record:
    action: trailers.Action = "step" if stage else "promote"
    return trailers.Record(commit=commit, time=when, subject=commit, trailers=trailers.Trailers(
        rollout=PODINFO, action=action, release=release, previous_release="1.0.0",
        environment="prod", step=stage))


def test_a_canary_counts_once_from_its_step_one() -> None:
    """Two canaries: 2.0.0 steps and is promoted and verified (its verdict is on the
    promote commit); 2.1.0 fails at step 2 and one revert names that step commit."""
    history = [
        step("s1", at(12, 2, 9), "2.0.0", "1/2"), step("s2", at(12, 2, 10), "2.0.0", "2/2"),
        step("pr", at(12, 2, 11), "2.0.0", None),
        step("t1", at(12, 3, 9), "2.1.0", "1/2"), step("t2", at(12, 3, 10), "2.1.0", "2/2"),
        record("rv", at(12, 3, 10, 30), "revert", "2.0.0", previous="2.1.0", reverts="t2",
               env="prod"),
    ]
    found = [verdict("pr", "2.0.0", "prod", "Succeeded", at(12, 2, 12)),
             verdict("t2", "2.1.0", "prod", "Failed", at(12, 3, 10, 29))]
    result = stats.compute(history[::-1], found, since=SINCE, now=NOW, environment="prod")
    figures = result.overall
    assert (figures.releases, figures.failed, figures.verified) == (2, 1, 1)


def test_the_overall_figures_of_several_windows_are_each_windows_own() -> None:
    """``/metrics`` computes the overall figures of its windows in one pass
    (``stats.overall``); each must be what the window's own report says."""
    history = (STAGING + PRODUCTION)[::-1]
    windows = {"1d": NOW - timedelta(days=1), "7d": NOW - timedelta(days=7), "30d": SINCE,
               "90d": NOW - timedelta(days=90)}
    found = stats.overall(history, VERDICTS, windows=windows, now=NOW, environment="staging",
                          decided=iter(DECIDED))
    assert found == {name: stats.compute(history, VERDICTS, since=since, now=NOW,
                                         environment="staging", decided=DECIDED).overall
                     for name, since in windows.items()}
    assert found["30d"].declined == 1 and found["90d"].releases > found["7d"].releases
