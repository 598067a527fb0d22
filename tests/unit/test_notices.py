"""Notices: which Events become notices, what each receiver is sent, and whether
notification-controller's checks and metadata clean-up (tests/support/fluxevents.py)
keep what docs/notifications.md says; its Alert matching over HTTP is in
tests/integration/test_notify.py.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from reconciler.core import notices, progress, reasons
from reconciler.core.changes import ChangeSet
from reconciler.core.manifests import Target
from reconciler.engine.notices import FLUX, Notifier
from reconciler.engine.releaser import Result
from tests.support import chathooks, fluxevents

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 8, 10, 9, 14, 3, 250000, tzinfo=UTC)
RELEASE_SHA = "1a2b3c4d5e6f" + "0" * 28
REVERT_SHA = "9" * 40
HEAD_SHA = "7" * 40
ROLLOUT = {"apiVersion": "kuberik.com/v1alpha1", "kind": "Rollout",
           "metadata": {"namespace": "apps", "name": "podinfo"}}


def target(kind: str, obj: str, *, group: str = "", setter: str | None = None) -> Target:
    return Target(rollout="apps/podinfo", file="clusters/production/apps.yaml", document=0,
                  kind=kind, object=obj, path=("spec", "x"), value="6.4.0", setter=setter,
                  group=group)


class Sent:
    def __init__(self) -> None:
        self.items: list[tuple[str, Any, str]] = []

    def send(self, name: str, payload: Any, what: str) -> None:
        self.items.append((name, payload, what))


def notifier(sent: Sent, *, targets: list[Target] | None = None, chats: Any = (),
             cluster: dict[tuple[str, str, str], Any] | None = None) -> Notifier:
    found = cluster or {}
    return Notifier(
        outbox=sent, flux=True, chats=chats,
        targets=lambda key: targets if targets is not None else
        [target("Kustomization", "flux-system/apps")],
        cluster_object=lambda kind, ns, name: found.get((kind.kind, ns, name)),
        environment="production", branch="main", flux_source="flux-system/flux-system",
        instance="reconciler-0", clock=lambda: T0)


def released(using: Notifier | None = None) -> notices.Notice:
    n = (using or notifier(Sent())).notice(
        ROLLOUT, "Normal", reasons.RELEASE_WRITTEN, "release 6.4.0 -> 6.5.0 (commit 1a2b)",
        step=progress.Step("release", reasons.RELEASE_WRITTEN, "", release="6.5.0"),
        result=Result("pushed", "apps/podinfo", "release", "6.5.0", "6.4.0", RELEASE_SHA,
                      ChangeSet(rollout="apps/podinfo")), revision=None)
    assert n is not None
    return n


# -- which Events, and what they say ------------------------------------------------


def test_each_state_change_becomes_its_notice() -> None:
    n = notifier(Sent())
    rel = released()
    assert (rel.change, rel.release, rel.previous, rel.commit, rel.severity) == (
        "released", "6.5.0", "6.4.0", RELEASE_SHA, "info")
    assert rel.message == "Rollout apps/podinfo: released 6.5.0 (was 6.4.0) in production"

    baked = n.notice(ROLLOUT, "Normal", reasons.BAKE_SUCCEEDED, "6.5.0 baked successfully: ok",
                     step=progress.Step("idle", reasons.BAKE_SUCCEEDED, "", current="6.5.0",
                                        in_flight=RELEASE_SHA), result=None, revision=None)
    assert baked is not None
    assert (baked.change, baked.release, baked.commit) == ("baked", "6.5.0", RELEASE_SHA)
    assert baked.message.endswith("6.5.0 baked in production: 6.5.0 baked successfully: ok")

    revert_step = progress.Step("revert", reasons.BAKE_FAILED, "error rate 7% > 5%",
                                revert=RELEASE_SHA, current="6.6.0", in_flight=RELEASE_SHA)
    failed = n.notice(ROLLOUT, "Warning", reasons.BAKE_FAILED, "6.6.0 failed its bake",
                      step=revert_step, result=None, revision=None)
    reverted = n.notice(ROLLOUT, "Warning", reasons.RELEASE_REVERTED, "revert ...",
                        step=revert_step,
                        result=Result("pushed", "apps/podinfo", "revert", "6.5.0", "6.6.0",
                                      REVERT_SHA, ChangeSet(rollout="apps/podinfo")),
                        revision=None)
    assert failed is not None and reverted is not None
    assert (failed.change, failed.release, failed.commit, failed.severity) == (
        "failed", "6.6.0", RELEASE_SHA, "error")
    # The commit is the release the change is about; the revert's own commit beside it.
    assert (reverted.release, reverted.previous, reverted.commit, reverted.wrote) == (
        "6.5.0", "6.6.0", RELEASE_SHA, REVERT_SHA)
    assert reverted.message == ("Rollout apps/podinfo: reverted 6.6.0 in production, "
                                "back to 6.5.0: error rate 7% > 5%")

    held = n.notice(ROLLOUT, "Warning", reasons.HELD_BY_MANUAL_CHANGE, "held: ...",
                    step=progress.Step("held", reasons.HELD_BY_MANUAL_CHANGE, "held: ...",
                                       current="6.5.1"), result=None, revision=HEAD_SHA)
    assert held is not None and (held.change, held.release, held.commit) == (
        "held", "6.5.1", HEAD_SHA)

    for reason in (reasons.BAKING, reasons.DEPLOYING, reasons.GIT_ERROR, reasons.PINNED):
        assert n.notice(ROLLOUT, "Normal", reason, "x", step=None, result=None,
                        revision=None) is None


def test_the_flux_objects_are_where_the_targets_live() -> None:
    targets = [target("Kustomization", "flux-system/apps"),
               target("Kustomization", "flux-system/apps"),  # a second variable
               target("OCIRepository", "apps/podinfo-chart"),
               target("Deployment", "apps/podinfo", group="apps", setter="tag"),
               target("Kustomization", "apps/kustomization.yaml",
                      group="kustomize.config.k8s.io", setter="tag")]
    cluster = {("Kustomization", "flux-system", "apps"): {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "metadata": {"uid": "7d0c-1"}}}
    objects = notifier(Sent(), targets=targets, cluster=cluster).objects("apps/podinfo")
    assert [(o.api_version, o.kind, o.namespace, o.name, o.uid) for o in objects] == [
        ("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "apps", "7d0c-1"),
        ("source.toolkit.fluxcd.io/v1", "OCIRepository", "apps", "podinfo-chart", None),
        # a marker outside a Flux object: the GitRepository its commit reaches Flux by
        ("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "flux-system", None),
    ]


def test_one_flux_event_per_object_and_chats_by_their_filters() -> None:
    from reconciler.core import destinations

    chats = destinations.parse(
        b"destinations:\n"
        b"  - {name: team, type: slack, urlFile: /x, namespaces: [apps]}\n"
        b"  - {name: others, type: teams, urlFile: /y, namespaces: [payments]}\n"
        b"  - {name: errors, type: generic, urlFile: /z, events: [failed, reverted]}\n",
        file="n.yaml")
    sent = Sent()
    n = notifier(sent, chats=chats, targets=[target("Kustomization", "flux-system/apps"),
                                             target("OCIRepository", "apps/chart")])
    n.deliver(released(n))
    assert [(name, what) for name, _, what in sent.items] == [
        (FLUX, "released apps/podinfo 6.5.0 (Kustomization flux-system/apps)"),
        (FLUX, "released apps/podinfo 6.5.0 (OCIRepository apps/chart)"),
        ("team", "released apps/podinfo 6.5.0")]


# -- the Flux event, as notification-controller takes it ----------------------------


def doc_manifests() -> list[dict[str, Any]]:
    """Every YAML manifest shown in docs/notifications.md."""
    text = (ROOT / "docs" / "notifications.md").read_text()
    out: list[dict[str, Any]] = []
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        out += [d for d in YAML(typ="safe").load_all(block) if d and "kind" in d]
    return out


def docs_alert(*, provider_type: str = "slack") -> fluxevents.Alert:
    [alert] = [d for d in doc_manifests() if d["kind"] == "Alert"]
    return fluxevents.Alert.from_manifest(alert, provider_type=provider_type)


def test_the_flux_event_is_one_notification_controller_accepts() -> None:
    notice = released()
    [obj] = notice.objects
    event = json.loads(json.dumps(notices.flux_event(notice, obj, branch="main",
                                                     instance="reconciler-0")))
    assert fluxevents.decode_problem(event) is None
    assert fluxevents.required_problem(event) is None
    assert event["timestamp"] == "2026-08-10T09:14:03Z"
    assert event["involvedObject"] == {"apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                                       "kind": "Kustomization", "namespace": "flux-system",
                                       "name": "apps"}
    before = dict(event["metadata"])
    fluxevents.cleanup_metadata(event)
    assert event["metadata"] == before, "a metadata key Flux would drop"
    assert event["metadata"]["event.toolkit.fluxcd.io/commit"] == RELEASE_SHA
    assert event["metadata"]["kustomize.toolkit.fluxcd.io/revision"] == \
        f"main@sha1:{RELEASE_SHA}"


# -- chat payloads --------------------------------------------------------------------


def test_chat_payloads_are_what_each_receiver_takes() -> None:
    notice = notices.Notice(
        change="failed", rollout="apps/podinfo", reason=reasons.BAKE_FAILED,
        detail="HealthCheck <error-rate> & latency: 7% > 5%", warning=True, time=T0,
        environment="production", release="6.6.0", commit=RELEASE_SHA)
    slack = notices.slack(notice)
    assert chathooks._slack_problem(slack) is None
    assert slack["text"].startswith("Rollout apps/podinfo: 6.6.0 failed in production")
    assert "&lt;error-rate&gt; &amp; latency" in slack["blocks"][1]["text"]["text"]
    teams = notices.teams(notice)
    assert chathooks._teams_problem(teams) is None
    card = teams["attachments"][0]["content"]
    assert card["body"][0]["color"] == "attention"
    assert {"title": "commit", "value": RELEASE_SHA} in card["body"][-1]["facts"]
    generic = notices.generic(notice)
    assert (generic["change"], generic["severity"], generic["release"]) == (
        "failed", "error", "6.6.0")
    assert generic["timestamp"] == "2026-08-10T09:14:03Z"
