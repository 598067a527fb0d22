"""Go duration strings (``90s``, ``10m``, ``1h30m``) as used in Flux and kuberik specs.

Pure: strings in, ``datetime.timedelta`` out. Only the units Kubernetes'
``metav1.Duration`` fields accept in practice (``ms``, ``s``, ``m``, ``h``).
"""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# Go's time.Duration is an int64 of nanoseconds: nothing longer parses there either.
MAX_SECONDS = (2**63 - 1) / 1e9


def parse(text: str) -> timedelta:
    """Parse a Go duration such as ``1h30m``; raise ``ValueError`` naming the text."""
    if not isinstance(text, str) or not _WHOLE.match(text):
        raise ValueError(
            f"{str(text)[:64]!r} is not a duration; write it like 90s, 10m or 1h30m"
        )
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))
    if seconds > MAX_SECONDS:
        raise ValueError(f"{text[:64]!r} is longer than the longest Go duration "
                         f"(2562047h47m16s)")
    return timedelta(seconds=seconds)


def render(value: timedelta) -> str:
    """Render a ``timedelta`` compactly, Go style without zero units (``1h30m``, ``4s``)."""
    total = int(value.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return out + (f"{seconds}s" if seconds or not out else "")
