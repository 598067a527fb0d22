"""Calling a rollout's test hooks and remembering what they answered.

Where it fits: ``engine/checkpoints`` decides *when* a hook is called (before a
write, during a bake, after a bake or a revert); this module calls it: the body from
``core/hooks``, the POST through ``adapters/hooks.Caller``, the answer judged by
``core/hooks.judge``. Every outcome is kept per rollout (newest first, seeded from
the status a restarted daemon finds, so a ``pre-rollout`` hook that passed is not
called again for the same release) and rendered into ``status.hooks``. An Event is
recorded when a hook's result changes (its first call included): ``HookPassed`` or
``HookFailed``; a ``HookFailed`` Event is a notice (``core/notices``, ``hook-failed``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from reconciler.core import hooks, reasons

log = logging.getLogger(__name__)


class Caller(Protocol):
    """What POSTs a body to a hook (``adapters.hooks.Caller``)."""

    def call(self, hook: hooks.Hook, body: bytes) -> hooks.Answer: ...


Emit = Callable[[Mapping[str, Any], str, str, str], None]  # obj, type, reason, message


class Hooks:
    def __init__(self, *, caller: Caller, emit: Emit, clock: Callable[[], datetime]) -> None:
        self._caller = caller
        self._emit = emit
        self._clock = clock
        self._lock = threading.Lock()
        self._outcomes: dict[str, list[hooks.Outcome]] = {}
        self.calls = 0  # how many calls were made (tests)

    def outcomes(self, key: str, status: Mapping[str, Any] | None = None
                 ) -> list[hooks.Outcome]:
        """``key``'s outcomes, newest first; the first time, those ``status`` holds."""
        with self._lock:
            if key not in self._outcomes:
                self._outcomes[key] = hooks.outcomes_from(status)
            return list(self._outcomes[key])

    def status(self, key: str, previous: Mapping[str, Any] | None = None
               ) -> list[dict[str, Any]]:
        """``status.hooks`` of ``key`` (the first time, what ``previous`` held)."""
        return [o.as_status() for o in self.outcomes(key, previous)]

    def call(self, obj: Mapping[str, Any], key: str, hook: hooks.Hook,
             context: hooks.Context) -> hooks.Outcome:
        """Call ``hook`` about ``context`` now; its outcome, recorded."""
        before = hooks.latest(self.outcomes(key, _status(obj)), hook, context)
        self.calls += 1
        answer = self._caller.call(hook, hooks.payload(hook, context))
        outcome = hooks.judge(hook, context, answer, self._clock())
        with self._lock:
            self._outcomes[key] = hooks.remember(self._outcomes.get(key, []), outcome)
        log.info("%s: %s", key, outcome.message)
        if before is None or before.result != outcome.result:
            passed = outcome.result == "Succeeded"
            self._emit(obj, "Normal" if passed else "Warning",
                       reasons.HOOK_PASSED if passed else reasons.HOOK_FAILED,
                       f"{outcome.message} (release {context.release})")
        return outcome

    def first_failure(self, obj: Mapping[str, Any], key: str, found: Sequence[hooks.Hook],
                      context: hooks.Context, *, again: bool = True) -> hooks.Outcome | None:
        """Call each of ``found`` in order and stop at the first that fails; its
        outcome, or None when all pass. ``again`` False: a hook that already passed
        for this release (and step) is not called again."""
        for hook in found:
            last = hooks.latest(self.outcomes(key, _status(obj)), hook, context)
            if not again and last is not None and last.result == "Succeeded":
                continue
            outcome = self.call(obj, key, hook, context)
            if outcome.result == "Failed":
                return outcome
        return None

    def notify(self, obj: Mapping[str, Any], key: str, found: Sequence[hooks.Hook],
               context: hooks.Context) -> None:
        """Call each of ``found`` once for this release (and step): notifications
        whose result is recorded and changes nothing else."""
        for hook in found:
            if hooks.latest(self.outcomes(key, _status(obj)), hook, context) is None:
                self.call(obj, key, hook, context)


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    status = obj.get("status")
    return status if isinstance(status, Mapping) else None
