"""A release that failed long ago stays quarantined (core/quarantine), though the
daemon's bounded trail (core/auditindex) no longer holds its revert or its verdict:
selection skips it, the status leaves it out of the candidates, a person may still
retry it, and promotion still refuses it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.core import (
    auditindex,
    inventory,
    promotion,
    quarantine,
    selection,
    status,
    trailers,
    verdicts,
)
from reconciler.core.changes import ChangeSet
from reconciler.engine.actions import Actions
from reconciler.engine.releaser import Result
from reconciler.engine.snapshot import Snapshot
from reconciler.errors import InputError

KEY = "apps/web"
ENV = "staging"
START = datetime(2026, 6, 1, tzinfo=UTC)
DEPTH = 20


def record(i: int, action: trailers.Action, release: str, previous: str | None) -> trailers.Record:
    return trailers.Record(
        commit=f"{i:040x}", time=START + timedelta(minutes=i), subject=f"commit {i}",
        trailers=trailers.Trailers(
            rollout=KEY, action=action, release=release, previous_release=previous,
            reverts=f"{i - 1:040x}" if action == "revert" else None,
            reason="bake failed" if action == "revert" else None, environment=ENV))


def fleet(later: int) -> list[trailers.Record]:
    """Newest first: 1.0.0, then 2.0.0 released, verified (minute 2), reverted at
    minute 3, then ``later`` releases of 1.0.x."""
    out = [record(0, "release", "1.0.0", None), record(1, "release", "2.0.0", "1.0.0"),
           record(3, "revert", "1.0.0", "2.0.0")]
    out += [record(4 + i, "release", f"1.0.{i + 1}", f"1.0.{i}") for i in range(later)]
    return out[::-1]


def snapshot(records: list[trailers.Record]) -> Snapshot:
    """What the Scanner makes of them: the bounded trail, this environment's part."""
    trail = auditindex.bounded(records, depth=DEPTH)
    return Snapshot(commit="f" * 40, inventory=inventory.Inventory(),
                    history=trail.only(list(trail), environment=ENV), fleet_history=trail)


def test_its_revert_out_of_the_window_the_release_stays_quarantined() -> None:
    full = fleet(60)
    snap = snapshot(full)
    records = snap.records(KEY)
    assert len(records) == DEPTH and all(r.trailers.action == "release" for r in records)
    assert quarantine.quarantined(records, KEY) == quarantine.quarantined(full, KEY) == {"2.0.0"}
    assert quarantine.quarantines(snap.history) == {KEY: {"2.0.0"}}
    # Selection refuses it; the status does not offer it.
    decision = selection.choose(current="1.0.60", candidates=["2.0.0"],
                                policy=selection.Policy(constraint=None),
                                quarantined=quarantine.quarantined(records, KEY))
    assert decision.next is None
    assert [v.reason for v in decision.verdicts] == ["2.0.0: quarantined after a failed release"]
    shown = status.render(step=None, records=records, previous=None, generation=1,
                          revision="f" * 40, candidates=["2.0.0", "2.0.1"], limit=10,
                          now=START, error=("Test", "test", False))
    assert [v["tag"] for v in shown["releaseCandidates"]] == ["2.0.1"]
    assert shown["history"][0]["id"] == len(full)  # kuberik's count, the revert in it


class Rollouts:
    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return {"metadata": {"namespace": namespace, "name": name}, "spec": {}} \
            if f"{namespace}/{name}" == KEY else None


class Releaser:
    def __init__(self) -> None:
        self.released: list[tuple[str, str, str | None]] = []

    def release(self, key: str, tag: str, *, push: bool, requested_by: str | None) -> Result:
        self.released.append((key, tag, requested_by))
        return Result(outcome="written", rollout=key, action="release", release=tag,
                      previous="1.0.60", commit="e" * 40, changes=ChangeSet(rollout=key))


class Repository:
    """The daemon's repository as ``Actions`` sees it: loaded, a snapshot, writes."""

    loaded = True

    def __init__(self, snap: Snapshot) -> None:
        self.snapshot = snap
        self.releaser = Releaser()

    def write(self, operation: Callable[[Releaser], Result]) -> Result:
        return operation(self.releaser)


class Direct:
    def mode(self, obj: Mapping[str, Any]) -> str:
        return "direct"


def test_a_person_may_still_retry_a_release_that_failed_long_ago() -> None:
    repository = Repository(snapshot(fleet(60)))
    queued: list[str] = []
    actions = Actions(stores={"rollouts": Rollouts()}, repository=repository,  # type: ignore[dict-item]
                      writer=Direct(), enqueue=queued.append)  # type: ignore[arg-type]
    result = actions.retry("apps", "web", "2.0.0", requested_by="ana")
    assert result.outcome == "written"
    assert repository.releaser.released == [(KEY, "2.0.0", "ana")] and queued == [KEY]
    with pytest.raises(InputError, match=r"1\.0\.5 is not a failed release of apps/web"):
        actions.retry("apps", "web", "1.0.5", requested_by="ana")
    # Released again by that person, it stays quarantined (its revert is still in
    # git): only a person picks it, as before the bound.
    again = [record(200, "release", "2.0.0", "1.0.60"), *fleet(60)]
    assert quarantine.quarantined(snapshot(again).records(KEY), KEY) == {"2.0.0"}


@pytest.mark.parametrize(("verified_at", "refused"), [
    (2, "reverted in staging after it was verified"),  # verified, then reverted
    (100, None),  # reverted, then released again by a person and verified since
])
def test_promotion_still_sees_an_old_revert_after_a_verdict(verified_at: int,
                                                            refused: str | None) -> None:
    full = fleet(60)
    found = [verdicts.Verdict(commit=f"{1:040x}", rollout=KEY, release="2.0.0",
                              environment=ENV, result="Succeeded",
                              ended=START + timedelta(minutes=verified_at))]
    rule = promotion.Rule(upstream=KEY, environments=(ENV,))
    for history in (full, snapshot(full).fleet_history):
        assert promotion.waiting(rule=rule, candidates=["2.0.0"], found=found,
                                 history=history, now=START + timedelta(days=1)) == \
            ({"2.0.0": refused} if refused else {})
