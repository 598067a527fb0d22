"""The dashboard's charts (inline SVG) and the figures behind them (``stats.judged``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from reconciler.core import stats, trailers, verdicts
from reconciler.interfaces.ui import charts

T = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


def record(sha: str, release: str, when: datetime, action: str = "release") -> trailers.Record:
    return trailers.Record(commit=sha, time=when, subject=f"podinfo: {release}",
                           trailers=trailers.Trailers(rollout="apps/podinfo", action=action,
                                                      release=release))


def verdict(sha: str, release: str, result: str, ended: datetime,
            env: str = "default") -> verdicts.Verdict:
    return verdicts.Verdict(commit=sha, rollout="apps/podinfo", release=release,
                            environment=env, result=result, ended=ended)  # type: ignore[arg-type]


def test_judged_pairs_each_release_with_its_first_verdict_of_its_environment() -> None:
    records = [record("c3", "1.2.0", T + timedelta(days=2)), record("c2", "1.1.0", T),
               record("c1", "1.0.0", T - timedelta(days=30)),
               record("r1", "1.0.0", T + timedelta(days=1), action="revert")]
    found = [verdict("c2", "1.1.0", "Succeeded", T + timedelta(minutes=20)),
             verdict("c2", "1.1.0", "Failed", T + timedelta(hours=5)),  # later: ignored
             verdict("c3", "1.2.0", "Failed", T + timedelta(days=2, minutes=7)),
             verdict("c3", "1.2.0", "Succeeded", T + timedelta(days=2, minutes=1), env="x"),
             verdict("c1", "1.0.0", "Succeeded", T - timedelta(days=29))]
    got = stats.judged(records, found, since=T - timedelta(days=7), now=T + timedelta(days=3))
    assert [(j.release, j.result, j.seconds) for j in got] == [
        ("1.1.0", "Succeeded", 1200.0), ("1.2.0", "Failed", 420.0)]


def test_weekly_bars_stack_failures_and_every_bar_has_a_tooltip() -> None:
    weeks = [stats.Week(week="2026-W45", start=date(2026, 11, 2), releases=3, failures=1),
             stats.Week(week="2026-W46", start=date(2026, 11, 9), releases=0, failures=0)]
    svg = str(charts.weekly(weeks, caption="Releases <per> week"))
    assert svg.startswith('<svg class="chart" viewBox="0 0 640 200" role="img" '
                          'aria-label="Releases &lt;per&gt; week">')
    assert svg.count('<rect class="ok"') == 1 and svg.count('<rect class="bad"') == 1
    assert "<title>week of 2026-11-02: 3 releases, 1 failed</title>" in svg
    assert "style=" not in svg  # the Content-Security-Policy allows no inline style


def test_verdict_times_per_release_and_per_week_and_an_empty_chart_says_so() -> None:
    judged = [stats.Judged(rollout="apps/podinfo", release="1.1.0", commit="c2" * 20,
                           released=T, result="Succeeded", seconds=600),
              stats.Judged(rollout="apps/podinfo", release="1.2.0", commit="c3" * 20,
                           released=T + timedelta(days=1), result="Failed", seconds=1800)]
    per_release = str(charts.verdict_times(judged, caption="c", per_week=False))
    assert "1.2.0 (c3c3c3c3c3c3): Failed 30m after its release commit" in per_release
    week = stats.Week(week="2026-W45", start=date(2026, 11, 2), releases=2, failures=1)
    weekly = str(charts.verdict_times(judged, caption="c", per_week=True, weeks=[week]))
    assert "median 20m over 2 verdicts" in weekly
    assert ">5m</text>" in weekly and ">20m</text>" in weekly  # round gridlines of time
    assert "nothing in this window yet" in str(charts.bars([], caption="c"))
