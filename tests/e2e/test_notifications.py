"""End-to-end: the daemon's notifications reach a stand-in of Flux's
notification-controller and a Slack-like chat webhook (tests/support/fluxevents.py,
chathooks.py), exactly once each, in the order the changes happened.

One story, a few seconds: 6.5.0 is released and baked; 6.6.0 is released, fails its
bake and is reverted. The Alerts are the ones docs/notifications.md tells a user to
write (with a Slack provider, and with a GitHub one for commit statuses).
"""

from __future__ import annotations

from reconciler.core.status import tag_of
from tests.e2e.conftest import E2E
from tests.support.chathooks import ChatHook
from tests.support.fluxevents import FluxEventServer
from tests.unit.test_notices import docs_alert

HEADLINES = [
    ("ReleaseWritten", "info", "released 6.5.0 (was 6.4.0) in default"),
    ("BakeSucceeded", "info", "6.5.0 baked in default"),
    ("ReleaseWritten", "info", "released 6.6.0 (was 6.5.0) in default"),
    ("BakeFailed", "error", "6.6.0 failed in default"),
    ("ReleaseReverted", "error", "reverted 6.6.0 in default, back to 6.5.0"),
]


def baked(e2e: E2E, version: str) -> bool:
    entry = e2e.newest()
    return tag_of(entry.get("version")) == version and entry.get("bakeStatus") == "Succeeded"


def test_release_bake_and_revert_are_notified_once_each_in_order(e2e: E2E) -> None:
    alerts = (docs_alert(), docs_alert(provider_type="github"))
    with FluxEventServer(alerts=alerts) as flux, ChatHook("slack") as slack:
        slack.throttle(retry_after=1)  # the first message waits out a 429
        url_file = e2e.tmp / "slack-url"
        url_file.write_text(slack.webhook_url + "\n")
        config = e2e.tmp / "notifications.yaml"
        config.write_text(f"destinations:\n  - name: podinfo-team\n    type: slack\n"
                          f"    urlFile: {url_file}\n    rollouts: [apps/podinfo]\n"
                          f"    minInterval: 100ms\n")
        e2e.set_rollout_spec("podinfo", bakeTime="1s")
        daemon = e2e.start_daemon("--flux-events-url", flux.events_url,
                                  "--notifications-config", str(config))

        e2e.offer("6.5.0")
        e2e.wait_until("6.5.0 to bake", lambda: baked(e2e, "6.5.0"))
        e2e.offer("6.6.0")
        e2e.wait_until("6.6.0 released", lambda: e2e.reconciler_commits(release="6.6.0"))
        e2e.health("podinfo-error-rate", "Unhealthy", "error rate 7.2% > 5%")
        e2e.wait_until("the revert", lambda: e2e.reconciler_commits(action="revert"))
        e2e.wait_until("five Flux events", lambda: len(flux.accepted) >= 5)
        e2e.wait_until("five chat messages", lambda: len(slack.received) >= 5)
        e2e.stays("nothing more is sent", lambda: len(flux.accepted) == 5
                  and len(slack.received) == 5 and not flux.duplicates, 1.0)

        [r1] = e2e.reconciler_commits(action="release", release="6.5.0")
        [r2] = e2e.reconciler_commits(action="release", release="6.6.0")
        [revert] = e2e.reconciler_commits(action="revert")
        events = flux.accepted
        assert [(e["reason"], e["severity"], e["message"].split(": ", 2)[1])
                for e in events] == HEADLINES
        assert all(e["message"].startswith("Rollout apps/podinfo: ") for e in events)
        kustomization = e2e.emulator.get_object("kustomize.toolkit.fluxcd.io/v1",
                                                "Kustomization", namespace="flux-system",
                                                name="podinfo")
        assert kustomization is not None
        for e in events:
            assert e["involvedObject"]["kind"] == "Kustomization"
            assert (e["involvedObject"]["namespace"], e["involvedObject"]["name"]) == (
                "flux-system", "podinfo")
            assert e["involvedObject"].get("uid") == kustomization["metadata"].get("uid")
            assert e["reportingController"] == "reconciler"
        commits = [e["metadata"]["event.toolkit.fluxcd.io/commit"] for e in events]
        assert commits == [r1.sha, r1.sha, r2.sha, r2.sha, r2.sha]
        assert events[4]["metadata"]["event.toolkit.fluxcd.io/revertCommit"] == revert.sha
        assert not flux.rejected

        # The documented Alert fires for every one; the commit-status one marks the
        # release commits.
        to_slack = [d for d in flux.dispatched if d.commit is None]
        to_github = [d for d in flux.dispatched if d.commit is not None]
        assert len(to_slack) == 5 and to_slack[0].metadata["rollout"] == "apps/podinfo"
        assert [d.commit for d in to_github] == commits

        assert slack.answers[0] == 429
        texts = [p["text"] for p in slack.payloads()]
        assert [t.split(": ", 2)[1] for t in texts] == [h for _, _, h in HEADLINES]
        assert slack.path not in daemon.log()
