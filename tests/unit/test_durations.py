"""Go durations (reconciler.core.durations): what parses, and what is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.core import durations


@pytest.mark.parametrize(("text", "value"), [
    ("90s", timedelta(seconds=90)), ("1h30m", timedelta(minutes=90)),
    ("1.5h", timedelta(minutes=90)), ("250ms", timedelta(milliseconds=250)),
    ("2562047h", timedelta(hours=2562047)),  # Go's longest, give or take the minutes
    ("300ms", timedelta(milliseconds=300)), ("0", timedelta(0)), ("+5s", timedelta(seconds=5)),
    (".5s", timedelta(milliseconds=500)), ("1h.5m", timedelta(minutes=60, seconds=30)),
    ("1us", timedelta(microseconds=1)), ("2µs", timedelta(microseconds=2)),
    # Where timedelta cannot follow Go (nanoseconds): 1ns in Go, rounded away here.
    ("1ns", timedelta(0)),
])
def test_parse(text: str, value: timedelta) -> None:
    assert durations.parse(text) == value


@pytest.mark.parametrize(("text", "why"), [
    ("99999999999999999999h", "longer than the longest Go duration"),  # once OverflowError
    ("9" * 400 + "s", "longer than the longest Go duration"),  # once a float infinity
    ("2562048h", "longer than the longest Go duration"),
    ("-5m", "is not a duration"),  # valid Go, meaningless for a bake time
    ("-1h30m", "it is negative"),
    # Accepted by durationpy, refused by Go's time.ParseDuration, so refused here.
    ("1d", "is not a duration"), ("1w", "is not a duration"), ("1y", "is not a duration"),
    ("1mm", "is not a duration"), ("5s+3m", "is not a duration"), ("\u0663s", "is not a duration"),
    # Refused by both.
    ("", "is not a duration"), (" 5s", "is not a duration"), ("1h5", "is not a duration"),
    ("1.2.3s", "is not a duration"), (".s", "is not a duration"), ("1e5s", "is not a duration"),
    ("5", "is not a duration"),
    ("x" * 10_000, "is not a duration"),
])
def test_refused_with_a_value_error(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as caught:
        durations.parse(text)
    assert len(str(caught.value)) < 200  # a huge value is not echoed in full


@pytest.mark.parametrize(("value", "text"), [
    (timedelta(minutes=90), "1h30m"), (timedelta(seconds=4), "4s"),
    # Where durationpy.to_str would say "0" and "2.56205e+06h".
    (timedelta(0), "0s"), (timedelta(hours=2562047), "2562047h"),
])
def test_render(value: timedelta, text: str) -> None:
    assert durations.render(value) == text
