"""Promotion: may this environment take a release that another one has baked?

Where it fits: ``spec.promotion.from`` lists environments whose bake verdict must be
Succeeded before a candidate is eligible here (DESIGN.md "Fleet repositories").
The engine reads the verdicts (git notes) and the upstream reverts (commit
trailers) from the shared repository and calls ``waiting``; selection refuses the
candidates it returns, with the reason as written. Pure: plain data in, plain data
out; ``now`` is passed in.

Rules, per candidate and per upstream environment:

* no verdict for that release of the upstream rollout there: "waiting for staging";
* a Failed verdict, or a revert or rollback there that took the release out after
  its Succeeded verdict: "failed in staging" — never promoted;
* a Succeeded verdict younger than ``soakTime``: "soaking in staging until 14:05".

With several environments the candidate waits for every one; ``soakTime`` counts
from the newest of their Succeeded verdicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from reconciler.core import models, quarantine, trailers, verdicts


@dataclass(frozen=True)
class Rule:
    """``spec.promotion`` with its defaults filled in."""

    upstream: str  # namespace/name of the upstream rollout
    environments: tuple[str, ...]
    soak: timedelta | None = None


def waiting(*, rule: Rule, candidates: Iterable[str], found: Sequence[verdicts.Verdict],
            history: Sequence[trailers.Record], now: datetime) -> dict[str, str]:
    """Candidates that may not be promoted yet, each with the reason why.

    ``found`` are the verdicts read from the notes; ``history`` the audit trail of
    every environment (their ``Environment`` trailers say where a revert was)."""
    out: dict[str, str] = {}
    for tag in candidates:
        reason = _waiting(rule=rule, tag=tag, found=found, history=history, now=now)
        if reason is not None:
            out[tag] = reason
    return out


def _waiting(*, rule: Rule, tag: str, found: Sequence[verdicts.Verdict],
             history: Sequence[trailers.Record], now: datetime) -> str | None:
    newest_success: datetime | None = None
    waits: list[str] = []
    for env in rule.environments:
        mine = [v for v in found if v.rollout == rule.upstream and v.release == tag
                and v.environment == env]
        if quarantine.failed(found, rollout=rule.upstream, release=tag, environment=env):
            return f"failed in {env}"
        ok = [v.ended for v in mine if v.result == "Succeeded"]
        if not ok:
            waits.append(env)
            continue
        verified = max(ok)
        if quarantine.taken_out_since(history, rollout=rule.upstream, release=tag,
                                      environment=env, since=verified):
            return f"reverted in {env} after it was verified"
        newest_success = verified if newest_success is None else max(newest_success, verified)
    if waits:
        return f"waiting for {' and '.join(waits)}"
    if rule.soak is not None and newest_success is not None:
        until = newest_success + rule.soak
        if now < until:
            where = " and ".join(rule.environments)
            return f"soaking in {where} until {until.strftime('%Y-%m-%d %H:%M:%S UTC')}"
    return None


def rule_for(key: str, spec: models.Promotion) -> Rule:
    """The rule ``spec.promotion`` of rollout ``key`` (namespace/name) states."""
    namespace = key.split("/", 1)[0]
    upstream = spec.rollout or key
    if "/" not in upstream:
        upstream = f"{namespace}/{upstream}"
    return Rule(upstream=upstream, environments=tuple(spec.from_), soak=spec.soak_time())
