"""End-to-end: deploy windows (RolloutSchedule) with the daemon as a process.

A window that denies now and ends in a few seconds: the release waits with reason
OutsideDeployWindow and the time the window opens, and is written right after; the
schedule's status follows. The slow variants: a failing bake is reverted inside a
Deny window, and a bake in flight finishes in one while the next release waits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.core.status import tag_of
from tests.e2e.conftest import E2E, RESYNC, ROLLOUT_API

SCHEDULE_API = ROLLOUT_API


def label_podinfo(e2e: E2E) -> None:
    obj = e2e.rollout()
    obj["metadata"].setdefault("labels", {})["deploy-window"] = "business"
    e2e.emulator.apply(obj)


def deny(e2e: E2E, *, seconds: int, name: str = "freeze") -> tuple[datetime, datetime]:
    """A Deny window that began a moment ago and lasts ``seconds``, as an rrule."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    e2e.emulator.apply({
        "apiVersion": SCHEDULE_API, "kind": "RolloutSchedule",
        "metadata": {"name": name, "namespace": "apps"},
        "spec": {"rolloutSelector": {"matchLabels": {"deploy-window": "business"}},
                 "action": "Deny", "timezone": "UTC",
                 "rules": [{"name": "maintenance", "duration": f"{seconds + 1}s",
                            "rrule": f"DTSTART:{start:%Y%m%dT%H%M%S}\nRRULE:FREQ=DAILY"}]},
    })
    return start, start + timedelta(seconds=seconds + 1)


def schedule_status(e2e: E2E, name: str = "freeze") -> dict[str, Any]:
    obj = e2e.emulator.get_object(SCHEDULE_API, "RolloutSchedule", namespace="apps", name=name)
    return (obj or {}).get("status") or {}


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_release_waits_for_a_deny_window_that_ends_in_seconds(e2e: E2E) -> None:
    label_podinfo(e2e)
    e2e.start_daemon()
    e2e.wait_until("the daemon to report", lambda: e2e.condition("Ready").get("reason"))
    start, end = deny(e2e, seconds=8)  # time enough for a loaded machine to see the offer inside it
    # The schedule and the ImagePolicy arrive on two watch streams, in no fixed order (as in
    # a cluster): offer only once the daemon has seen the window, or the offer may win.
    e2e.wait_until("the daemon to see the window", lambda: schedule_status(e2e).get("active"))
    e2e.offer("6.5.0")

    ready = e2e.wait_until("OutsideDeployWindow", lambda: (
        c := e2e.condition("Ready")).get("reason") == "OutsideDeployWindow" and c)
    assert ready["message"].startswith("6.5.0 waits: outside the deploy window: "
                                       "RolloutSchedule apps/freeze denies deploys now "
                                       "(rule maintenance)")
    assert f"it opens at {stamp(end)}" in ready["message"]
    assert e2e.status()["phase"] == "wait"
    assert schedule_status(e2e) | {"conditions": None} == {
        "active": True, "activeRules": ["maintenance"], "nextTransition": stamp(end),
        "matchingRollouts": 1, "conditions": None}
    assert not e2e.reconciler_commits()

    [commit] = e2e.wait_until("the release of 6.5.0",
                              lambda: e2e.reconciler_commits(action="release", release="6.5.0"))
    assert commit.time >= end.timestamp(), "released before the window ended"
    e2e.wait_until("the schedule to close", lambda: schedule_status(e2e).get("active") is False
                   and schedule_status(e2e).get("nextTransition")
                   == stamp(start + timedelta(days=1)))
    assert e2e.events("OutsideDeployWindow")
    e2e.check_history_intact()


@pytest.mark.slow
def test_a_failing_bake_is_reverted_inside_a_deny_window(e2e: E2E) -> None:
    label_podinfo(e2e)
    e2e.start_daemon()
    e2e.offer("6.5.0")
    [release] = e2e.wait_until("the release of 6.5.0", lambda: e2e.reconciler_commits(
        action="release", release="6.5.0"))
    _, end = deny(e2e, seconds=60)
    e2e.health("podinfo-error-rate", "Unhealthy", "error rate 7.2% > 5%")

    [revert] = e2e.wait_until("the revert", lambda: e2e.reconciler_commits(action="revert"))
    assert revert.trailers["Reverts"] == release.sha
    assert revert.time < end.timestamp()
    e2e.check_history_intact()


@pytest.mark.slow
def test_a_bake_in_flight_finishes_inside_a_deny_window_the_next_release_waits(
        e2e: E2E) -> None:
    label_podinfo(e2e)
    e2e.start_daemon()
    e2e.offer("6.5.0")
    e2e.wait_until("the release of 6.5.0", lambda: e2e.reconciler_commits(release="6.5.0"))
    deny(e2e, seconds=60)
    e2e.wait_until("6.5.0 to bake inside the window", lambda: tag_of(
        e2e.newest().get("version")) == "6.5.0" and e2e.newest().get("bakeStatus") == "Succeeded")

    e2e.offer("6.6.0")
    e2e.wait_until("6.6.0 to wait", lambda: e2e.condition("Ready").get("reason")
                   == "OutsideDeployWindow" and "6.6.0 waits" in e2e.condition("Ready")["message"])
    e2e.stays("6.6.0 held", lambda: not e2e.reconciler_commits(release="6.6.0"), RESYNC)
    # Deleting the schedule opens the window at once (the schedule's routes wake it).
    e2e.emulator.delete_object(SCHEDULE_API, "RolloutSchedule", namespace="apps",
                               name="freeze")
    e2e.wait_until("the release of 6.6.0", lambda: e2e.reconciler_commits(release="6.6.0"))
