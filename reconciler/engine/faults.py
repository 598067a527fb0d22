"""Deterministic crash points for the reliability tests.

``RECONCILER_FAULT_POINT=<point>[:<n>]`` makes the process kill itself with SIGKILL
the ``n``-th time (default: the first) it reaches ``<point>``: no cleanup, no
``finally``, no flushed buffers, exactly what an OOM kill or a node failure does.
The tests start the daemon with it, wait for it to die, start it again without it
and compare the end state with an uninterrupted run.

When the variable is unset (always, outside the tests) :func:`hit` is a function
that returns at once: the points cost one call each and nothing else. A name that
is not a known point is refused at start-up rather than silently never firing.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

from reconciler.errors import InputError

ENV = "RECONCILER_FAULT_POINT"

POINTS: dict[str, str] = {
    "release-built": "a release commit exists in the local mirror, not yet pushed",
    "release-pushed": "a release commit is on the remote, the Rollout status not yet written",
    "bake-started": "the status with bakeStartTime is written; the bake is running",
    "verdict-pending": "a bake has ended and its status is written; its git note is not",
    "revert-built": "a revert (or rollback) commit exists locally, not yet pushed",
    "revert-pushed": "a revert is on the remote, the Rollout status not yet written",
    "lease-acquired": "this replica has just won the leader Lease, before its first reconcile",
}


def _parse(value: str) -> tuple[str, int]:
    point, _, count = value.partition(":")
    if point not in POINTS:
        raise InputError(f"{ENV}={value!r}: unknown fault point "
                         f"(known: {', '.join(POINTS)})")
    if count and (not (count.isascii() and count.isdigit()) or int(count) < 1):
        raise InputError(f"{ENV}={value!r}: the count after ':' must be a positive integer")
    return point, int(count or 1)


def check() -> None:
    """Refuse a misspelt fault point at start-up (raises InputError)."""
    value = os.environ.get(ENV)
    if value:
        _parse(value)


def _noop(point: str) -> None:
    """No fault configured: nothing to do."""


def _armed(target: str, count: int) -> Callable[[str], None]:
    lock = threading.Lock()
    seen = 0

    def hit(point: str) -> None:
        nonlocal seen
        if point != target:
            return
        with lock:
            seen += 1
            if seen < count:
                return
        sys.stderr.write(f"fault point {point!r} reached: killing the process (SIGKILL)\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    return hit


def _configure() -> Callable[[str], None]:
    value = os.environ.get(ENV)
    try:
        return _armed(*_parse(value)) if value else _noop
    except InputError:
        return _noop  # check() reports it at start-up


hit: Callable[[str], None] = _configure()
"""Call at a step boundary with the point's name (one of :data:`POINTS`)."""

armed: bool = hit is not _noop
"""True when a fault point is configured; guards checks that cost more than a call."""
