"""Deploy windows (reconciler.core.windows): schedules over time zones, clock changes,
midnight, date ranges and recurrences; several schedules together (Deny wins)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from reconciler.core import recurrence, schedulemodels, windows

NY = windows.zone("America/New_York")
BERLIN = windows.zone("Europe/Berlin")
H = timedelta(hours=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def schedule(*rules: dict[str, Any], action: str = "Deny", timezone: str = "UTC",
             name: str = "s") -> windows.Schedule:
    obj = {"apiVersion": "kuberik.com/v1alpha1", "kind": "RolloutSchedule",
           "metadata": {"name": name, "namespace": "apps"},
           "spec": {"rolloutSelector": {}, "rules": list(rules), "timezone": timezone,
                    "action": action}}
    found = schedulemodels.schedule(obj)
    assert isinstance(found, windows.Schedule), found
    return found


def spans(s: windows.Schedule, lo: datetime, hi: datetime) -> list[tuple[datetime, datetime]]:
    """When ``s`` is active between lo and hi, walking its transitions."""
    out, t = [], lo
    while t < hi:
        st = windows.state(s, t)
        nxt = min(st.next_transition or hi, hi)
        if st.active:
            out.append((t, nxt))
        t = nxt
    return out


# -- clock changes ----------------------------------------------------------------


def test_a_time_skipped_by_spring_forward_is_the_moment_of_the_jump() -> None:
    # America/New_York, 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00Z).
    assert windows.instant(datetime(2026, 3, 8, 2, 30), NY) == utc(2026, 3, 8, 7)
    assert windows.instant(datetime(2026, 3, 8, 1, 59), NY) == utc(2026, 3, 8, 6, 59)
    assert windows.instant(datetime(2026, 3, 8, 3, 0), NY) == utc(2026, 3, 8, 7)
    # Europe/Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z).
    assert windows.instant(datetime(2026, 3, 29, 2, 30), BERLIN) == utc(2026, 3, 29, 1)


def test_a_time_repeated_by_fall_back_is_its_first_occurrence() -> None:
    # America/New_York, 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 twice.
    assert windows.instant(datetime(2026, 11, 1, 1, 30), NY) == utc(2026, 11, 1, 5, 30)
    assert windows.instant(datetime(2026, 11, 1, 2, 0), NY) == utc(2026, 11, 1, 7)


def test_spring_forward_shortens_a_window_over_the_skipped_hour() -> None:
    s = schedule({"timeRange": {"start": "01:30", "end": "04:00"}},
                 timezone="America/New_York")
    day = spans(s, utc(2026, 3, 8, 4), utc(2026, 3, 8, 12))
    assert day == [(utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 8))]  # 1.5 h, not 2.5 h


def test_a_window_inside_the_skipped_hour_does_not_happen_that_day() -> None:
    s = schedule({"timeRange": {"start": "02:00", "end": "02:45"}},
                 timezone="America/New_York")
    assert spans(s, utc(2026, 3, 8, 4), utc(2026, 3, 8, 12)) == []
    assert spans(s, utc(2026, 3, 9, 4), utc(2026, 3, 9, 12)) == [
        (utc(2026, 3, 9, 6), utc(2026, 3, 9, 6, 45))]


def test_a_window_opening_in_the_skipped_hour_opens_at_the_jump() -> None:
    s = schedule({"timeRange": {"start": "02:30", "end": "05:00"}},
                 timezone="Europe/Berlin")
    assert spans(s, utc(2026, 3, 28, 22), utc(2026, 3, 29, 12)) == [
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 3))]


def test_fall_back_lengthens_a_window_over_the_repeated_hour_in_one_stretch() -> None:
    s = schedule({"timeRange": {"start": "01:30", "end": "03:00"}},
                 timezone="America/New_York")
    # 01:30 EDT (05:30Z) to 03:00 EST (08:00Z): 2.5 h, never closing in between.
    assert spans(s, utc(2026, 11, 1, 4), utc(2026, 11, 1, 12)) == [
        (utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 8))]
    ends_inside = schedule({"timeRange": {"start": "00:00", "end": "01:30"}},
                           timezone="America/New_York")
    assert spans(ends_inside, utc(2026, 11, 1, 3), utc(2026, 11, 1, 12)) == [
        (utc(2026, 11, 1, 4), utc(2026, 11, 1, 5, 30))]


def test_a_day_whose_midnight_is_skipped_starts_when_the_clock_jumps() -> None:
    """America/Santiago, 2026-09-06: 00:00 jumps to 01:00 (04:00Z)."""
    s = schedule({"daysOfWeek": ["Sunday"]}, timezone="America/Santiago")
    assert spans(s, utc(2026, 9, 5), utc(2026, 9, 8)) == [
        (utc(2026, 9, 6, 4), utc(2026, 9, 7, 3))]  # 23 hours


# -- time zones, midnight, dates ----------------------------------------------------


def test_the_same_rule_in_two_time_zones() -> None:
    rule = {"timeRange": {"start": "09:00", "end": "17:00"}}
    now = utc(2026, 7, 15, 12)  # 08:00 in New York, 21:00 in Tokyo
    ny = windows.state(schedule(rule, timezone="America/New_York"), now)
    tokyo = windows.state(schedule(rule, timezone="Asia/Tokyo"), now)
    assert not ny.active and ny.next_transition == utc(2026, 7, 15, 13)
    assert not tokyo.active and tokyo.next_transition == utc(2026, 7, 16, 0)
    assert windows.state(schedule(rule, timezone=""), now).active  # "" is UTC, as in Go


def test_a_range_crossing_midnight_holds_at_both_ends_of_each_accepted_day() -> None:
    """kuberik's isInTimeRange: the day checked is the instant's own day."""
    s = schedule({"name": "night", "timeRange": {"start": "22:00", "end": "06:00"},
                  "daysOfWeek": ["Friday"]})
    assert windows.state(s, utc(2026, 7, 17, 1)).active  # Friday 01:00
    assert windows.state(s, utc(2026, 7, 17, 23)).active  # Friday 23:00
    assert not windows.state(s, utc(2026, 7, 18, 1)).active  # Saturday 01:00
    assert not windows.state(s, utc(2026, 7, 17, 12)).active
    assert windows.state(s, utc(2026, 7, 17, 23)).next_transition == utc(2026, 7, 18)
    everyday = schedule({"timeRange": {"start": "22:00", "end": "06:00"}})
    assert spans(everyday, utc(2026, 7, 17, 12), utc(2026, 7, 18, 12)) == [
        (utc(2026, 7, 17, 22), utc(2026, 7, 18, 6))]  # one stretch across midnight


def test_start_equal_to_end_is_the_whole_day() -> None:
    s = schedule({"timeRange": {"start": "08:00", "end": "08:00"}, "daysOfWeek": ["Monday"]})
    assert spans(s, utc(2026, 7, 19), utc(2026, 7, 22)) == [
        (utc(2026, 7, 20), utc(2026, 7, 21))]


def test_a_date_range_includes_both_days_in_the_schedules_time_zone() -> None:
    s = schedule({"name": "christmas", "dateRange": {"start": "2026-12-24",
                                                     "end": "2026-12-26"}},
                 timezone="America/New_York")
    assert spans(s, utc(2026, 12, 20), utc(2027, 1, 5)) == [
        (utc(2026, 12, 24, 5), utc(2026, 12, 27, 5))]
    v = windows.verdict([s], utc(2026, 12, 25, 12))
    assert not v.open and v.opens_at == utc(2026, 12, 27, 5)
    assert "RolloutSchedule apps/s denies deploys now (rule christmas)" in v.message
    assert "2026-12-27T05:00:00Z" in v.message
    before = windows.state(s, utc(2026, 1, 1))
    assert before.next_transition == utc(2026, 12, 24, 5)  # found 357 days ahead


def test_date_range_days_and_times_together() -> None:
    s = schedule({"dateRange": {"start": "2026-01-01", "end": "2026-03-31"},
                  "daysOfWeek": ["Monday", "Tuesday"],
                  "timeRange": {"start": "10:00", "end": "16:00"}}, action="Allow",
                 timezone="Europe/London")
    assert windows.verdict([s], utc(2026, 3, 30, 11)).open  # Monday, BST: 12:00
    assert not windows.verdict([s], utc(2026, 4, 6, 11)).open  # past the range
    assert windows.verdict([s], utc(2026, 3, 31, 15)).opens_at is None  # never again


# -- rrule ----------------------------------------------------------------------------


def test_rrule_with_a_duration() -> None:
    s = schedule({"name": "saturday", "rrule": "FREQ=WEEKLY;BYDAY=SA;BYHOUR=6",
                  "duration": "4h"}, action="Allow", timezone="Europe/Berlin")
    assert spans(s, utc(2026, 7, 17), utc(2026, 7, 26)) == [
        (utc(2026, 7, 18, 4), utc(2026, 7, 18, 8)), (utc(2026, 7, 25, 4), utc(2026, 7, 25, 8))]


def test_rrule_days_are_calendar_days_hours_are_elapsed() -> None:
    """RFC 5545 3.3.6: P1D from 22:00 ends at 22:00 across the change; 24h ends at 23:00."""
    start = "DTSTART:20260328T220000\nRRULE:FREQ=DAILY;COUNT=1"
    nominal = schedule({"rrule": start, "duration": "P1D"}, timezone="Europe/Berlin")
    elapsed = schedule({"rrule": start, "duration": "24h"}, timezone="Europe/Berlin")
    lo, hi = utc(2026, 3, 28), utc(2026, 3, 31)
    assert spans(nominal, lo, hi) == [(utc(2026, 3, 28, 21), utc(2026, 3, 29, 20))]
    assert spans(elapsed, lo, hi) == [(utc(2026, 3, 28, 21), utc(2026, 3, 29, 21))]


def test_rrule_and_calendar_conditions_must_both_hold() -> None:
    s = schedule({"rrule": "FREQ=DAILY;BYHOUR=8", "duration": "10h",
                  "daysOfWeek": ["Monday"], "timeRange": {"start": "12:00", "end": "20:00"}})
    assert spans(s, utc(2026, 7, 19), utc(2026, 7, 22)) == [
        (utc(2026, 7, 20, 12), utc(2026, 7, 20, 18))]


def test_an_occurrence_in_the_skipped_hour_starts_at_the_jump() -> None:
    s = schedule({"rrule": "FREQ=DAILY;BYHOUR=2;BYMINUTE=30", "duration": "1h"},
                 timezone="America/New_York")
    assert spans(s, utc(2026, 3, 8), utc(2026, 3, 8, 12)) == [
        (utc(2026, 3, 8, 7), utc(2026, 3, 8, 8))]


@pytest.mark.parametrize("text", [
    "FREQ=HOURLY;INTERVAL=5",
    "FREQ=DAILY;BYHOUR=9,17;BYMINUTE=15",
    "DTSTART:20240131T083000\nRRULE:FREQ=MONTHLY",
    "DTSTART:20240229T120000\nRRULE:FREQ=YEARLY",
    "DTSTART:20240103T220000\nRRULE:FREQ=WEEKLY;INTERVAL=3",
    "DTSTART:20230105T060000\nRRULE:FREQ=MONTHLY;INTERVAL=2;BYDAY=-1FR",
    "DTSTART:20200101T000000\nRRULE:FREQ=YEARLY;INTERVAL=3;BYMONTH=12;BYMONTHDAY=24",
    "DTSTART:20250601T101010\nRRULE:FREQ=HOURLY;INTERVAL=7;UNTIL=20300101T000000",
])
def test_moving_dtstart_forward_keeps_every_occurrence(text: str) -> None:
    from dateutil.rrule import rrulestr

    rec = recurrence.parse(text, "1h")
    lo, hi = datetime(2028, 2, 20), datetime(2029, 12, 31)
    assert rec.starts(lo, hi) == list(rrulestr(rec.rule, dtstart=rec.start).between(
        lo, hi, inc=True))
    assert rec.starts(lo, hi), "the case should have occurrences"


@pytest.mark.parametrize(("text", "says"), [
    ("FREQ=DALY", "FREQ=DALY is not a frequency"),
    ("FREQ=MINUTELY", "at most hourly"),
    ("DTSTART;TZID=Europe/Berlin:20260105T220000\nRRULE:FREQ=DAILY", "without TZID"),
    ("DTSTART:20260105T220000Z\nRRULE:FREQ=DAILY", "without TZID or a trailing Z"),
    ("FREQ=DAILY;UNTIL=20270101T000000Z", "drop the trailing Z"),
    ("FREQ=DAILY;BYHOUR=25", "not an RFC 5545 RRULE"),
    ("FREQ=DAILY;COUNT=5000", "COUNT above 1000"),
    ("EXDATE:20260101T000000\nRRULE:FREQ=DAILY", "only a DTSTART and an RRULE"),
    ("DTSTART:20260105T220000", "no RRULE"),
])
def test_bad_rrules_say_why(text: str, says: str) -> None:
    with pytest.raises(ValueError) as exc:
        recurrence.parse(text, "1h")
    assert says in str(exc.value)
    assert "\n" not in str(exc.value)


def test_durations_go_and_iso() -> None:
    assert recurrence.span("90m") == recurrence.Span(0, timedelta(minutes=90))
    assert recurrence.span("PT8H") == recurrence.Span(0, 8 * H)
    assert recurrence.span("P1DT12H") == recurrence.Span(1, 12 * H)
    assert recurrence.span("P2W") == recurrence.Span(14, timedelta(0))
    for bad in ("0s", "P", "PT", "P1Y", "P1M", "-1h", "P400D", "soon"):
        with pytest.raises(ValueError):
            recurrence.span(bad)


# -- several rules, several schedules -----------------------------------------------------


def test_a_schedule_is_active_when_any_rule_holds_and_changes_once_at_the_union() -> None:
    s = schedule({"name": "morning", "timeRange": {"start": "09:00", "end": "11:00"}},
                 {"name": "late", "timeRange": {"start": "10:00", "end": "12:00"}})
    at = windows.state(s, utc(2026, 7, 15, 10, 30))
    assert at.active_rules == ("morning", "late")
    assert at.next_transition == utc(2026, 7, 15, 12)
    assert at.next_change == utc(2026, 7, 15, 11)  # "morning" ends, the schedule stays


def test_unnamed_rules_are_named_by_position() -> None:
    s = schedule({"daysOfWeek": ["Monday"]}, {"timeRange": {"start": "00:00", "end": "23:59"}})
    assert windows.state(s, utc(2026, 7, 20, 12)).active_rules == ("rules[0]", "rules[1]")


def test_deny_wins_over_allow() -> None:
    allow = schedule({"timeRange": {"start": "09:00", "end": "17:00"}}, action="Allow",
                     name="hours")
    deny = schedule({"timeRange": {"start": "12:00", "end": "13:00"}}, name="lunch")
    assert windows.verdict([allow, deny], utc(2026, 7, 15, 10)).open
    v = windows.verdict([allow, deny], utc(2026, 7, 15, 12, 30))
    assert not v.open and v.opens_at == utc(2026, 7, 15, 13)
    assert "RolloutSchedule apps/lunch denies deploys now" in v.message
    late = windows.verdict([allow, deny], utc(2026, 7, 15, 18))
    assert late.opens_at == utc(2026, 7, 16, 9)
    assert "RolloutSchedule apps/hours allows deploys only inside its windows" in late.message


def test_two_allow_schedules_must_both_be_open() -> None:
    """Each kuberik schedule is a RolloutGate, and every gate must pass."""
    a = schedule({"timeRange": {"start": "09:00", "end": "12:00"}}, action="Allow", name="a")
    b = schedule({"timeRange": {"start": "11:00", "end": "15:00"}}, action="Allow", name="b")
    assert not windows.verdict([a, b], utc(2026, 7, 15, 10)).open
    assert windows.verdict([a, b], utc(2026, 7, 15, 10)).opens_at == utc(2026, 7, 15, 11)
    assert windows.verdict([a, b], utc(2026, 7, 15, 11, 30)).open


def test_no_schedule_no_window_and_a_rule_without_conditions_always_holds() -> None:
    assert windows.verdict([], utc(2026, 7, 15)).open
    always = schedule({"name": "freeze"})
    st = windows.state(always, utc(2026, 7, 15))
    assert st.active and st.next_transition is None
    v = windows.verdict([always], utc(2026, 7, 15))
    assert not v.open and v.opens_at is None and "does not open within 732 days" in v.message
    assert windows.verdict([schedule({"name": "x"}, action="Allow")], utc(2026, 7, 15)).open


def test_an_invalid_schedule_keeps_the_window_closed_and_says_why() -> None:
    bad = windows.Invalid("RolloutSchedule apps/x", "spec.timezone: unknown time zone 'Mars'")
    v = windows.verdict([bad, schedule({"timeRange": {"start": "09:00", "end": "10:00"}},
                                       action="Allow")], utc(2026, 7, 15, 9, 30))
    assert not v.open and v.opens_at is None
    assert "RolloutSchedule apps/x is invalid (spec.timezone: unknown time zone 'Mars')" \
        in v.message


def test_verdicts_are_fast_enough_for_every_reconcile() -> None:
    import time as clock

    hours = schedule({"timeRange": {"start": "09:00", "end": "17:00"},
                      "daysOfWeek": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]},
                     action="Allow", timezone="America/New_York")
    freeze = schedule({"rrule": "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=20", "duration": "P14D"})
    started = clock.perf_counter()
    for n in range(50):
        windows.verdict([hours, freeze], utc(2026, 7, 18) + n * H)
    assert (clock.perf_counter() - started) / 50 < 0.02


def test_times_of_day_and_dates_are_checked() -> None:
    assert windows.clock("23:59") == time(23, 59)
    for bad in ("24:00", "9:00", "09:60", "0900"):
        with pytest.raises(ValueError):
            windows.clock(bad)
    for bad in ("2026-02-30", "2026-2-3", "26-01-01"):
        with pytest.raises(ValueError):
            windows.day(bad)


# -- validate ------------------------------------------------------------------------------

SCHEDULES_IN_GIT = b"""\
apiVersion: kuberik.com/v1alpha1
kind: RolloutSchedule
metadata:
  name: business-hours
  namespace: apps
spec:
  rolloutSelector: {matchLabels: {app: podinfo}}
  timezone: Europe/Lubljana
  rules:
    - timeRange: {start: "9:00", end: "17:00"}
    - rrule: FREQ=WEEKLY;BYDAY=SA;BYHOUR=25
      duration: 4h
---
apiVersion: kuberik.com/v1alpha1
kind: ClusterRolloutSchedule
metadata:
  name: fine
spec:
  rolloutSelector: {}
  namespaceSelector: {matchLabels: {env: prod}}
  rules: [{name: christmas, dateRange: {start: "2026-12-24", end: "2026-12-26"}}]
"""


def test_validate_reports_bad_schedule_fields_one_line_each() -> None:
    from reconciler.core import manifests

    scan = manifests.scan_file("clusters/prod/windows.yaml", SCHEDULES_IN_GIT)
    assert [p.render() for p in scan.problems] == [
        "error: clusters/prod/windows.yaml:10 (document 1) spec.rules.0.timeRange.start: "
        "'9:00' is not a time of day like 09:00 or 23:30 (HH:MM, 24-hour)",
        "error: clusters/prod/windows.yaml:11 (document 1) spec.rules.1.rrule: not an "
        "RFC 5545 RRULE: hour must be in 0..23",
        "error: clusters/prod/windows.yaml:8 (document 1) spec.timezone: unknown time zone "
        "'Europe/Lubljana'; use an IANA name such as Europe/Berlin or America/New_York",
    ]
