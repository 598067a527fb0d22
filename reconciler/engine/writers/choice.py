"""Which writer a decided step goes through, and what the daemon reports afterwards.

Where it fits: the daemon calls ``Writers.write`` for every step that writes (release or
revert) and ``Writers.declined`` while gathering a decision's inputs. Releases go the way
``spec.writeMode`` says, else ``--write-mode``, a canary's steps and promotion directly;
reverts (a canary's abort too) the way ``--revert-mode`` says,
and a direct revert push that the server refuses (a protected branch) goes at once as an
urgent pull request that the reconciler merges itself. A pull request's state becomes
the step the status shows: waiting for its merge, declined, or left to a person.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from reconciler.adapters.forges import base as forges
from reconciler.core import progress, reasons, steps
from reconciler.engine.options import Options
from reconciler.engine.releaser import Expect, Result
from reconciler.engine.repository import Repository
from reconciler.engine.writers.direct import DirectWriter
from reconciler.engine.writers.prstate import Decisions, Event, Proposed
from reconciler.engine.writers.pullrequest import PullRequestWriter
from reconciler.errors import (
    AuthenticationFailed,
    ClusterError,
    ForgeAuthError,
    ForgeError,
    ForgeInvalid,
    ForgeNotFound,
    ForgeRateLimited,
    NonFastForward,
    PermanentError,
    PushRejected,
    ReconcilerError,
)

log = logging.getLogger(__name__)

DIRECT, PULL_REQUEST = "direct", "pull-request"


@dataclass(frozen=True)
class Written:
    """What a write did: the direct writer's ``result``, or a pull request's state as
    the ``step`` to report; ``events`` to emit; ``fetch`` asks for a fetch now."""

    step: progress.Step
    result: Result | None = None
    events: tuple[Event, ...] = ()
    fetch: bool = False
    again: bool = False  # decide again at once (the release was declined meanwhile)


class Writers:
    def __init__(self, *, direct: DirectWriter, pull_requests: PullRequestWriter | None,
                 write_mode: str = DIRECT, revert_mode: str = DIRECT,
                 clock: Callable[[], datetime]) -> None:
        self._direct = direct
        self._pull_requests = pull_requests
        self._write_mode = write_mode
        self._revert_mode = revert_mode
        self._clock = clock
        self._urgent: set[str] = set()  # rollouts whose revert push was refused

    def mode(self, obj: Mapping[str, Any]) -> str:
        spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
        return str((spec or {}).get("writeMode") or self._write_mode)

    def declined(self, key: str) -> Mapping[str, str]:
        return self._pull_requests.declined(key) if self._pull_requests else {}

    def proposed(self, key: str) -> bool:
        """Whether this process proposed a pull request for ``key``."""
        return self._pull_requests is not None and self._pull_requests.proposed(key)

    def adopt(self, key: str, commit: str, *, previous: str | None) -> bool:
        """Whether ``commit`` (no trailers) is the merge of ``key``'s pull request."""
        if self._pull_requests is None:
            return False
        return self._pull_requests.adopt(key, commit, previous=previous)

    def poke(self, key: str) -> None:
        """A webhook says ``key``'s pull request changed: read it on the next pass."""
        if self._pull_requests is not None:
            self._pull_requests.poke(key)

    def needs_approval(self, unapproved: Callable[[str, str], bool]) -> None:
        """Which ``(rollout, release)`` still need a person's approval: the pull-request
        writer merges those only after an approving review (``merging``)."""
        if self._pull_requests is not None:
            self._pull_requests.unapproved = unapproved

    def write(self, key: str, obj: Mapping[str, Any], step: progress.Step,
              expect: Expect) -> Written:
        if step.stage is not None and step.stage != steps.ABORT:
            # Canary stages push directly (engine/stepper.py says why); the abort is a
            # revert and goes the way reverts go.
            self._urgent.discard(key)  # a new stage: try the abort's push again too
            try:
                return Written(step, self._direct.write(key, step, expect))
            except NonFastForward:
                raise
            except PushRejected as exc:
                raise PushRejected(
                    f"{exc}; canary stages are pushed directly, even in pull-request "
                    f"mode: let the reconciler push to the branch, or release {key} "
                    f"without spec.steps", ref=exc.ref, reason=exc.reason) from exc
        if step.action == "release":
            self._urgent.discard(key)
            if self.mode(obj) == PULL_REQUEST:
                return self._proposed(step, self._forge_writer(key).write(key, step, expect))
            return Written(step, self._direct.write(key, step, expect))
        if self._revert_mode == PULL_REQUEST or key in self._urgent:
            writer = self._forge_writer(key)
            return self._proposed(step, writer.write(key, step, expect,
                                                     urgent=key in self._urgent))
        try:
            return Written(step, self._direct.write(key, step, expect))
        except NonFastForward:
            raise
        except PushRejected as exc:
            if self._pull_requests is None:
                raise
            self._urgent.add(key)
            log.warning("%s: the revert push was refused (%s); proposing it as an urgent "
                        "pull request that reconciler merges itself", key, exc.reason)
            note: Event = ("Warning", reasons.REVERT_PUSH_REFUSED,
                           f"the revert push was refused ({exc.reason}); sent as an urgent "
                           f"pull request instead")
            written = self._proposed(step, self._pull_requests.write(key, step, expect,
                                                                     urgent=True))
            return replace(written, events=(note, *written.events))

    def _forge_writer(self, key: str) -> PullRequestWriter:
        if self._pull_requests is None:
            raise PermanentError(f"{key} writes through pull requests (spec.writeMode or "
                             f"--revert-mode), but no forge is configured: set --forge and "
                             f"--forge-token-file")
        return self._pull_requests

    def _proposed(self, step: progress.Step, p: Proposed) -> Written:
        if p.outcome == "stale":
            log.info("%s", p.message)
            return Written(step, again=True)
        wake = (self._clock() + timedelta(seconds=p.retry_in)
                if p.retry_in is not None else None)
        reason = {"declined": reasons.PULL_REQUEST_DECLINED,
                  "left-alone": reasons.PULL_REQUEST_EDITED,
                  "merged": reasons.PULL_REQUEST_MERGED}.get(p.outcome,
                                                           reasons.PULL_REQUEST_OPEN)
        events = p.events
        if p.outcome in ("proposed", "updated"):
            events = (*step.events, *events)  # e.g. a bake cancelled by the newer release
        shown = replace(step, action="blocked" if p.outcome == "declined" else "wait",
                        reason=reason, message=p.message, wake_at=wake, events=())
        return Written(shown, events=events, fetch=p.outcome == "merged",
                       again=p.outcome == "declined")


def build(*, repository: Repository, forge: forges.Forge | None, options: Options,
          is_leader: Callable[[], bool], clock: Callable[[], datetime],
          decisions: Decisions) -> Writers:
    """The daemon's writers, from its options and the forge (None: direct only)."""
    pull_requests = None if forge is None else PullRequestWriter(
        repository=repository, forge=forge, environment=options.environment,
        base=repository.mirror.branch, auto_merge=options.auto_merge, is_leader=is_leader,
        path=options.path, poll=options.forge_poll,
        method=forges.MergeMethod(options.merge_method), decisions=decisions, wall=clock)
    return Writers(direct=DirectWriter(repository=repository, is_leader=is_leader),
                   pull_requests=pull_requests, write_mode=options.write_mode,
                   revert_mode=options.revert_mode, clock=clock)


def reason_of(exc: ReconcilerError) -> str:
    """The condition reason of an error a reconcile ended with."""
    if isinstance(exc, ForgeRateLimited):
        return reasons.FORGE_RATE_LIMITED
    if isinstance(exc, ForgeAuthError):
        return reasons.FORGE_AUTHENTICATION_FAILED
    if isinstance(exc, (ForgeError, ForgeNotFound, ForgeInvalid)):
        return reasons.FORGE_ERROR
    if isinstance(exc, PushRejected):
        return reasons.PUSH_REJECTED
    if isinstance(exc, AuthenticationFailed):
        return reasons.AUTHENTICATION_FAILED
    if isinstance(exc, ClusterError):
        return reasons.CLUSTER_ERROR
    if isinstance(exc, PermanentError):
        return reasons.SETUP_ERROR
    return reasons.GIT_ERROR


def retry_after(exc: ReconcilerError) -> float | None:
    """The wait a forge asked for (a rate limit), never to be cut short."""
    return exc.retry_after if isinstance(exc, ForgeRateLimited) else None
