"""Bake verdicts as note text: rendered for people, parsed back exactly, idempotent."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.core import verdicts

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 3, 8, 10, 30, tzinfo=UTC)


def _v(env: str = "staging", result: verdicts.Result = "Succeeded",
       failed: tuple[verdicts.FailedCheck, ...] = ()) -> verdicts.Verdict:
    return verdicts.Verdict(commit="a" * 40, rollout="apps/podinfo", release="6.5.0",
                            environment=env, result=result, started=T0, ended=T1,
                            failed=failed)


def test_a_succeeded_verdict_reads_as_a_sentence_then_fields() -> None:
    text = _v().render()
    assert text.splitlines()[0] == \
        "Verified in staging: 6.5.0 of apps/podinfo stayed healthy for 10m30s."
    assert "Bake: Succeeded\nRollout: apps/podinfo\nRelease: 6.5.0\nEnvironment: staging\n" \
           "Bake-Started: 2026-12-03T08:00:00Z\nBake-Ended: 2026-12-03T08:10:30Z" in text
    assert verdicts.parse("a" * 40, text) == [_v()]


def test_a_failed_verdict_names_each_health_check_and_parses_back() -> None:
    failed = (verdicts.FailedCheck("apps/podinfo-http", "5xx rate 12%"),
              verdicts.FailedCheck("apps/podinfo-latency", "p99 2.1s"))
    v = _v(result="Failed", failed=failed)
    text = v.render()
    assert text.startswith("Failed in staging: 6.5.0 of apps/podinfo; "
                           "apps/podinfo-http, apps/podinfo-latency failed the bake.")
    assert "Failed-HealthCheck: apps/podinfo-http: 5xx rate 12%" in text
    assert verdicts.parse("a" * 40, text) == [v]
    assert v.as_dict()["reason"] == "apps/podinfo-http: 5xx rate 12%; " \
                                    "apps/podinfo-latency: p99 2.1s"


def test_adding_is_idempotent_per_environment_and_keeps_other_text() -> None:
    first = verdicts.add(None, _v("staging"))
    assert first is not None
    assert verdicts.add(first, _v("staging")) is None
    person = first + "\nChecked by hand too. -- Ana\n"
    both = verdicts.add(person, _v("production"))
    assert both is not None and "Checked by hand too. -- Ana" in both
    assert [v.environment for v in verdicts.parse("a" * 40, both)] == ["staging", "production"]


def test_control_characters_cannot_forge_a_field() -> None:
    v = _v(result="Failed", failed=(verdicts.FailedCheck(
        "apps/x", "boom\nBake: Succeeded\nEnvironment: production"),))
    parsed = verdicts.parse("a" * 40, v.render())
    assert [(p.result, p.environment) for p in parsed] == [("Failed", "staging")]


def test_history_entry_shape() -> None:
    entry = _v().as_dict()
    assert {k: entry[k] for k in ("action", "result", "release", "environment", "commit",
                                  "time")} == {
        "action": "bake", "result": "Succeeded", "release": "6.5.0",
        "environment": "staging", "commit": "a" * 40, "time": T1.isoformat()}


def test_malformed_paragraphs_are_ignored() -> None:
    assert verdicts.parse("a" * 40, "Bake: Maybe\nRollout: a/b\nRelease: 1.0.0\n"
                                    "Environment: x\nBake-Ended: 2026-12-03T08:00:00Z") == []
    assert verdicts.parse("a" * 40, "Bake: Failed\nRollout: a/b\nRelease: 1.0.0\n"
                                    "Environment: x\nBake-Ended: yesterday") == []
    assert verdicts.parse("a" * 40, "just words") == []


@pytest.mark.parametrize("seed", range(40))
def test_a_merge_of_new_verdicts_is_the_whole_set_sorted_again(seed: int) -> None:
    """The daemon merges the verdicts a notes move added into the thousands it holds
    (``merged``); it must hold exactly what sorting the union gives, ties (one commit,
    one end, several rollouts or environments) and verdicts it already holds included."""
    rng = random.Random(seed)
    t0 = datetime(2026, 12, 3, tzinfo=UTC)
    pool = list({(rng.choice("abcdef") * 40, rng.choice(["apps/a", "apps/b", "apps/c"]),
                  rng.choice(["staging", "production"])): None for _ in range(60)})
    every = [verdicts.Verdict(commit=commit, rollout=rollout, release=f"1.{i}.0", environment=env,
                     result=rng.choice(["Succeeded", "Failed"]),
                     ended=t0 + timedelta(minutes=rng.randrange(4)))
             for i, (commit, rollout, env) in enumerate(pool)]
    held = [v for v in every if rng.random() < 0.6]
    added = [v for v in every if v not in held or rng.random() < 0.2]
    rng.shuffle(added)
    found = verdicts.canonical(held)
    assert verdicts.merged(found, added) == verdicts.canonical(set(held) | set(added))
    assert verdicts.merged(found, []) == found
    assert verdicts.merged([], added) == verdicts.canonical(set(added))
