"""Go duration strings (``90s``, ``10m``, ``1h30m``) as used in Flux and kuberik specs.

Pure: strings in, ``datetime.timedelta`` out. Parsing is durationpy's (installed with
the kubernetes client), held to Go's ``time.ParseDuration`` where the two differ:

- durationpy also takes ``d``, ``w``, ``mm`` and ``y``; Go does not, so neither do we.
- durationpy reads any Unicode digit (``٣s`` is three seconds, via ``float``); Go only
  ASCII ``0-9``.
- durationpy skips what lies between two ``<number><unit>`` parts (``5s+3m`` is 3m5s);
  Go refuses it.
- durationpy has no upper bound short of ``timedelta``'s; Go's ``time.Duration`` is an
  int64 of nanoseconds, so ``2562048h`` is refused here as it is there.
- ``timedelta`` holds microseconds: ``1ns`` is 0 and ``1.5µs`` is 2µs here, 1ns and
  1500ns in Go. No field we read wants sub-microsecond precision.
- A negative duration (``-5m``) is valid Go; no field we read means anything by it,
  so it is refused here.

The Rollout and preset fields also pass kuberik's CRD pattern
(``^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$``, see ``models.Duration``), which is narrower
still: no ``0``, no sign, no ``ns``/``us``.

Command-line spans (``reconciler stats --since 30d``) also take days and weeks
(``d`` = 24h, ``w`` = 7d, as durationpy reads them), which no spec field does:
``parse(text, days=True)``.

``render`` stays ours: durationpy's ``to_str`` prints ``0`` for zero (Go: ``0s``) and
switches to exponent notation from a million hours (``2.56205e+06h``).
"""

from __future__ import annotations

import re
from datetime import timedelta

import durationpy

# Go's units (time.unitMap); durationpy's extra ones are not among them.
_GO_UNITS = frozenset({"ns", "us", "µs", "μs", "ms", "s", "m", "h"})
_SPAN_UNITS = _GO_UNITS | {"d", "w"}
# What is left between the numbers must be Go units, and nothing else (see above).
_BETWEEN_NUMBERS = re.compile(r"[^0-9.]+")
# Go's time.Duration is an int64 of nanoseconds: nothing longer parses there either.
MAX_SECONDS = (2**63 - 1) / 1e9


def _refuse(text: str, why: str = "", *, days: bool = False) -> ValueError:
    like = "12h, 30d or 2w" if days else "90s, 10m or 1h30m"
    return ValueError(f"{text[:64]!r} is not a duration{why}; write it like {like}")


def parse(text: str, *, days: bool = False) -> timedelta:
    """Parse a Go duration such as ``1h30m``; raise ``ValueError`` naming the text.
    ``days``: also ``d`` and ``w``, for command-line spans (``30d``)."""
    if not isinstance(text, str):
        raise _refuse(str(text), days=days)
    unsigned = text[1:] if text[:1] in ("+", "-") else text
    units = _SPAN_UNITS if days else _GO_UNITS
    if any(unit not in units for unit in _BETWEEN_NUMBERS.findall(unsigned)):
        raise _refuse(text, days=days)
    try:
        value = durationpy.from_str(text)
    except durationpy.DurationError as exc:
        if isinstance(exc.__cause__, OverflowError | ValueError):  # beyond timedelta
            raise _too_long(text) from exc
        raise _refuse(text, days=days) from exc
    if value < timedelta(0):
        raise _refuse(text, " this field accepts: it is negative", days=days)
    if value.total_seconds() > MAX_SECONDS:
        raise _too_long(text)
    return value


def _too_long(text: str) -> ValueError:
    return ValueError(f"{text[:64]!r} is longer than the longest Go duration (2562047h47m16s)")


def render(value: timedelta) -> str:
    """Render a ``timedelta`` compactly, Go style without zero units (``1h30m``, ``4s``)."""
    total = int(value.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return out + (f"{seconds}s" if seconds or not out else "")
