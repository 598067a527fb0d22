"""Go durations (reconciler.core.durations): what parses, and what is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.core import durations


@pytest.mark.parametrize(("text", "value"), [
    ("90s", timedelta(seconds=90)), ("1h30m", timedelta(minutes=90)),
    ("1.5h", timedelta(minutes=90)), ("250ms", timedelta(milliseconds=250)),
    ("2562047h", timedelta(hours=2562047)),  # Go's longest, give or take the minutes
])
def test_parse(text: str, value: timedelta) -> None:
    assert durations.parse(text) == value


@pytest.mark.parametrize(("text", "why"), [
    ("99999999999999999999h", "longer than the longest Go duration"),  # once OverflowError
    ("9" * 400 + "s", "longer than the longest Go duration"),  # once a float infinity
    ("2562048h", "longer than the longest Go duration"),
    ("-5m", "is not a duration"),
    ("5", "is not a duration"),
    ("x" * 10_000, "is not a duration"),
])
def test_refused_with_a_value_error(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as caught:
        durations.parse(text)
    assert len(str(caught.value)) < 200  # a huge value is not echoed in full
