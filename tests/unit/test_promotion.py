"""Promotion from environment to environment, decided from verdicts and reverts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.core import models, promotion, trailers, verdicts

NOW = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
RULE = promotion.Rule(upstream="apps/podinfo", environments=("staging",))


def _verdict(tag: str, env: str = "staging", result: verdicts.Result = "Succeeded",
             ended: datetime = NOW - timedelta(hours=1),
             rollout: str = "apps/podinfo") -> verdicts.Verdict:
    return verdicts.Verdict(commit=f"{tag}-{env}", rollout=rollout, release=tag,
                            environment=env, result=result, ended=ended)


def _revert(tag: str, env: str | None, at: datetime) -> trailers.Record:
    return trailers.Record(commit=f"revert-{tag}", time=at, subject="Revert",
                           trailers=trailers.Trailers(
                               rollout="apps/podinfo", action="revert", release="6.4.0",
                               previous_release=tag, reverts="x", environment=env))


def _waiting(found: list[verdicts.Verdict], *, rule: promotion.Rule = RULE,
             history: list[trailers.Record] | None = None,
             tags: tuple[str, ...] = ("6.5.0",)) -> dict[str, str]:
    return promotion.waiting(rule=rule, candidates=tags, found=found,
                             history=history or [], now=NOW)


def test_a_release_no_upstream_environment_has_baked_waits() -> None:
    assert _waiting([]) == {"6.5.0": "waiting for staging"}
    # A verdict of another release, rollout or environment does not count.
    assert _waiting([_verdict("6.4.0"), _verdict("6.5.0", env="dev"),
                     _verdict("6.5.0", rollout="apps/other")]) == \
        {"6.5.0": "waiting for staging"}


def test_a_succeeded_verdict_promotes() -> None:
    assert _waiting([_verdict("6.5.0")]) == {}


def test_a_failed_verdict_is_never_promoted() -> None:
    assert _waiting([_verdict("6.5.0", result="Failed")]) == {"6.5.0": "failed in staging"}
    # Not even when a later bake of another commit of the same release succeeded.
    assert _waiting([_verdict("6.5.0"), _verdict("6.5.0", result="Failed")]) == \
        {"6.5.0": "failed in staging"}


def test_a_revert_upstream_after_the_verdict_stops_promotion() -> None:
    after = [_revert("6.5.0", "staging", NOW - timedelta(minutes=5))]
    assert _waiting([_verdict("6.5.0")], history=after) == \
        {"6.5.0": "reverted in staging after it was verified"}
    elsewhere = [_revert("6.5.0", "production", NOW - timedelta(minutes=5))]
    assert _waiting([_verdict("6.5.0")], history=elsewhere) == {}


def test_soak_time_counts_from_the_newest_verdict() -> None:
    rule = promotion.Rule(upstream="apps/podinfo", environments=("staging", "canary"),
                          soak=timedelta(minutes=30))
    found = [_verdict("6.5.0", ended=NOW - timedelta(hours=2)),
             _verdict("6.5.0", env="canary", ended=NOW - timedelta(minutes=10))]
    assert _waiting(found, rule=rule) == \
        {"6.5.0": "soaking in staging and canary until 2026-12-03 14:20:00 UTC"}
    assert _waiting(found[:1], rule=rule) == {"6.5.0": "waiting for canary"}
    old = [_verdict("6.5.0", ended=NOW - timedelta(hours=2)),
           _verdict("6.5.0", env="canary", ended=NOW - timedelta(minutes=31))]
    assert _waiting(old, rule=rule) == {}


def test_rule_from_the_spec_defaults_to_the_same_rollout() -> None:
    spec = models.Promotion.model_validate({"from": ["staging"], "soakTime": "30m"})
    assert promotion.rule_for("apps/podinfo", spec) == promotion.Rule(
        upstream="apps/podinfo", environments=("staging",), soak=timedelta(minutes=30))
    other = models.Promotion.model_validate({"from": ["staging"], "rollout": "web"})
    assert promotion.rule_for("apps/podinfo", other).upstream == "apps/web"
    cross = models.Promotion.model_validate({"from": ["staging"], "rollout": "team/web"})
    assert promotion.rule_for("apps/podinfo", cross).upstream == "team/web"


def test_selection_skips_a_waiting_candidate_for_an_older_promoted_one() -> None:
    from reconciler.core import selection

    policy = selection.Policy(constraint=None)
    waits = {"6.6.0": "waiting for staging"}
    decision = selection.choose(current="6.4.0", candidates=["6.5.0", "6.6.0"],
                                policy=policy, promotion=waits)
    assert (decision.action, decision.next) == ("release", "6.5.0")
    assert "Skipped 6.6.0: waiting for staging." in decision.reasons
    blocked = selection.choose(current="6.4.0", candidates=["6.6.0"], policy=policy,
                               promotion=waits)
    assert blocked.action == "blocked"
    assert "Refused 6.6.0: waiting for staging." in blocked.reasons
