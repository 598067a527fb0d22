"""RFC 5545 recurrence rules with a duration: ``rules[].rrule`` and ``rules[].duration``
of a RolloutSchedule, an extension kuberik's API lacks (``core/windows.py`` uses it).

A rule is an RRULE value, with or without its ``RRULE:`` prefix, optionally after a
DTSTART line::

    rrule: |
      DTSTART:20260105T220000
      RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO
    duration: 6h

Every time in it is a wall-clock time in the schedule's ``spec.timezone`` (a
"floating" time in RFC 5545's terms), so DTSTART takes no ``TZID`` and neither it
nor UNTIL ends in ``Z``. Without DTSTART the recurrence starts on Monday
2001-01-01 at 00:00: ``FREQ=DAILY`` alone is every midnight, ``FREQ=WEEKLY`` alone
every Monday at midnight; name the time with ``BYHOUR``/``BYMINUTE``. Only DTSTART
and one RRULE are read (no EXDATE, RDATE or EXRULE); ``FREQ`` is at least
``HOURLY``, ``COUNT`` at most 1000.

``duration`` is a Go duration (``90m``, ``8h``: elapsed time) or an RFC 5545 /
ISO 8601 one (``PT8H``, ``P1D``, ``P1W``, ``P1DT12H``): as RFC 5545 §3.3.6 says, its
days and weeks are calendar days (an occurrence at 22:00 lasting ``P1D`` ends at
22:00 the next day even across a clock change), its hours, minutes and seconds
elapsed time. Longer than 0, at most 366 days.

Expansion is python-dateutil's ``rrulestr``. dateutil walks a rule from DTSTART
every time it is asked, which takes seconds for an hourly rule started years ago;
``Recurrence.starts`` therefore moves DTSTART forward by whole periods of the rule
(with the values dateutil would have taken from the original DTSTART written out),
which leaves the occurrences unchanged. A rule with COUNT is walked from its start.

Pure: text in, naive wall-clock datetimes out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrulestr

from reconciler.core import durations

DEFAULT_START = datetime(2001, 1, 1)  # a Monday
MAX_COUNT = 1000
MAX_SPAN = timedelta(days=366)
FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY")  # dateutil's order
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DTSTART = re.compile(r"^DTSTART(?P<params>;[^:]*)?:(?P<value>.*)$", re.IGNORECASE)
_STAMP = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2}))?$")
_ISO = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


@dataclass(frozen=True)
class Span:
    """A duration: calendar days (in the schedule's time zone) plus elapsed time."""

    days: int = 0
    exact: timedelta = timedelta(0)


def span(text: str) -> Span:
    """Parse ``duration``; raise ``ValueError`` saying what is wrong."""
    text = text.strip() if isinstance(text, str) else text
    if isinstance(text, str) and text[:1] in ("P", "p"):
        m = _ISO.match(text.upper())
        if m is None or text.upper() in ("P", "PT") or text.upper().endswith("T"):
            raise ValueError(f"{text[:64]!r} is not a duration; write it like 8h, 90m, "
                             f"PT8H or P1D (years and months are not accepted)")
        weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
        out = Span(7 * weeks + days, timedelta(hours=hours, minutes=minutes, seconds=seconds))
    else:
        out = Span(0, durations.parse(text))
    total = timedelta(days=out.days) + out.exact
    if total <= timedelta(0):
        raise ValueError(f"{text!r} is no time at all; a window must last longer than 0")
    if total > MAX_SPAN:
        raise ValueError(f"{text!r} is longer than {MAX_SPAN.days} days")
    return out


@dataclass(frozen=True)
class Recurrence:
    start: datetime  # DTSTART, naive wall-clock time
    rule: str  # the RRULE value as written (upper-cased keys)
    explicit: str  # the same rule with dateutil's DTSTART-derived defaults written out
    freq: str
    interval: int
    counted: bool
    span: Span

    def starts(self, lo: datetime, hi: datetime) -> list[datetime]:
        """Occurrence starts from ``lo`` to ``hi`` (naive wall-clock, both included)."""
        if self.counted:
            return list(rrulestr(self.rule, dtstart=self.start).between(lo, hi, inc=True))
        begin = self._near(lo)
        return list(rrulestr(self.explicit, dtstart=begin).between(lo, hi, inc=True))

    def _near(self, lo: datetime) -> datetime:
        """A DTSTART at least one period before ``lo``, a whole number of periods after
        the real one (so the rule yields the same occurrences from ``lo`` on)."""
        n, s = self.interval, self.start
        if lo <= s:
            return s
        if self.freq in ("HOURLY", "DAILY", "WEEKLY"):
            step = {"HOURLY": timedelta(hours=n), "DAILY": timedelta(days=n),
                    "WEEKLY": timedelta(weeks=n)}[self.freq]
            return s + step * max((lo - s) // step - 1, 0)
        months = (lo.year - s.year) * 12 + lo.month - s.month
        if self.freq == "MONTHLY":
            k = max(months // n - 1, 0)
            return s if k == 0 else s.replace(day=1, hour=0, minute=0, second=0) \
                + relativedelta(months=k * n)
        k = max(months // 12 // n - 1, 0)
        return s if k == 0 else s.replace(month=1, day=1, hour=0, minute=0, second=0) \
            + relativedelta(years=k * n)


def parse(text: str, duration: str) -> Recurrence:
    """Parse ``rrule`` and ``duration``; raise ``ValueError`` with a one-line reason."""
    start = DEFAULT_START
    rule: str | None = None
    for raw in str(text).splitlines():
        line = raw.strip()
        if not line:
            continue
        dtstart = _DTSTART.match(line)
        if dtstart is not None:
            start = _stamp(dtstart.group("value"), dtstart.group("params") or "")
        elif line.upper().startswith("RRULE:") or line.upper().startswith("FREQ="):
            if rule is not None:
                raise ValueError("more than one RRULE; write one rule per recurrence")
            rule = line.split(":", 1)[1] if line.upper().startswith("RRULE:") else line
        else:
            name = re.split(r"[;:]", line, maxsplit=1)[0]
            raise ValueError(f"{name[:32]!r}: only a DTSTART and an RRULE line are read")
    if rule is None:
        raise ValueError("no RRULE: write e.g. FREQ=WEEKLY;BYDAY=SA;BYHOUR=6")
    parts = _parts(rule)
    freq = parts.get("FREQ", "")
    if freq not in FREQUENCIES:
        raise ValueError(f"FREQ={freq}: a window recurs at most hourly (one of "
                         f"{', '.join(FREQUENCIES)})" if freq in ("MINUTELY", "SECONDLY")
                         else f"FREQ={freq or '(none)'} is not a frequency; one of "
                              f"{', '.join(FREQUENCIES)}")
    if parts.get("UNTIL", "").endswith("Z"):
        raise ValueError("UNTIL is read in spec.timezone: drop the trailing Z")
    if int(parts.get("COUNT", "0") or 0) > MAX_COUNT:
        raise ValueError(f"COUNT above {MAX_COUNT}")
    rule = ";".join(f"{k}={v}" for k, v in parts.items())
    try:
        rrulestr(rule, dtstart=start)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not an RFC 5545 RRULE: {exc}") from exc
    explicit = ";".join(f"{k}={v}" for k, v in {**parts, **_defaults(parts, start)}.items())
    return Recurrence(start=start, rule=rule, explicit=explicit, freq=freq,
                      interval=int(parts.get("INTERVAL", "1") or 1),
                      counted="COUNT" in parts, span=span(duration))


def _stamp(value: str, params: str) -> datetime:
    if "TZID" in params.upper() or value.upper().endswith("Z"):
        raise ValueError("DTSTART is read in spec.timezone: write it without TZID or a "
                         "trailing Z, like DTSTART:20260105T220000")
    m = _STAMP.match(value.strip())
    if m is None:
        raise ValueError(f"DTSTART {value[:32]!r} is not a date-time like 20260105T220000")
    y, mo, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    try:
        return datetime(y, mo, d, h, mi, s)
    except ValueError as exc:
        raise ValueError(f"DTSTART {value!r}: {exc}") from exc


def _parts(rule: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in rule.strip().strip(";").split(";"):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"not an RFC 5545 RRULE: {part[:32]!r} is not NAME=VALUE")
        if key.strip().upper() in out:
            raise ValueError(f"{key.strip().upper()} appears twice")
        out[key.strip().upper()] = value.strip().upper()
    return out


def _defaults(parts: dict[str, str], start: datetime) -> dict[str, str]:
    """What dateutil's rrule takes from DTSTART when the rule leaves it out (its
    ``rrule.__init__``): written out, DTSTART can move without changing the rule."""
    out: dict[str, str] = {}
    freq = FREQUENCIES.index(parts["FREQ"])
    if not parts.keys() & {"BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY", "BYEASTER"}:
        if parts["FREQ"] == "YEARLY":
            if "BYMONTH" not in parts:
                out["BYMONTH"] = str(start.month)
            out["BYMONTHDAY"] = str(start.day)
        elif parts["FREQ"] == "MONTHLY":
            out["BYMONTHDAY"] = str(start.day)
        elif parts["FREQ"] == "WEEKLY":
            out["BYDAY"] = _WEEKDAYS[start.weekday()]
    if "BYHOUR" not in parts and freq < FREQUENCIES.index("HOURLY"):
        out["BYHOUR"] = str(start.hour)
    if "BYMINUTE" not in parts:
        out["BYMINUTE"] = str(start.minute)
    if "BYSECOND" not in parts:
        out["BYSECOND"] = str(start.second)
    return out
