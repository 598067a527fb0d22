"""Sharding (core/shards.py): the selector of --watch-label-selector and each shard's Lease."""

from __future__ import annotations

import pytest

from reconciler.core import selectors, shards
from reconciler.errors import InvalidSelector
from reconciler.interfaces.settings import LeaderSettings

SHARD1 = {"sharding.fluxcd.io/key": "shard1"}


@pytest.mark.parametrize(("text", "labels", "owned"), [
    # Flux's two selectors (fluxcd.io/flux/installation/configuration/sharding/).
    ("sharding.fluxcd.io/key=shard1", SHARD1, True),
    ("sharding.fluxcd.io/key=shard1", {"sharding.fluxcd.io/key": "shard2"}, False),
    ("sharding.fluxcd.io/key=shard1", {}, False),
    ("!sharding.fluxcd.io/key", {}, True),
    ("!sharding.fluxcd.io/key", SHARD1, False),
    ("sharding.fluxcd.io/key in (shard1, shard2)", SHARD1, True),
    ("sharding.fluxcd.io/key notin (shard1)", {}, True),
    ("sharding.fluxcd.io/key!=shard1", SHARD1, False),
    ("team=web,!sharding.fluxcd.io/key", {"team": "web"}, True),
])
def test_the_selector_owns_what_kubernetes_would_list(text: str, labels: dict[str, str],
                                                      owned: bool) -> None:
    selector = shards.parse(text)
    assert selector is not None
    assert selectors.matches(selector, labels) is owned


@pytest.mark.parametrize("text", [None, "", "  "])
def test_no_selector_is_every_rollout(text: str | None) -> None:
    assert shards.parse(text) is None
    assert shards.lease_name(text) == "reconciler-leader"


@pytest.mark.parametrize(("text", "complaint"), [
    ("sharding.fluxcd.io/key in (shard1", "cannot parse"),
    ("!!sharding.fluxcd.io/key", "cannot parse"),
    ("!sharding.fluxcd.io/key=shard1", "cannot parse"),
    ("sharding.fluxcd.io/key=shard1,", "ends with a comma"),
    ("key=" + "v" * 64, "longer than 63"),
    ("a" * 64 + "=v", "too long"),
    ("x" * 254 + "/key=v", "too long"),
])
def test_a_bad_selector_is_refused(text: str, complaint: str) -> None:
    with pytest.raises(InvalidSelector, match=complaint):
        shards.parse(text)


@pytest.mark.parametrize(("text", "lease"), [
    ("!sharding.fluxcd.io/key", "reconciler-leader"),  # the main instance keeps its Lease
    ("sharding.fluxcd.io/key=shard1", "reconciler-leader-shard1"),
    ("sharding.fluxcd.io/key==shard1", "reconciler-leader-shard1"),
    ("sharding.fluxcd.io/key in (eu-1)", "reconciler-leader-eu-1"),
])
def test_each_shard_has_its_own_lease(text: str, lease: str) -> None:
    assert shards.lease_name(text) == lease


def test_other_selectors_get_a_lease_of_their_own_and_never_share_one() -> None:
    texts = ["team=web", "team=db", "team in (web,db)", "team in (db, web)", "!team",
             "sharding.fluxcd.io/key=Shard_1", "team=web,!sharding.fluxcd.io/key"]
    names = {t: shards.lease_name(t) for t in texts}
    assert names["team in (web,db)"] == names["team in (db, web)"]  # the same selector
    assert len(set(names.values())) == len(texts) - 1
    for name in names.values():
        assert name.startswith("reconciler-leader-") and len(name) == len("reconciler-leader-") + 10


def test_an_explicit_lease_name_wins() -> None:
    assert LeaderSettings().lease("sharding.fluxcd.io/key=shard1") == "reconciler-leader-shard1"
    assert LeaderSettings(leader_election_name="mine").lease(
        "sharding.fluxcd.io/key=shard1") == "mine"


def test_shards_agree_on_a_schedules_status_and_leave_its_rollout_count_alone() -> None:
    """Each shard sees its own Rollouts only, so none writes ``matchingRollouts``; the
    rest is the schedule's and the clock's, so the second shard finds nothing to write
    after the first (no status ping-pong between shards)."""
    from datetime import UTC, datetime

    from reconciler.core import schedulemodels, windows

    spec = schedulemodels.schedule({
        "apiVersion": "kuberik.com/v1alpha1", "kind": "RolloutSchedule",
        "metadata": {"name": "freeze", "namespace": "apps"},
        "spec": {"rolloutSelector": {}, "rules": [{"name": "always"}], "action": "Deny"}})
    assert isinstance(spec, windows.Schedule)
    now = datetime(2026, 7, 15, 12, tzinfo=UTC)
    state = windows.state(spec, now)
    first = schedulemodels.status(state, matching=None, previous={"matchingRollouts": 7},
                                  now=now)
    assert "matchingRollouts" not in first  # a merge patch: the 7 stays
    later = datetime(2026, 7, 15, 12, 0, 3, tzinfo=UTC)
    second = schedulemodels.status(state, matching=None, previous=first, now=later)
    assert not schedulemodels.changed(first, second)
    assert schedulemodels.status(state, matching=3, previous=None, now=now)[
        "matchingRollouts"] == 3
