"""The bounded audit index (core/auditindex): flat over thousands of releases, and
every decision read from it the same as from the whole history."""

from __future__ import annotations

import dataclasses
import random
import sys
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.core import (
    auditindex,
    declines,
    inventory,
    promotion,
    quarantine,
    stats,
    status,
    trailers,
    verdicts,
)
from reconciler.engine import verdicts as verdict_notes
from reconciler.engine.releaser import last_release
from reconciler.engine.snapshot import Snapshot

ROLLOUTS = ("apps/web", "apps/api", "jobs/batch")
ENVIRONMENTS = ("staging", "production", None)  # None: written before environments
START = datetime(2026, 1, 1, tzinfo=UTC)


def history(n: int, *, seed: int = 7) -> list[trailers.Record]:
    """``n`` reconciler commits, newest first: releases of rising tags in turn, about
    one in five reverted, now and then a rollback; some tags reverted twice."""
    rng = random.Random(seed)
    out: list[trailers.Record] = []
    current: dict[tuple[str | None, str], tuple[str, str]] = {}
    for i in range(n):
        env, rollout = rng.choice(ENVIRONMENTS), rng.choice(ROLLOUTS)
        when = START + timedelta(minutes=i)
        sha = f"{i:040x}"
        last = current.get((env, rollout))
        roll = rng.random()
        if last is not None and roll < 0.2:
            t = trailers.Trailers(rollout=rollout, action="revert", release="0.0.1",
                                  previous_release=last[1], reverts=last[0],
                                  reason="bake failed", environment=env)
        elif last is not None and roll < 0.23:
            t = trailers.Trailers(rollout=rollout, action="rollback", release="0.0.1",
                                  previous_release=last[1], reason="by hand",
                                  environment=env)
        else:
            # A tag now and then released again after its revert (a pin, by hand).
            tag = last[1] if last is not None and roll > 0.98 else f"1.{i // 100}.{i}"
            t = trailers.Trailers(rollout=rollout, action="release", release=tag,
                                  previous_release=last[1] if last else None, environment=env)
            current[(env, rollout)] = (sha, tag)
        out.append(trailers.Record(commit=sha, time=when, subject=f"commit {i}", trailers=t))
    out.reverse()
    return out


def snapshot(records: auditindex.Trail | list[trailers.Record],
             environment: str) -> Snapshot:
    """What the Scanner makes of a fleet history for one environment."""
    fleet = records if isinstance(records, auditindex.Trail) else auditindex.Trail(records)
    mine = fleet.only((r for r in fleet if r.trailers.environment in (None, environment)),
                      environment=environment)
    return Snapshot(commit="0" * 40, inventory=inventory.Inventory(), history=mine,
                    fleet_history=fleet)


@pytest.mark.parametrize("n", [60, 3_000])
def test_every_decision_reads_the_same_from_the_bounded_index(n: int) -> None:
    full = history(n)
    bounded = auditindex.bounded(full, depth=20)
    for env in ("staging", "production"):
        whole, small = snapshot(full, env), snapshot(bounded, env)
        for rollout in ROLLOUTS:
            a, b = whole.records(rollout), small.records(rollout)
            assert a[:20] == b[:20]  # the newest records, the newest first
            assert quarantine.quarantined(a, rollout) == quarantine.quarantined(b, rollout)
            assert quarantine.quarantined(whole.history, rollout) == \
                quarantine.quarantined(small.history, rollout)
            assert last_release(whole.history, rollout) == last_release(small.history, rollout)
            # The status history, ids included (kuberik counts every entry ever).
            shown = [status.render(step=None, records=recs, previous=None, generation=1,
                                   revision="0" * 40, candidates=(), limit=10,
                                   now=START, error=("Test", "test", False))["history"]
                     for recs in (a, b)]
            assert shown[0] == shown[1]
            assert shown[0] and shown[0][0]["id"] == len(a)
            # Entries that lost their commit (kuberik's CRD prunes it) still find it.
            pruned = {"history": [{k: v for k, v in e.items() if k != "commit"}
                                  | {"bakeStatus": "Succeeded"} for e in shown[0]]}
            assert [k.commit for k in status.kept_from(pruned, b)] == \
                [k.commit for k in status.kept_from(pruned, a)] != []
        # Promotion from staging: an upstream revert after a verdict, however old.
        for rollout in ROLLOUTS:
            tags = sorted({r.trailers.release for r in full if r.trailers.rollout == rollout})
            found = [verdicts.Verdict(commit="f" * 40, rollout=rollout, release=tag,
                                      environment="staging", result="Succeeded", ended=START)
                     for tag in tags]
            rule = promotion.Rule(upstream=rollout, environments=("staging",))
            assert promotion.waiting(rule=rule, candidates=tags, found=found,
                                     history=whole.fleet_history, now=START) == \
                promotion.waiting(rule=rule, candidates=tags, found=found,
                                  history=small.fleet_history, now=START)


def test_the_index_stays_flat_over_thousands_of_releases() -> None:
    full = history(6_000)
    keys = len(ROLLOUTS) * len(ENVIRONMENTS)
    for n in (1_000, 2_000, 4_000, 6_000):
        part = full[len(full) - n:]  # the oldest n commits: the history when it had n
        bounded = auditindex.bounded(part, depth=20)
        # No record beyond the newest depth a key, old reverts included: of those,
        # the releases they took out (``taken_out``).
        assert len(bounded) == 20 * keys
        assert sum(bounded.omitted.values()) + len(bounded) == n
        beyond = {(r.trailers.environment, r.trailers.rollout, r.trailers.previous_release)
                  for r in part if r.trailers.action in auditindex.TAKEN_OUT
                  and r not in bounded}
        assert {(*key, release) for key, removed in bounded.taken_out.items()
                for release in removed} <= beyond


def test_extended_commit_by_commit_it_is_the_index_read_whole() -> None:
    # The Scanner extends the index with each fetch; after a restart it reads it whole.
    full = history(2_000, seed=3)
    index = auditindex.Trail()
    for end in range(len(full), 0, -97):  # oldest first, ~97 new commits at a time
        new = full[end - 97 if end >= 97 else 0:end]
        index = auditindex.bounded(index.like([*new, *index]), depth=15)
    whole = auditindex.bounded(full, depth=15)
    assert tuple(index) == tuple(whole)
    assert index.omitted == whole.omitted
    assert index.taken_out == whole.taken_out and whole.taken_out


def failures(n: int) -> list[verdicts.Verdict]:
    """``n`` bake verdicts, newest first, one in seven Failed, now and then a release
    that failed, was released again by a person and failed again."""
    return [verdicts.Verdict(
        commit=f"{i:040x}", rollout=ROLLOUTS[i % 3],
        release=f"1.0.{i - i % 50 if i % 13 == 0 else i}",
        environment=("staging", "production")[i % 2],
        result="Failed" if i % 7 == 0 else "Succeeded", started=START,
        ended=START - timedelta(minutes=i),
        failed=(verdicts.FailedCheck(name="apps/web-errors", message="error rate 7.1 %"),)
        if i % 7 == 0 else ()) for i in range(n)]


def test_verdicts_keep_the_newest_and_which_releases_failed() -> None:
    found = failures(2_000)
    kept = auditindex.bounded_verdicts(found, depth=10)
    assert kept == tuple(found[:60])  # the newest 10 of each key, whole: nothing else
    for env in ("staging", "production"):
        for rollout in ROLLOUTS:
            tags = sorted({v.release for v in found if v.rollout == rollout})
            for tag in tags:
                assert quarantine.failed(kept, rollout=rollout, release=tag, environment=env) \
                    == quarantine.failed(found, rollout=rollout, release=tag, environment=env)
            # Promotion from there: a release that failed, however long ago, never goes
            # (a Succeeded verdict out of the window is waited for again, as before).
            rule = promotion.Rule(upstream=rollout, environments=(env,))
            bad = [t for t in tags if quarantine.failed(found, rollout=rollout, release=t,
                                                        environment=env)]
            assert bad and promotion.waiting(rule=rule, candidates=bad, found=kept,
                                             history=(), now=START) == \
                {t: f"failed in {env}" for t in bad}
    # Read notes move by notes move (engine/verdicts merges what a move added into
    # what it holds, then bounds it) or all at once: the same.
    held = auditindex.Found()
    for end in range(len(found), 0, -97):
        held = auditindex.bounded_verdicts(
            held.like(verdicts.merged(held, found[max(0, end - 97):end])), depth=10)
    assert held == kept and held.failed == kept.failed


class _Notes:
    """What ``engine/verdicts.read_all`` reads of a mirror: its notes, in commit-id
    order as git iterates them (not in time order)."""

    def __init__(self, found: list[verdicts.Verdict]) -> None:
        self.texts: dict[str, str] = {}
        for v in found:
            self.texts[v.commit] = verdicts.add(self.texts.get(v.commit), v) or ""

    def notes(self, ref: str) -> list[tuple[str, str]]:
        return sorted(self.texts.items())


def test_verdicts_bounded_as_the_notes_are_read_are_those_bounded_whole(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Two environments' verdicts on one commit; chunks of 50 notes: the bound runs
    # again about forty times, on notes in no order of time.
    found = [dataclasses.replace(v, commit=f"{(i // 2) * 7919 % 100_003:040x}")
             for i, v in enumerate(failures(2_000))]
    whole = auditindex.bounded_verdicts(verdicts.canonical(found), depth=10)
    monkeypatch.setattr(verdict_notes, "_CHUNK", 50)
    read, _ = verdict_notes.read_all(_Notes(found), depth=10)  # type: ignore[arg-type]
    assert isinstance(read, auditindex.Found)
    assert read == whole and read.failed == whole.failed and whole.failed
    assert verdict_notes.read_all(_Notes(found))[0] == tuple(verdicts.canonical(found))


def _deep_size(obj: object, seen: set[int]) -> int:
    """Bytes of ``obj`` and what it alone refers to (objects shared, e.g. interned
    strings, counted once)."""
    if id(obj) in seen or obj is None or (isinstance(obj, (bool, int)) and -5 <= obj <= 256):
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(_deep_size(k, seen) + _deep_size(v, seen) for k, v in obj.items())
    return size


def test_what_a_failure_leaves_for_ever_is_a_release_name_and_a_time() -> None:
    # Every failed release stays quarantined for as long as the daemon runs: beyond
    # the windows, a revert leaves the release it took out and when, a Failed
    # verdict only its release (a soak failing one release in five must not grow by
    # a record and a verdict each time: 735 B, docs/performance.md).
    full = history(6_000)
    bounded = auditindex.bounded(full, depth=20)
    removed = [when for out in bounded.taken_out.values() for when in out.values()]
    assert len(removed) > 500
    seen: set[int] = set()
    per_revert = _deep_size(bounded.taken_out, seen) / len(removed)
    assert per_revert < 200, per_revert
    found = auditindex.bounded_verdicts(failures(6_000), depth=10)
    names = [tag for out in found.failed.values() for tag in out]
    assert len(names) > 500
    # The names the reverts keep are the ones the verdicts keep (interned).
    assert _deep_size(found.failed, set()) / len(names) < 150


def decisions(n: int, *, seed: int) -> list[declines.Decline]:
    """``n`` decisions, oldest first as engine/verdicts holds them: pull requests
    declined, reopened and declined again, merged without trailers, approvals of
    releases and canary steps, across rollouts and environments, some at one time."""
    rng = random.Random(seed)
    out: list[declines.Decline] = []
    for i in range(n):
        env, rollout = rng.choice(("staging", "production")), rng.choice(ROLLOUTS)
        release = f"1.{i // 40}.{rng.randrange(12)}"
        decision = rng.choice(declines.DECISIONS)
        out.append(declines.Decline(
            commit=f"{rng.randrange(10**6):040x}", rollout=rollout, release=release,
            environment=env, number=i, at=START + timedelta(minutes=i // 3),
            decision=decision, step=rng.choice((None, 1, 2)) if decision == "Approved" else None))
    return sorted(out, key=lambda d: (d.at, d.commit, d.rollout, d.environment))


@pytest.mark.parametrize("seed", range(3))
def test_every_decision_on_pull_requests_reads_the_same_from_the_bounded_decisions(
        seed: int) -> None:
    depth = 8
    full = decisions(2_000, seed=seed)
    small = auditindex.bounded_decisions(full, depth=depth)
    assert len(small) < len(full) / 2
    now = START + timedelta(days=30)
    for env in ("staging", "production"):
        for rollout in ROLLOUTS:
            assert declines.active(small, rollout=rollout, environment=env) == \
                declines.active(full, rollout=rollout, environment=env)
            merges = [d for d in full if d.decision == "Merged" and d.rollout == rollout
                      and d.environment == env][-depth:]
            assert [d for d in small if d.decision == "Merged" and d.rollout == rollout
                    and d.environment == env] == merges
            approved = [d for d in full if d.decision == "Approved" and d.rollout == rollout
                        and d.environment == env]
            newest = list(dict.fromkeys(d.release for d in reversed(approved)))
            for release in newest:
                for step in (None, 1, 2):
                    whole = declines.approval(full, rollout=rollout, release=release,
                                              environment=env, step=step)
                    kept = declines.approval(small, rollout=rollout, release=release,
                                             environment=env, step=step)
                    # The newest releases' approvals are kept; an older one is asked
                    # for again, never taken as given.
                    assert kept == (whole if release in newest[:depth] else None)
    for since in (START, START + timedelta(hours=3), START + timedelta(hours=6)):
        assert stats.compute([], [], since=since, now=now, decided=small) == \
            stats.compute([], [], since=since, now=now, decided=full)
    # Read note by note (engine/verdicts bounds what it holds after each notes move)
    # or all at once: the same.
    held: tuple[declines.Decline, ...] = ()
    for at in range(0, len(full), 97):
        held = auditindex.bounded_decisions(
            sorted({*held, *full[at:at + 97]},
                   key=lambda d: (d.at, d.commit, d.rollout, d.environment)), depth=depth)
    assert held == small


def test_decisions_stay_flat_over_thousands_of_releases() -> None:
    """Every release approved, then its pull request merged or declined and reopened:
    what is kept depends on the depth, not on how many releases went by."""
    out = []
    for i in range(6_000):
        release = f"1.0.{i}"
        for j, decision in enumerate(("Approved", "Declined", "Resumed")
                                     if i % 2 else ("Approved", "Merged")):
            out.append(declines.Decline(commit=f"{i:040x}", rollout="apps/web",
                                        release=release, environment="staging", number=i,
                                        at=START + timedelta(minutes=i, seconds=j),
                                        decision=decision))  # type: ignore[arg-type]
    kept = auditindex.bounded_decisions(out, depth=10)
    assert len(kept) == 20  # 10 releases' approvals, 10 merges
