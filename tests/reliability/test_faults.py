"""Faults in what the daemon depends on: the git remote, its credentials, a server
hook, the API server, Flux. End to end (tests/e2e/conftest.py): ``reconciler run``
as a process, sample-repo served by ``git http-backend``, the API emulator, FakeFlux.

For each fault, with a release due:

* the signal a person sees: the Rollout's Ready condition and reason, one Event
  when the reason changes, ``/readyz`` with the reason, the daemon's log;
* no busy loop: requests counted at the server over a window while the fault lasts,
  against a bound derived from the configured intervals (the daemon fetches every
  0.3 s and resyncs every 2 s here; errors back off from 1 s, the periodic fetch from
  its interval, watches from 0.2 s, all doubling): a busy loop would make thousands;
* recovery without a restart once the fault clears, with no duplicate commit.

Each test prints one line of figures (``-s`` shows them). The variants marked
``slow`` hold the fault for tens of seconds, so the backoff reaches its later steps.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from reconciler.core.status import tag_of
from tests.e2e.conftest import E2E, FETCH_INTERVAL, RESYNC, DaemonProcess
from tests.support import secretscan

HOOK_MESSAGE = "GL-HOOK-ERR: main is frozen for the quarterly audit"
HOOK = f"""#!/bin/sh
echo '{HOOK_MESSAGE}' >&2
exit 1
"""
# Watched kinds: Rollout, ImagePolicy, HealthCheck, RolloutGate, Kustomization, Namespace,
# and (served by the emulator, as by Flux) OCIRepository and HelmRelease.
WATCHED_KINDS = 8


# -- helpers --------------------------------------------------------------------------


def http_port(e2e: E2E, daemon: DaemonProcess) -> int:
    def listening() -> str:
        found = re.search(r"serving HTTP on [0-9.]+:(\d+)", daemon.log())
        return found.group(1) if found else ""
    return int(e2e.wait_until("the HTTP server to listen", listening))


def get(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            code, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        code, raw = err.code, err.read()
        err.close()
    try:
        return code, json.loads(raw)
    except ValueError:
        return code, raw.decode()


def readyz(port: int) -> tuple[int, str]:
    code, body = get(port, "/readyz")
    return code, body.get("reason", "") if isinstance(body, dict) else str(body)


def not_ready(e2e: E2E, port: int, saying: str) -> str:
    """Wait until /readyz answers 503 with a reason containing ``saying``; the reason."""
    def check() -> str:
        code, why = readyz(port)
        return why if code == 503 and saying in why else ""
    return e2e.wait_until(f"/readyz 503 saying {saying!r}", check)


def reconciles(port: int) -> float:
    """reconciler_reconciles_total, every result summed, from /metrics."""
    _, text = get(port, "/metrics")
    return sum(float(m) for m in re.findall(
        r"^reconciler_reconciles_total\{[^}]*\} ([0-9.e+]+)$", str(text), re.M))


def ready(e2e: E2E) -> dict[str, Any]:
    return e2e.condition("Ready")


def reason_is(e2e: E2E, reason: str) -> Callable[[], dict[str, Any]]:
    return lambda: ready(e2e) if ready(e2e).get("reason") == reason else {}


def log_lines(daemon: DaemonProcess, pattern: str) -> int:
    return len(re.findall(pattern, daemon.log()))


def started(e2e: E2E, *flags: str) -> tuple[DaemonProcess, int]:
    """A daemon that has reconciled podinfo once and says it is ready."""
    daemon = e2e.start_daemon(*flags)
    port = http_port(e2e, daemon)
    e2e.wait_until("podinfo up to date", lambda: ready(e2e).get("reason") == "UpToDate")
    e2e.wait_until("/readyz 200", lambda: readyz(port)[0] == 200)
    return daemon, port


def released(e2e: E2E, version: str) -> Callable[[], list[Any]]:
    return lambda: e2e.reconciler_commits(action="release", release=version)


def figures(fault: str, **values: object) -> None:
    print(f"\n[{fault}] " + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in values.items()))


def fetch_bound(window: float) -> int:
    """Fetch attempts the daemon may make in ``window`` seconds while fetches fail:
    the periodic fetch backs off from the fetch interval (doubling, jitter down to
    0.75); the one rollout with a release due tries on every resync (RESYNC seconds)
    and on its own retry timer (1 s doubling). Fetching at the fixed interval alone
    would exceed it; a busy loop would exceed it a hundredfold."""
    interval = float(FETCH_INTERVAL)
    periodic, step, t = 0, 0.75 * interval, 0.0
    while t < window:
        periodic, t, step = periodic + 1, t + step, step * 2
    rollout = int(window / RESYNC) + 1 + int(window).bit_length() + 1
    return periodic + rollout


def fetch_delays(daemon: DaemonProcess) -> list[float]:
    """The delays the daemon logged before each next fetch, in order."""
    return [float(d) for d in re.findall(r"next fetch in ([0-9.]+)s", daemon.log())]


# -- 1. the git remote unreachable for a while, then back ------------------------------


def test_git_remote_unreachable_then_back(e2e: E2E) -> None:
    daemon, port = started(e2e)
    # First a proxy in front of the git server answering 503 (each attempt is
    # counted there), then nothing listening at all (connection refused).
    e2e.server.unavailable = 503
    e2e.offer("6.5.0")
    failed = e2e.wait_until("GitError on podinfo", reason_is(e2e, "GitError"))
    assert failed["status"] == "False" and "503" in failed["message"], failed
    assert e2e.server.url_for(e2e.bare.path) in failed["message"]
    assert e2e.condition("Reconciling")["status"] == "True"
    not_ready(e2e, port, "config repository not reachable: ")

    window, since = 3.0, time.monotonic()
    time.sleep(window)
    attempts = e2e.server.stats.count(503, since=since)
    # One request per attempt at a 503; a busy loop would make thousands.
    assert 1 <= attempts <= fetch_bound(window), attempts
    delays = fetch_delays(daemon)
    assert max(delays) >= 4 * float(FETCH_INTERVAL), delays  # the periodic fetch backs off

    e2e.server.unavailable = None
    e2e.server.go_offline()
    refused_at = time.monotonic()
    refused = e2e.wait_until("the refusal in the condition", lambda: ready(e2e) if "failed to "
                             "connect" in ready(e2e).get("message", "") else {})
    assert refused["reason"] == "GitError", refused
    fetch_failures = log_lines(daemon, r"fetch failed: ")
    time.sleep(1.0)
    offline_fetches = log_lines(daemon, r"fetch failed: ") - fetch_failures
    assert offline_fetches <= fetch_bound(time.monotonic() - refused_at), offline_fetches
    assert e2e.reconciler_commits() == [] and e2e.head() == e2e.initial
    [event] = e2e.events("GitError")  # one Event for the whole outage: the reason held
    assert event["type"] == "Warning" and "fleet.git" in event["message"], event

    e2e.server.go_online()
    back = time.monotonic()
    [release] = e2e.wait_until("6.5.0 released once the remote is back",
                               released(e2e, "6.5.0"))
    recovered = time.monotonic() - back
    e2e.wait_until("Ready leaves GitError", lambda: ready(e2e).get("reason")
                   not in (None, "GitError"))
    e2e.wait_until("/readyz 200 again", lambda: readyz(port)[0] == 200)
    assert "config repository reachable again" in daemon.log()
    assert release.parents == [e2e.initial]
    e2e.stays("one release commit", lambda: len(e2e.reconciler_commits()) == 1, 1.0)
    e2e.check_history_intact()
    figures("git unreachable", requests_at_503=attempts, window_s=window,
            fetches_while_refused=offline_fetches, recovered_s=recovered)


@pytest.mark.slow
def test_git_remote_unreachable_for_long_backs_off(e2e: E2E) -> None:
    """Thirty seconds at 503: the fetch backoff reaches its later steps, so the
    attempts grow with the logarithm of the outage, not with its length."""
    daemon, port = started(e2e)
    e2e.server.unavailable = 503
    e2e.offer("6.5.0")
    e2e.wait_until("GitError on podinfo", reason_is(e2e, "GitError"))
    window, since = 30.0, time.monotonic()
    time.sleep(window)
    attempts = e2e.server.stats.count(503, since=since)
    # Fixed-interval polling would make window / 0.3 = 100 fetch attempts alone.
    assert attempts <= fetch_bound(window), attempts
    delays = fetch_delays(daemon)
    assert max(delays) >= 16 * float(FETCH_INTERVAL), delays  # it did back off
    e2e.server.unavailable = None
    back = time.monotonic()
    e2e.wait_until("6.5.0 released", released(e2e, "6.5.0"))
    recovered = time.monotonic() - back
    # The release's own fetch worked: readiness follows at once, not after the
    # periodic fetch's current delay.
    e2e.wait_until("/readyz 200 again", lambda: readyz(port)[0] == 200, timeout=5)
    figures("git unreachable 30 s", requests_at_503=attempts, window_s=window,
            longest_fetch_delay_s=max(delays), recovered_s=recovered,
            ready_s=time.monotonic() - back)


# -- 2. credentials revoked -------------------------------------------------------------


def test_credentials_revoked_then_rotated(e2e: E2E) -> None:
    password_file = e2e.tmp / "git-password"
    password_file.write_text(e2e.server.password + "\n")
    daemon, port = started(e2e, "--password-file", str(password_file))

    rotated = secretscan.generate("rotated git password (test_faults.py)")
    e2e.server.set_password(rotated)  # the daemon's token is revoked
    e2e.offer("6.5.0")
    failed = e2e.wait_until("AuthenticationFailed on podinfo",
                            reason_is(e2e, "AuthenticationFailed"))
    assert failed["status"] == "False", failed
    assert "credentials refused" in failed["message"], failed
    assert e2e.condition("Reconciling")["status"] == "True"  # retried: the file is re-read
    [event] = e2e.wait_until("an AuthenticationFailed Event",
                             lambda: e2e.events("AuthenticationFailed"))
    assert event["type"] == "Warning" and "credentials refused" in event["message"]
    why = not_ready(e2e, port, "config repository not reachable: ")
    assert "credentials refused" in why and rotated not in why, why

    window, since = 4.0, time.monotonic()
    time.sleep(window)
    refusals = e2e.server.stats.count(401, since=since)
    # libgit2 asks again after every 401, forever; the adapter answers three times,
    # so an attempt costs at most four 401s (one anonymous probe plus three).
    assert refusals <= 4 * fetch_bound(window), refusals
    assert e2e.server.stats.count(200, since=since) == 0
    assert max(fetch_delays(daemon)) >= 4 * float(FETCH_INTERVAL)  # backing off
    assert e2e.reconciler_commits() == []

    password_file.write_text(rotated + "\n")  # the Secret is rotated; no restart
    back = time.monotonic()
    [release] = e2e.wait_until("6.5.0 released with the new password",
                               released(e2e, "6.5.0"))
    recovered = time.monotonic() - back
    e2e.wait_until("/readyz 200 again", lambda: readyz(port)[0] == 200)
    e2e.wait_until("Ready leaves AuthenticationFailed", lambda: ready(e2e).get("reason")
                   not in (None, "AuthenticationFailed"))
    assert re.search(r"password file \S+ changed; using the new password", daemon.log())
    assert release.parents == [e2e.initial]
    assert len(e2e.events("AuthenticationFailed")) == 1
    e2e.check_history_intact()
    figures("credentials revoked", refusals_401=refusals, attempts=refusals / 4,
            window_s=window, recovered_s=recovered)


# -- 3. a pre-receive hook refusing pushes ------------------------------------------------


def test_pre_receive_hook_refuses_then_allows(e2e: E2E) -> None:
    daemon, port = started(e2e)
    hook = e2e.bare.install_hook("pre-receive", HOOK)
    e2e.offer("6.5.0")

    refused = e2e.wait_until("PushRejected on podinfo", reason_is(e2e, "PushRejected"))
    assert refused["status"] == "False" and HOOK_MESSAGE in refused["message"], refused
    assert "pre-receive hook declined" in refused["message"]
    [event] = e2e.wait_until("a PushRejected Event", lambda: e2e.events("PushRejected"))
    assert event["type"] == "Warning" and HOOK_MESSAGE in event["message"], event
    assert readyz(port)[0] == 200  # the remote is reachable; the refusal is per rollout

    window, since = 3.0, time.monotonic()
    time.sleep(window)
    pushes = sum(1 for (method, path, _), at in zip(e2e.server.stats.requests,
                                                    e2e.server.stats.times, strict=True)
                 if at >= since and method == "POST" and path.endswith("git-receive-pack"))
    # A retry per resync plus the rollout's own backoff (1 s doubling).
    assert 1 <= pushes <= int(window / RESYNC) + int(window).bit_length() + 3, pushes
    assert e2e.head() == e2e.initial and e2e.reconciler_commits() == []

    hook.unlink()
    back = time.monotonic()
    e2e.wait_until("6.5.0 released once the hook allows it", released(e2e, "6.5.0"))
    recovered = time.monotonic() - back
    e2e.wait_until("Ready leaves PushRejected", lambda: ready(e2e).get("reason")
                   not in (None, "PushRejected"))
    e2e.stays("exactly one release commit", lambda: len(e2e.reconciler_commits()) == 1,
              1.0)
    assert len(e2e.events("PushRejected")) == 1
    assert log_lines(daemon, re.escape(HOOK_MESSAGE)) >= 1
    e2e.check_history_intact()
    figures("pre-receive hook", pushes=pushes, window_s=window, recovered_s=recovered)


# -- 4. the API server gone, slow, answering watches with 410 Gone --------------------------


@pytest.mark.slow  # 15 s; the watch adapter's outage and 410 handling are also covered
def test_api_server_gone_slow_and_expiring_watches(e2e: E2E) -> None:
    daemon, port = started(e2e)
    emulator = e2e.emulator

    # Gone, behind a load balancer: every request answered 503 (and counted).
    emulator.pause()
    paused_at = time.monotonic()
    why = not_ready(e2e, port, "API server not reachable: ")
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
