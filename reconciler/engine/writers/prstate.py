"""The pull-request writer's values: what one call did, what it remembers of a rollout's
pull request between passes, and where people's decisions are kept.

Part of the pull-request writer (``pullrequest.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from reconciler.core import declines

Outcome = Literal["proposed", "updated", "waiting", "merged", "declined", "left-alone",
                  "stale"]
Event = tuple[str, str, str]


@dataclass(frozen=True)
class Proposed:
    """What one call did; ``message`` is for the status, ``retry_in`` (seconds) when the
    writer wants to look at the pull request again."""

    outcome: Outcome
    message: str
    number: int | None = None
    retry_in: float | None = None
    events: tuple[Event, ...] = ()


@dataclass
class _Tracked:
    """What this process remembers of one rollout's pull request between passes; a
    restart loses it and reads the forge again, nothing else."""

    number: int | None = None
    wanted: str = ""  # "release:<tag>" or "revert:<sha>" the pull request proposes
    message: str = ""
    outcome: Outcome = "waiting"  # what a pass within the timer reports again
    next_read: float = 0.0
    delay: float = 0.0
    foreign: str | None = None  # a person's head commit already commented on
    declined: dict[str, str] = field(default_factory=dict)  # tag -> why
    declined_read: float = 0.0


class Decisions(Protocol):
    """Where people's decisions on pull requests are kept (``engine/verdicts``: notes)."""

    def declined(self, key: str) -> Mapping[str, str]: ...

    def decide(self, decline: declines.Decline) -> bool: ...
