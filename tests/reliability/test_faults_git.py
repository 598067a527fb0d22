"""Faults in the git remote the daemon depends on: unreachable for a while, its
credentials revoked, a server hook refusing pushes. End to end (tests/e2e/conftest.py):
``reconciler run`` as a process, sample-repo served by ``git http-backend``, the API
emulator, FakeFlux.

For each fault, with a release due:

* the signal a person sees: the Rollout's Ready condition and reason, one Event
  when the reason changes, ``/readyz`` with the reason, the daemon's log;
* no busy loop: requests counted at the server over a window while the fault lasts,
  against a bound derived from the configured intervals (the daemon fetches every
  0.3 s and resyncs every 2 s here; errors back off from 1 s, the periodic fetch from
  its interval, all doubling): a busy loop would make thousands;
* recovery without a restart once the fault clears, with no duplicate commit.

Each test prints one line of figures (``-s`` shows them). The variant marked ``slow``
holds the fault for thirty seconds, so the backoff reaches its later steps.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.conftest import E2E, FETCH_INTERVAL, RESYNC
from tests.reliability.faults import (
    fetch_bound,
    fetch_delays,
    figures,
    log_lines,
    not_ready,
    ready,
    readyz,
    reason_is,
    released,
    started,
)
from tests.support import secretscan

HOOK_MESSAGE = "GL-HOOK-ERR: main is frozen for the quarterly audit"
HOOK = f"""#!/bin/sh
echo '{HOOK_MESSAGE}' >&2
exit 1
"""


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

    rotated = secretscan.generate("rotated git password (test_faults_git.py)")
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
