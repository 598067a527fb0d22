"""The one retry policy (reconciler.core.backoff): doubling, jitter, cap, per-key counts."""

from __future__ import annotations

import pytest

from reconciler.core import backoff


def test_doubles_from_first_to_the_cap_jitter_included() -> None:
    policy = backoff.Policy(first=1.0, cap=300.0, jitter=0.25)
    middle = [policy.delay(n, lambda: 0.5) for n in range(10)]
    assert middle == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0]
    assert policy.delay(0, lambda: 0.0) == 0.75 and policy.delay(0, lambda: 0.999) < 1.25
    assert policy.delay(8, lambda: 0.999) == 300.0  # 256 s * 1.25 would pass the cap
    assert policy.delay(10_000, lambda: 0.0) == 300.0  # no overflow however long it fails


def test_attempts_count_per_key_and_reset() -> None:
    attempts = backoff.Attempts(backoff.Policy(first=1.0, cap=60.0, jitter=0.0))
    assert [attempts.delay("a") for _ in range(3)] == [1.0, 2.0, 4.0]
    assert attempts.delay("b") == 1.0
    assert attempts.delay("a", policy=backoff.Policy(first=10.0, cap=60.0, jitter=0.0)) == 60.0
    attempts.reset("a")
    assert attempts.delay("a") == 1.0


@pytest.mark.parametrize("policy", [backoff.ERRORS, backoff.STATUS_CONFLICTS,
                                    backoff.WATCHES, backoff.PUSH_RACE])
def test_the_policies_in_use_start_at_first_and_end_at_cap(policy: backoff.Policy) -> None:
    assert policy.delay(0, lambda: 0.5) == policy.first
    assert policy.delay(64, lambda: 0.0) == policy.cap


def test_a_policy_that_cannot_work_is_refused() -> None:
    with pytest.raises(ValueError, match="first <= cap"):
        backoff.Policy(first=5.0, cap=1.0)
    with pytest.raises(ValueError, match="jitter < 1"):
        backoff.Policy(first=1.0, cap=5.0, jitter=1.0)
