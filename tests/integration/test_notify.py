"""Delivery over real HTTP on loopback: ``adapters.notify`` against the stand-ins of
notification-controller's event endpoint and of chat webhooks (tests/support/
fluxevents.py, chathooks.py). Backoff is shortened; a ``Retry-After`` is honoured as
sent (1 s), so the slowest test takes a little over a second.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest

from reconciler.adapters import notify
from reconciler.core import notices
from reconciler.errors import InputError, ManifestError
from reconciler.interfaces import notifysetup, settings
from reconciler.interfaces.settings import NotifySettings
from tests.support import cli, fluxevents
from tests.support.chathooks import ChatHook
from tests.support.fluxevents import FluxEventServer
from tests.unit.test_notices import RELEASE_SHA, docs_alert, released

FAST = {"backoff": (0.05, 0.2)}


def wait_for(what: str, check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def notice(change: str = "released", release: str = "6.5.0") -> notices.Notice:
    return notices.Notice(
        change=change, rollout="apps/podinfo", reason="ReleaseWritten", detail="",
        warning=False, time=datetime.now(UTC), environment="production", release=release,
        previous="6.4.0", commit="a" * 40,
        objects=(notices.FluxObject("kustomize.toolkit.fluxcd.io/v1", "Kustomization",
                                    "flux-system", "apps"),))


def flux_event(n: notices.Notice) -> dict[str, object]:
    return notices.flux_event(n, n.objects[0], branch="main", instance="reconciler-0")


@pytest.fixture
def flux() -> Iterator[FluxEventServer]:
    with FluxEventServer() as server:
        yield server


def url_file(tmp_path: Path, hook: ChatHook, name: str = "hook") -> Path:
    path = tmp_path / name
    path.write_text(hook.webhook_url + "\n")
    return path


def chat(hook: ChatHook, path: Path, *, min_interval: float = 0.0) -> notify.Receiver:
    return notify.Receiver(name=f"{hook.kind}-team", url=notify.URLFile(path).read,
                           verdict=notify.chat_verdict, min_interval=min_interval)


def test_flux_takes_the_event_and_a_duplicate_is_delivered_not_retried(
        flux: FluxEventServer) -> None:
    outbox = notify.Outbox([notify.Receiver("flux", lambda: flux.events_url,
                                            notify.flux_verdict)], **FAST)
    try:
        outbox.send("flux", flux_event(notice()), "released")
        outbox.send("flux", flux_event(notice()), "released again")
        outbox.send("flux", flux_event(notice("baked")), "baked")
        wait_for("the queue to drain", outbox.idle)
        channel = outbox.channels["flux"]
        wait_for("the last answer", lambda: channel.delivered == 3)
    finally:
        outbox.close(1.0)
    assert [e["message"] for e in flux.accepted] == [
        "Rollout apps/podinfo: released 6.5.0 (was 6.4.0) in production",
        "Rollout apps/podinfo: 6.5.0 baked in production"]
    assert len(flux.duplicates) == 1 and channel.failed == 0
    assert not flux.rejected


def test_flux_unavailable_is_retried(flux: FluxEventServer) -> None:
    flux.fail_next = [503, 502]
    outbox = notify.Outbox([notify.Receiver("flux", lambda: flux.events_url,
                                            notify.flux_verdict)], **FAST)
    try:
        outbox.send("flux", flux_event(notice()), "released")
        wait_for("the event", lambda: len(flux.accepted) == 1)
    finally:
        outbox.close(1.0)


def test_slack_429_waits_its_retry_after_then_delivers(tmp_path: Path) -> None:
    with ChatHook("slack") as hook:
        hook.throttle(retry_after=1)
        outbox = notify.Outbox([chat(hook, url_file(tmp_path, hook))], **FAST)
        started = time.monotonic()
        try:
            outbox.send("slack-team", notices.slack(notice()), "released")
            outbox.send("slack-team", notices.slack(notice("baked")), "baked")
            wait_for("both messages", lambda: len(hook.received) == 2)
        finally:
            outbox.close(1.0)
        assert hook.answers == [429, 200, 200]
        assert hook.received[0][0] - started >= 1.0, "sent before Retry-After elapsed"
        texts = [p["text"] for p in hook.payloads()]
        assert texts[0].endswith("released 6.5.0 (was 6.4.0) in production")
        assert texts[1].endswith("6.5.0 baked in production")  # in order, after the wait


def test_min_interval_paces_one_destination_not_the_others(tmp_path: Path,
                                                           flux: FluxEventServer) -> None:
    with ChatHook("generic") as hook:
        outbox = notify.Outbox([chat(hook, url_file(tmp_path, hook), min_interval=0.2),
                                notify.Receiver("flux", lambda: flux.events_url,
                                                notify.flux_verdict)], **FAST)
        try:
            for release in ("6.5.0", "6.5.1", "6.5.2"):
                outbox.send("generic-team", notices.generic(notice(release=release)), release)
                outbox.send("flux", flux_event(notice(release=release)), release)
            wait_for("the flux events", lambda: len(flux.accepted) == 3, timeout=0.35)
            wait_for("the chat messages", lambda: len(hook.received) == 3)
        finally:
            outbox.close(1.0)
        times = [t for t, _ in hook.received]
        assert all(b - a >= 0.19 for a, b in itertools.pairwise(times)), times
        assert [p["release"] for p in hook.payloads()] == ["6.5.0", "6.5.1", "6.5.2"]


def test_a_refusal_is_given_up_and_no_log_line_holds_the_url(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with ChatHook("teams") as hook:
        hook.fail_next = [400]
        outbox = notify.Outbox([chat(hook, url_file(tmp_path, hook))], **FAST)
        try:
            outbox.send("teams-team", notices.teams(notice()), "released")
            outbox.send("teams-team", notices.teams(notice("baked")), "baked")
            wait_for("the second message", lambda: len(hook.received) == 1)
        finally:
            outbox.close(1.0)
        assert hook.answers == [400, 202]
        url = hook.webhook_url
        text = "\n".join(r.getMessage() for r in caplog.records)
        assert "could not notify teams-team (127.0.0.1) of released after 1 attempt(s): " \
               "400: refused rollup_error" in text
        assert "HTTP Request: POST http://127.0.0.1" in text  # httpx2's own line, masked
        assert url not in text and hook.path not in text
        assert hook.path.rsplit("/", 1)[1] not in text


def test_a_rotated_url_file_is_read_again(tmp_path: Path) -> None:
    with ChatHook("slack") as old, ChatHook("slack") as new:
        path = url_file(tmp_path, old)
        outbox = notify.Outbox([chat(old, path)], **FAST)
        try:
            outbox.send("slack-team", notices.slack(notice()), "first")
            wait_for("the first message", lambda: len(old.received) == 1)
            replacement = tmp_path / "rotated"
            replacement.write_text(new.webhook_url)
            replacement.replace(path)  # as a Secret's symlink swap does
            outbox.send("slack-team", notices.slack(notice("baked")), "second")
            wait_for("the second message", lambda: len(new.received) == 1)
        finally:
            outbox.close(1.0)
        assert len(old.received) == 1


@pytest.mark.parametrize(("content", "error"), [
    (None, "cannot read the webhook URL file {path}: No such file or directory"),
    ("", "the webhook URL file {path} is empty"),
    ("hooks.example.com/services/T0/B0/not-a-url-secret",
     "the webhook URL file {path} does not hold an http(s) URL"),
    ("https://[::1/services/T0/B0/not-a-url-secret",  # httpx2.InvalidURL
     "the webhook URL file {path} does not hold an http(s) URL"),
])
def test_start_up_checks_each_url_file_and_never_prints_it(
        tmp_path: Path, content: str | None, error: str) -> None:
    path = tmp_path / "slack-url"
    if content is not None:
        path.write_text(content)
    config = tmp_path / "notifications.yaml"
    config.write_text(f"destinations:\n  - type: slack\n    urlFile: {path}\n")
    with pytest.raises(ManifestError) as caught:
        notifysetup.check(NotifySettings(notifications_config=config))
    assert str(caught.value) == (f"{config}:2 destinations[0].urlFile: "
                                 + error.format(path=path))
    if content:
        assert content not in str(caught.value)


def test_a_bad_url_after_rotation_is_retried_and_the_thread_lives(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "T0/B0/not-a-url-secret"
    with ChatHook("slack") as hook:
        path = url_file(tmp_path, hook)
        good = path.read_text()
        outbox = notify.Outbox([chat(hook, path)], attempts=2, backoff=(0.01, 0.01))
        try:
            path.write_text(f"https://[::1/services/{secret}\n")  # httpx2.InvalidURL
            outbox.send("slack-team", notices.slack(notice()), "first")
            channel = outbox.channels["slack-team"]
            wait_for("the first message to be given up", lambda: channel.failed == 1)
            path.write_text(good)
            outbox.send("slack-team", notices.slack(notice("baked")), "second")
            wait_for("the second message", lambda: len(hook.received) == 1)
        finally:
            outbox.close(1.0)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "does not hold an http(s) URL" in text and secret not in text


def test_an_unexpected_error_fails_one_try_and_the_thread_lives(
        caplog: pytest.LogCaptureFixture) -> None:
    answers = iter([RuntimeError("https://hooks.example.com/services/T0/B0/echoed-secret"),
                    None])

    def verdict(status: int, headers: Any, now: float) -> notify.Verdict:
        raised = next(answers)
        if raised is not None:
            raise raised
        return notify.Verdict(True, str(status))

    sent: list[object] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(200)

    outbox = notify.Outbox([notify.Receiver("generic", lambda: "http://hooks.invalid/x",
                                            verdict)],
                           transport_=httpx2.MockTransport(answer), backoff=(0.01, 0.01))
    try:
        outbox.send("generic", {"text": "hi"}, "released")
        channel = outbox.channels["generic"]
        wait_for("the retry to deliver", lambda: channel.delivered == 1)
    finally:
        outbox.close(1.0)
    assert len(sent) == 2 and channel.failed == 0
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in text and "echoed-secret" not in text


# -- the stand-in: notification-controller's checks and Alert matching ----------------


def test_the_documented_alert_fires_for_its_rollout_only_and_marks_the_commit() -> None:
    n = released()
    [obj] = n.objects
    event = notices.flux_event(n, obj, branch="main", instance="reconciler-0")
    with fluxevents.FluxEventServer(alerts=(docs_alert(),
                                            docs_alert(provider_type="github"))) as server:
        assert httpx2.post(server.events_url, json=event).status_code == 202
        [slack, github] = server.dispatched
        assert slack.metadata["rollout"] == "apps/podinfo"
        assert slack.metadata["cluster"] == "production-eu"  # the Alert's eventMetadata
        assert "token" not in slack.metadata
        assert github.commit == RELEASE_SHA
        # The same event again is a duplicate (429); another rollout's is not the Alert's.
        assert httpx2.post(server.events_url, json=event).status_code == 429
        other = {**event, "message": event["message"].replace("apps/podinfo", "apps/cart")}
        other["metadata"] = {**event["metadata"], "kustomize.toolkit.fluxcd.io/token": "2"}
        assert httpx2.post(server.events_url, json=other).status_code == 202
        assert len(server.dispatched) == 2 and len(server.accepted) == 2


@pytest.mark.parametrize(("change", "mutate", "status"), [
    ("no involvedObject.kind", lambda e: e["involvedObject"].pop("kind"), 400),
    ("a number in metadata", lambda e: e["metadata"].update(x=1), 400),
    ("a timestamp Go cannot read", lambda e: e.update(timestamp="10 Aug 2026"), 400),
    ("severity warning", lambda e: e.update(severity="warning"), 400),
])
def test_the_stand_in_refuses_what_flux_would(change: str, mutate: Any, status: int) -> None:
    n = released()
    event = notices.flux_event(n, n.objects[0], branch="main", instance="r")
    mutate(event)
    with fluxevents.FluxEventServer() as server:
        assert httpx2.post(server.events_url, json=event).status_code == status, change
        assert not server.accepted


def test_run_stops_with_exit_2_and_one_line_on_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "notifications.yaml"
    config.write_text("destinations:\n  - type: slack\n    urlFile: /x\n"
                      "    events: [rolled-back]\n")
    (tmp_path / "fleet.git").mkdir()  # --repo itself is checked first
    proc = cli.run("run", "--repo", str(tmp_path / "fleet.git"), "--notifications-config",
                   str(config), cache=tmp_path / "cache")
    assert proc.returncode == 2
    assert cli.one_error_line(proc) == (
        f"reconciler: error: {config}:4 destinations[0].events: unknown event "
        f"'rolled-back' (known: released, baked, failed, reverted, held, proposed, declined, "
        "hook-failed)")
    url = tmp_path / "url"
    config.write_text(f"destinations:\n  - type: slack\n    urlFile: {url}\n")
    url.write_text("https://[::1/services/T0/B0/not-a-url-secret\n")
    proc = cli.run("run", "--repo", str(tmp_path / "fleet.git"), "--notifications-config",
                   str(config), cache=tmp_path / "cache")
    assert proc.returncode == 2
    assert cli.one_error_line(proc) == (
        f"reconciler: error: {config}:2 destinations[0].urlFile: the webhook URL file {url} "
        "does not hold an http(s) URL")
    with pytest.raises(InputError) as caught:
        settings.load(NotifySettings, {"flux_events_url": "notification-controller:80"})
    assert str(caught.value) == ("--flux-events-url 'notification-controller:80': expected "
                                 "an http:// or https:// URL")
    with pytest.raises(InputError) as caught:  # passes the settings' check, not httpx2's
        notifysetup.check(NotifySettings(flux_events_url="http://[::1/"))
    assert str(caught.value) == ("--flux-events-url 'http://[::1/': expected an http:// or "
                                 "https:// URL")
