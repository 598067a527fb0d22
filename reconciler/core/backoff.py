"""One retry policy: exponential backoff with jitter, for every retry in the reconciler.

Where it fits: the daemon's timers (a rollout after an error, a status write that lost
a race, the periodic fetch while the remote fails), the watches of the cluster adapter
and the releaser's push loop all wait ``Policy.delay(n)`` before retry ``n``; only the
numbers differ, and they are below, each with where it comes from. Pure, apart from
the random jitter (``rand`` may be given).

A delay is ``first * 2**n``, times a factor drawn from ``[1 - jitter, 1 + jitter)`` so
that replicas or watches that failed together do not retry together, and never more
than ``cap``, jitter included: the cap is what the docs and ``--error-backoff`` promise.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

# 2**64 times any first step is past any cap, and 2.0**64 cannot overflow.
_MAX_DOUBLINGS = 64


@dataclass(frozen=True)
class Policy:
    """``first`` doubling up to ``cap`` seconds, each delay jittered by ``±jitter``."""

    first: float
    cap: float
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not (self.first >= 0 and self.cap >= self.first and 0 <= self.jitter < 1):
            raise ValueError(f"a backoff needs 0 <= first <= cap and 0 <= jitter < 1: {self}")

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry ``attempt`` (0 for the first retry)."""
        grown = self.first * 2.0 ** min(max(attempt, 0), _MAX_DOUBLINGS)
        factor = 1.0 - self.jitter + 2.0 * self.jitter * rand()
        return min(self.cap, grown * factor)


# The numbers in use (docs/daemon.md and docs/git.md state them to users):
#
# A rollout whose pass failed: the defaults of ``--error-backoff`` (engine.options),
# 1 s doubling to 5 min. The first retry comes quickly because most errors are
# transient (a conflict, a blip of the remote); the cap keeps a broken rollout from
# costing more than a pass every five minutes. The periodic fetch uses the same cap
# with the fetch interval as first step (``Repository.fetch``).
ERRORS = Policy(first=1.0, cap=300.0, jitter=0.25)
# A status write refused for an older resourceVersion: the watch delivers the newer
# object within milliseconds, so retry soon; five seconds is plenty for a watch to
# catch up, and a longer wait would only delay the status a person reads.
STATUS_CONFLICTS = Policy(first=0.05, cap=5.0, jitter=0.25)
# A watch that cannot reach the API server: the cap is client-go's reflector's (30 s);
# the first step is shorter than its 800 ms so that an API server restart (the common
# case, seconds) is bridged at once. tests/integration/test_cluster_adapter_watch.py
# pins it.
WATCHES = Policy(first=0.2, cap=30.0, jitter=0.2)
# A push refused as not a fast-forward: someone else pushed first, and the next
# attempt (fetch, recompute, push) succeeds unless yet another writer wins. Short
# waits keep ``reconciler release`` in a CI job quick; the wide jitter spreads writers
# that were refused by the same push. At most ``Retry.attempts`` (engine.releaser).
PUSH_RACE = Policy(first=0.05, cap=2.0, jitter=0.5)


class Attempts:
    """Consecutive failures per key, and the delay the next one earns under ``policy``."""

    def __init__(self, policy: Policy, *, rand: Callable[[], float] = random.random) -> None:
        self.policy = policy
        self._rand = rand
        self._count: dict[str, int] = {}

    def delay(self, key: str = "", *, policy: Policy | None = None) -> float:
        """Count one more failure of ``key``; the seconds to wait before retrying it.
        ``policy`` overrides the default one for this call (the fetch's first step is
        the fetch interval, known only when it runs)."""
        n = self._count.get(key, 0)
        self._count[key] = min(n + 1, _MAX_DOUBLINGS)
        return (policy or self.policy).delay(n, self._rand)

    def reset(self, key: str = "") -> None:
        """``key`` succeeded: its next failure starts again from the first step."""
        self._count.pop(key, None)
