"""The bake of a release (reconciler.core.bake): kuberik's semantics, as a vector table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.core import bake

DEPLOYED = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
BAKE = timedelta(minutes=10)
M = timedelta(minutes=1)
S = timedelta(seconds=1)


def at(delta: timedelta) -> datetime:
    return DEPLOYED + delta


def healthy(name: str = "apps/podinfo", *, last_error: datetime | None = None) -> bake.Check:
    return bake.Check(name=name, status=bake.HEALTHY, last_error=last_error)


def unhealthy(name: str = "apps/podinfo", message: str = "") -> bake.Check:
    return bake.Check(name=name, status=bake.UNHEALTHY, message=message)


def pending(name: str = "apps/podinfo") -> bake.Check:
    return bake.Check(name=name, status=bake.PENDING)


def no_status(name: str = "apps/podinfo") -> bake.Check:
    return bake.Check(name=name, status=None)


def health_check(status: Any = None, *, name: str = "podinfo", namespace: str = "apps",
                 with_status: bool = True) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "kuberik.com/v1alpha1", "kind": "HealthCheck",
        "metadata": {"name": name, "namespace": namespace},
    }
    if with_status:
        obj["status"] = status
    return obj


@dataclass(frozen=True)
class Vector:
    id: str
    checks: tuple[bake.Check, ...]
    now: timedelta  # since the deploy
    state: bake.State
    bake_start: timedelta | None = None  # kept from a previous evaluation
    start_timeout: timedelta | None = None
    bake_time: timedelta = BAKE
    expect_start: timedelta | None = None  # verdict.bake_start, relative to the deploy
    ends_at: timedelta | None = None
    failed: tuple[str, ...] = ()
    says: tuple[str, ...] = field(default_factory=tuple)


V = Vector
VECTORS = [
    # --- failure: Unhealthy, or an error at/after the deploy -----------------------
    V("unhealthy-fails-before-bake", (unhealthy(message="error rate 7%"),), 1 * M, "Failed",
      failed=("apps/podinfo",), says=("apps/podinfo", "error rate 7%")),
    V("unhealthy-without-message-says-unhealthy", (unhealthy(),), 1 * M, "Failed",
      failed=("apps/podinfo",), says=("apps/podinfo: Unhealthy",)),
    V("unhealthy-mid-bake-fails-and-keeps-start", (unhealthy(),), 5 * M, "Failed",
      bake_start=1 * M, expect_start=1 * M, failed=("apps/podinfo",)),
    V("flapped-after-deploy-fails-though-healthy-now",
      (healthy(last_error=at(30 * S)),), 2 * M, "Failed", bake_start=1 * M,
      expect_start=1 * M, failed=("apps/podinfo",)),
    V("error-exactly-at-deploy-fails", (healthy(last_error=DEPLOYED),), 1 * M, "Failed",
      failed=("apps/podinfo",)),
    V("error-before-deploy-is-forgiven", (healthy(last_error=at(-S)),), 1 * M, "InProgress",
      expect_start=1 * M, ends_at=11 * M),
    V("unhealthy-wins-over-pending", (pending("apps/a"), unhealthy("apps/b")), 1 * M,
      "Failed", failed=("apps/b",), says=("apps/b",)),
    V("several-failed-sorted-by-name", (unhealthy("apps/zeta"), unhealthy("apps/alpha")),
      1 * M, "Failed", failed=("apps/alpha", "apps/zeta"), says=("apps/alpha", "apps/zeta")),
    # --- the bake starts only when everything is Healthy ---------------------------
    V("all-healthy-starts-now", (healthy("apps/a"), healthy("apps/b")), 2 * M, "InProgress",
      expect_start=2 * M, ends_at=12 * M, says=("600s left",)),
    V("one-pending-holds-the-start", (healthy("apps/a"), pending("apps/b")), 2 * M, "Pending",
      says=("apps/b (Pending)",)),
    V("no-status-holds-the-start", (healthy("apps/a"), no_status("apps/b")), 2 * M,
      "Pending", says=("apps/b (no status yet)",)),
    V("malformed-holds-the-start",
      (bake.Check("apps/b", None, malformed="status is not an object"),), 2 * M, "Pending",
      says=("apps/b (status is not an object)",)),
    V("pending-lists-only-the-waiting", (healthy("apps/a"), pending("apps/b")), 2 * M,
      "Pending", says=("waiting for HealthChecks: apps/b (Pending)",)),
    # --- running and finishing ----------------------------------------------------
    V("in-progress-keeps-its-start", (healthy(),), 6 * M, "InProgress", bake_start=1 * M,
      expect_start=1 * M, ends_at=11 * M, says=("300s left",)),
    V("one-second-before-the-end", (healthy(),), 11 * M - S, "InProgress", bake_start=1 * M,
      expect_start=1 * M, ends_at=11 * M, says=("1s left",)),
    V("succeeds-exactly-at-bake-time", (healthy(),), 11 * M, "Succeeded", bake_start=1 * M,
      expect_start=1 * M, says=("healthy for 10m",)),
    # --- no HealthCheck selected: bake for bakeTime all the same ---------------------
    V("no-checks-start-at-once", (), 1 * M, "InProgress", expect_start=1 * M, ends_at=11 * M),
    V("no-checks-still-wait-bake-time", (), 10 * M, "InProgress", bake_start=1 * M,
      expect_start=1 * M, ends_at=11 * M),
    V("no-checks-succeed-after-bake-time", (), 11 * M, "Succeeded", bake_start=1 * M,
      expect_start=1 * M, says=("no HealthCheck selected",)),
    V("zero-bake-time-succeeds-at-once", (healthy(),), 1 * M, "Succeeded",
      bake_time=timedelta(0), expect_start=1 * M),
    # --- start_timeout: a bake that never starts fails ------------------------------
    V("start-timeout-not-reached", (pending(),), 4 * M, "Pending", start_timeout=5 * M,
      ends_at=5 * M, says=("apps/podinfo (Pending)",)),
    V("start-timeout-reached-fails", (pending(),), 5 * M, "Failed", start_timeout=5 * M,
      failed=("apps/podinfo",), says=("not healthy within 5m", "apps/podinfo (Pending)")),
    V("start-timeout-names-only-the-unready", (healthy("apps/a"), no_status("apps/b")), 9 * M,
      "Failed", start_timeout=5 * M, failed=("apps/b",), says=("apps/b (no status yet)",)),
    V("no-start-timeout-waits-forever", (pending(),), 24 * 60 * M, "Pending"),
    V("start-timeout-ignored-once-baking", (healthy(),), 8 * M, "InProgress",
      bake_start=4 * M, start_timeout=5 * M, expect_start=4 * M, ends_at=14 * M),
]


@pytest.mark.parametrize("v", [pytest.param(v, id=v.id) for v in VECTORS])
def test_evaluate(v: Vector) -> None:
    verdict = bake.evaluate(
        v.checks, deployed_at=DEPLOYED,
        bake_start=at(v.bake_start) if v.bake_start is not None else None,
        bake_time=v.bake_time, now=at(v.now), start_timeout=v.start_timeout)
    assert verdict.state == v.state, verdict.message
    assert verdict.bake_start == (at(v.expect_start) if v.expect_start is not None else None)
    assert verdict.ends_at == (at(v.ends_at) if v.ends_at is not None else None)
    assert verdict.failed == v.failed
    for text in v.says:
        assert text in verdict.message


def test_evaluate_does_not_depend_on_check_order() -> None:
    checks = [pending("apps/b"), healthy("apps/a"), no_status("apps/c")]
    verdicts = {bake.evaluate(order, deployed_at=DEPLOYED, bake_start=None, bake_time=BAKE,
                              now=at(M))
                for order in (checks, checks[::-1], checks[1:] + checks[:1])}
    assert len(verdicts) == 1


def test_a_resumed_bake_keeps_its_deadline() -> None:
    """What a restart relies on: the same bake_start later gives the same ends_at."""
    first = bake.evaluate([healthy()], deployed_at=DEPLOYED, bake_start=None, bake_time=BAKE,
                          now=at(2 * M))
    later = bake.evaluate([healthy()], deployed_at=DEPLOYED, bake_start=first.bake_start,
                          bake_time=BAKE, now=at(7 * M))
    assert first.ends_at == later.ends_at == at(12 * M)
    assert later.bake_start == at(2 * M)


# --- check_from: reading HealthCheck objects --------------------------------------------


def test_check_from_reads_a_healthy_check_with_its_last_error() -> None:
    check = bake.check_from(health_check({
        "status": "Healthy", "lastErrorTime": "2026-03-01T09:30:00Z",
        "message": "all good"}))
    assert check == bake.Check(name="apps/podinfo", status="Healthy",
                               last_error=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
                               message="all good")


def test_check_from_reads_offsets_and_fractions() -> None:
    check = bake.check_from(health_check({
        "status": "Unhealthy", "lastErrorTime": "2026-03-01T11:30:00.250+01:30"}))
    assert check.status == "Unhealthy"
    assert check.last_error == datetime(2026, 3, 1, 10, 0, 0, 250000, tzinfo=UTC)
    assert check.malformed is None


@pytest.mark.parametrize("obj", [
    pytest.param(health_check(with_status=False), id="no-status-key"),
    pytest.param(health_check(None), id="status-null"),
    pytest.param(health_check({}), id="status-empty"),
    pytest.param(health_check({"lastErrorTime": ""}), id="empty-last-error"),
])
def test_check_from_without_status_is_not_malformed(obj: Mapping[str, Any]) -> None:
    check = bake.check_from(obj)
    assert (check.name, check.status, check.last_error, check.malformed) == (
        "apps/podinfo", None, None, None)


@pytest.mark.parametrize(("status", "why"), [
    pytest.param("Healthy", "status is not an object", id="status-is-a-string"),
    pytest.param(["Healthy"], "status is not an object", id="status-is-a-list"),
    pytest.param({"status": "Degraded"}, "status.status is 'Degraded'", id="unknown-value"),
    pytest.param({"status": "healthy"}, "status.status is 'healthy'", id="wrong-case"),
    pytest.param({"status": True}, "status.status is True", id="boolean"),
    pytest.param({"status": "Healthy", "lastErrorTime": "yesterday"}, "status.lastErrorTime",
                 id="last-error-not-a-time"),
    pytest.param({"status": "Healthy", "lastErrorTime": 1700000000}, "status.lastErrorTime",
                 id="last-error-a-number"),
])
def test_check_from_marks_malformed_status(status: Any, why: str) -> None:
    check = bake.check_from(health_check(status))
    assert check.status is None
    assert check.malformed is not None and why in check.malformed


def test_malformed_check_holds_the_bake_with_a_message_naming_it_and_why() -> None:
    check = bake.check_from(health_check({"status": "Degraded"}, name="slo"))
    verdict = bake.evaluate([check, healthy()], deployed_at=DEPLOYED, bake_start=None,
                            bake_time=BAKE, now=at(M))
    assert verdict.state == "Pending"
    assert "apps/slo" in verdict.message and "'Degraded'" in verdict.message
    assert "apps/podinfo" not in verdict.message


def test_malformed_check_fails_at_the_start_timeout() -> None:
    check = bake.check_from(health_check("Healthy"))
    verdict = bake.evaluate([check], deployed_at=DEPLOYED, bake_start=None, bake_time=BAKE,
                            now=at(5 * M), start_timeout=5 * M)
    assert verdict.state == "Failed"
    assert verdict.failed == ("apps/podinfo",)
    assert "status is not an object" in verdict.message


def test_check_from_ignores_a_message_that_is_not_text() -> None:
    check = bake.check_from(health_check({"status": "Unhealthy", "message": {"a": 1}}))
    assert check.status == "Unhealthy" and check.message == ""


def test_check_from_names_a_check_without_metadata() -> None:
    assert bake.check_from({"status": {"status": "Healthy"}}).name == "/"


@pytest.mark.parametrize("stamp", ["2026-03-01T10:05:00", "2026-03-01"])
def test_check_from_rejects_a_timestamp_without_offset(stamp: str) -> None:
    check = bake.check_from(health_check({"status": "Healthy", "lastErrorTime": stamp}))
    verdict = bake.evaluate([check], deployed_at=DEPLOYED, bake_start=None, bake_time=BAKE,
                            now=at(M))
    assert check.malformed is not None and "lastErrorTime" in check.malformed
    assert verdict.state == "Pending"


def test_parse_time() -> None:
    assert bake.parse_time(None) is None
    assert bake.parse_time("") is None
    assert bake.parse_time("2026-03-01T10:00:00Z") == DEPLOYED
    with pytest.raises(ValueError, match="not a timestamp"):
        bake.parse_time(12)
    with pytest.raises(ValueError):
        bake.parse_time("soon")


def test_a_check_that_stops_being_healthy_mid_bake_restarts_the_clock() -> None:
    """Every check must *stay* healthy for the whole bake: Pending mid-bake does not
    fail the release, but the bake clock starts over once all are healthy again."""
    t0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    started = t0 + timedelta(minutes=1)
    pending = bake.evaluate([bake.Check("apps/a", "Pending")], deployed_at=t0,
                            bake_start=started, bake_time=timedelta(minutes=10),
                            now=t0 + timedelta(minutes=20))
    assert pending.state == "Pending" and pending.bake_start is None
    again = bake.evaluate([bake.Check("apps/a", "Healthy")], deployed_at=t0,
                          bake_start=pending.bake_start, bake_time=timedelta(minutes=10),
                          now=t0 + timedelta(minutes=21))
    assert again.state == "InProgress"
    assert again.bake_start == t0 + timedelta(minutes=21)


def test_unhealthy_with_an_unreadable_error_time_still_fails() -> None:
    check = bake.check_from({"metadata": {"namespace": "apps", "name": "a"},
                             "status": {"status": "Unhealthy", "lastErrorTime": "yesterday"}})
    t0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    verdict = bake.evaluate([check], deployed_at=t0, bake_start=t0,
                            bake_time=timedelta(minutes=10), now=t0 + timedelta(minutes=20))
    assert verdict.state == "Failed" and verdict.failed == ("apps/a",)
