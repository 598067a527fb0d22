"""Faults in the cluster the daemon depends on: the API server gone, slow, or
answering watches with 410 Gone; Flux never applying the release commit. End to end
(tests/e2e/conftest.py): ``reconciler run`` as a process, sample-repo served by
``git http-backend``, the API emulator, FakeFlux.

For each fault, with a release due:

* the signal a person sees: the Rollout's Ready condition and reason, one Event
  when the reason changes, ``/readyz`` with the reason, the daemon's log;
* no busy loop: requests counted at the API server over a window while the fault
  lasts, against a bound derived from the configured intervals (watches back off from
  0.2 s, doubling; the daemon resyncs every 2 s here): a busy loop would make
  thousands;
* recovery without a restart once the fault clears, with no duplicate commit.

Each test prints one line of figures (``-s`` shows them). The variants marked
``slow`` hold the fault for tens of seconds, so the backoff reaches its later steps.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from reconciler.core.status import tag_of
from tests.e2e.conftest import E2E, RESYNC
from tests.reliability.faults import (
    figures,
    get,
    not_ready,
    ready,
    readyz,
    reason_is,
    reconciles,
    released,
    started,
)

# Watched kinds: Rollout, ImagePolicy, HealthCheck, RolloutGate, Kustomization, Namespace,
# RolloutSchedule, ClusterRolloutSchedule, and (served by the emulator, as by Flux)
# OCIRepository and HelmRelease.
WATCHED_KINDS = 10


# -- 4. the API server gone, slow, answering watches with 410 Gone --------------------------


@pytest.mark.slow  # 15 s; the watch adapter's outage and 410 handling are also covered
def test_api_server_gone_slow_and_expiring_watches(e2e: E2E) -> None:
    daemon, port = started(e2e)
    emulator = e2e.emulator

    # Gone, behind a load balancer: every request answered 503 (and counted).
    emulator.pause()
    paused_at = time.monotonic()
    # The open watches end first ("Response ended prematurely"); their next attempt
    # meets the 503, which the reason then names.
    why = e2e.wait_until("/readyz to name the 503", lambda: (
        w if "[503]" in (w := not_ready(e2e, port, "API server not reachable: ")) else ""))
    assert "[503]" in why, why
    window = 2.5
    time.sleep(max(0.0, window - (time.monotonic() - paused_at)))
    during = emulator.count(since=paused_at)
    # Every watch backs off from 0.2 s doubling (about 4 attempts in 2.5 s each).
    assert during <= WATCHED_KINDS * 6 + 10, during

    # Gone altogether: nothing listens; the daemon stays alive and says why.
    emulator.stop()
    emulator.resume()
    e2e.offer("6.5.0")  # written to the API server's storage while it is down
    why = not_ready(e2e, port, "unreachable")
    assert why.startswith("API server not reachable: ") and "Connection refused" in why, why
    assert get(port, "/healthz")[0] == 200  # alive: a restart would not help
    assert daemon.running()
    assert re.search(r"watch \S+: .*unreachable.*; retrying in [0-9.]+s", daemon.log())

    emulator.start()  # same port, same storage
    back = time.monotonic()
    e2e.wait_until("6.5.0 released once the API server is back", released(e2e, "6.5.0"))
    gone_recovered = time.monotonic() - back

    # Slow: every request takes a second more; the release is still applied, baked
    # and recorded, one slow status write after the other.
    emulator.latency = 1.0
    slow_since = time.monotonic()
    e2e.wait_until("6.5.0 to bake on a slow API server", lambda: tag_of(e2e.newest().get(
        "version")) == "6.5.0" and e2e.newest().get("bakeStatus") == "Succeeded")
    e2e.wait_until("/readyz 200", lambda: readyz(port)[0] == 200)
    slow_window = time.monotonic() - slow_since
    slow_requests = emulator.count(since=slow_since)
    # At most one request per second per connection: watches reconnecting, status
    # writes, Events; a client retrying timeouts in a loop would pile them up.
    assert slow_requests <= 10 + 4 * slow_window, slow_requests
    emulator.latency = 0.0

    # 410 Gone: no resourceVersion handed out so far can be watched from.
    expired = time.monotonic()
    emulator.expire_watches()
    e2e.wait_until("every watch to relist", lambda: emulator.count(
        verb="list", since=expired) >= WATCHED_KINDS)
    time.sleep(1.5)
    lists = emulator.count(verb="list", since=expired)
    assert lists == WATCHED_KINDS, lists  # each kind relisted once, no relist loop
    assert daemon.log().count("expired; relisting") >= WATCHED_KINDS
    e2e.offer("6.6.0")
    e2e.wait_until("6.6.0 released after the relist", released(e2e, "6.6.0"))
    assert [c.trailers["Release"] for c in e2e.reconciler_commits(action="release")] == [
        "6.6.0", "6.5.0"]
    assert daemon.running()
    e2e.check_history_intact()
    figures("API server", requests_while_503=during, window_s=window,
            recovered_after_restart_s=gone_recovered, slow_requests=slow_requests,
            slow_window_s=slow_window, relists_after_410=lists)


@pytest.mark.slow
def test_api_server_gone_for_long_backs_off(e2e: E2E) -> None:
    """Forty seconds of 503: the watches' backoff reaches its 30 s cap."""
    daemon, port = started(e2e)
    e2e.emulator.pause()
    since = time.monotonic()
    window = 40.0
    time.sleep(window)
    during = e2e.emulator.count(since=since)
    # 0.2 s doubling to 30 s: about 8 attempts per watch in 40 s.
    assert during <= WATCHED_KINDS * 10 + 20, during
    e2e.emulator.resume()
    back = time.monotonic()
    e2e.offer("6.5.0")
    e2e.wait_until("6.5.0 released", released(e2e, "6.5.0"), timeout=60)
    e2e.wait_until("/readyz 200 again", lambda: readyz(port)[0] == 200)
    assert daemon.running()
    figures("API server 503 for 40 s", requests=during, window_s=window,
            recovered_s=time.monotonic() - back)


# -- 5. Flux never applying the commit -------------------------------------------------------


def test_flux_never_applies_the_release(e2e: E2E) -> None:
    e2e.flux.paused = True
    daemon, port = started(e2e)
    e2e.offer("6.5.0")
    [release] = e2e.wait_until("the release commit", released(e2e, "6.5.0"))
    deploying = e2e.wait_until("Deploying", reason_is(e2e, "Deploying"))
    assert release.sha[:12] in deploying["message"], deploying
    assert e2e.condition("Reconciling")["status"] == "True"

    # Waiting for Flux costs nothing: no polling, only the resync and the timer.
    since, before = time.monotonic(), reconciles(port)
    api_before = e2e.emulator.count(verb="patch")
    [revert] = e2e.wait_until("the revert", lambda: e2e.reconciler_commits(action="revert"))
    waited = time.monotonic() - since
    passes = reconciles(port) - before
    # Two rollouts: a pass each per resync, the deadline's wake-up, the passes our own
    # status writes cause. A loop polling Flux would make hundreds.
    assert passes <= 3 * (waited / RESYNC + 4), passes
    assert e2e.emulator.count(verb="patch") - api_before <= passes + 2

    assert revert.trailers["Reverts"] == release.sha
    assert "not applied by Flux within 5s" in revert.trailers["Reason"]
    [timeout] = e2e.wait_until("one DeployTimeout Event", lambda: e2e.events("DeployTimeout"))
    assert timeout["type"] == "Warning" and "not applied by Flux" in timeout["message"]
    [reverted] = e2e.wait_until("one ReleaseReverted Event",
                                lambda: e2e.events("ReleaseReverted"))
    assert reverted["type"] == "Warning" and revert.sha[:12] in reverted["message"]
    failed: dict[str, Any] = e2e.wait_until("the release recorded as Failed", lambda: next(
        (h for h in e2e.status().get("history", []) if h.get("commit") == release.sha
         and h.get("bakeStatus") == "Failed"), {}))
    assert "not applied by Flux" in failed["bakeStatusMessage"], failed
    e2e.wait_until("quarantined in the Ready condition", lambda: "quarantined" in ready(
        e2e).get("message", ""))
    e2e.stays("exactly one revert, nothing re-released",
              lambda: len(e2e.reconciler_commits()) == 2, 1.0)

    # Flux comes back: it applies the revert, and the next release goes through.
    e2e.flux.paused = False
    back = time.monotonic()
    e2e.offer("6.5.1")
    e2e.wait_until("6.5.1 applied by Flux and baking", lambda: tag_of(e2e.newest().get(
        "version")) == "6.5.1" and e2e.newest().get("bakeStatus") in ("InProgress",
                                                                     "Succeeded"))
    recovered = time.monotonic() - back
    assert len(e2e.reconciler_commits(action="revert")) == 1
    assert len(e2e.events("DeployTimeout")) == 1
    assert daemon.running()
    e2e.check_history_intact()
    figures("Flux never applies", reconciles_while_deploying=passes, waited_s=waited,
            recovered_s=recovered)
