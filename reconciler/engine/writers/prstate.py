"""The pull-request writer's values: what one call did, what it remembers of a rollout's
pull request between passes, and where people's decisions are kept.

Part of the pull-request writer (``pullrequest.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

from reconciler.adapters.forges import base as forges
from reconciler.core import declines, progress, proposals
from reconciler.engine.releaser import Result
from reconciler.errors import ForgeRateLimited

T = TypeVar("T")

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
    not_merges: set[str] = field(default_factory=set)  # commits the forge did not merge
    poked: bool = False  # a webhook said the pull request changed
    declined_read: float = 0.0


class Decisions(Protocol):
    """Where people's decisions on pull requests are kept (``engine/verdicts``: notes)."""

    def declined(self, key: str) -> Mapping[str, str]: ...

    def decide(self, decline: declines.Decline) -> bool: ...

    def decisions(self) -> tuple[declines.Decline, ...]: ...


def waiting(pr: forges.PullRequest, *, merges: bool) -> str:
    """The status message of a proposed release; ``merges``: reconciler merges it."""
    who = ("reconciler merges it once the forge says it is mergeable and its checks "
           "passed" if merges else "waiting for a person to merge it")
    return f"proposed in pull request #{pr.number} ({pr.url}); {who}"


class Gate:
    """Every forge call goes through here: while a rate limit holds, none is made (the
    wait is raised at once, for the daemon to schedule the retry)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.quiet_until = 0.0  # no call to the forge before this

    def __call__(self, call: Callable[[], T]) -> T:
        now = self._clock()
        if now < self.quiet_until:
            raise ForgeRateLimited("the forge's rate limit holds for "
                                   f"{self.quiet_until - now:.0f}s more",
                                   retry_after=self.quiet_until - now)
        try:
            return call()
        except ForgeRateLimited as exc:
            self.quiet_until = self._clock() + exc.retry_after
            raise


def proposal(key: str, result: Result, step: progress.Step, environment: str, *,
             urgent: bool, superseded: tuple[str, ...] = ()) -> proposals.Proposal:
    """What the pull request of ``result`` says (its body is rendered from it)."""
    return proposals.Proposal(
        rollout=key, action=result.action, release=result.release,
        previous=result.previous, environment=environment, changes=result.changes,
        reasons=step.message, superseded=tuple(s for s in superseded
                                               if s != result.release), urgent=urgent)
