"""Notices: the record of one state change of a rollout, and what each receiver gets.

Where it fits: the Reporter (``engine/reporting.py``) records a Kubernetes Event for
every state change; ``engine/notices.py`` turns the ones people are told about into a
``Notice`` here, and ``adapters/notify.py`` delivers what this module renders from it:
a Flux event for notification-controller (``flux_event``) and chat messages
(``slack``, ``teams``, ``generic``). One record, many renderings (STYLE.md, 3).

Pure: plain data in, plain data (JSON-ready dicts) out.

The Flux event follows ``fluxcd/pkg/apis/event/v1beta1`` (``Event``: involvedObject,
severity info|error, timestamp, message, reason, metadata, reportingController,
reportingInstance) and what notification-controller does with it
(``internal/server/event_server.go``, ``event_handlers.go``,
``provider_commit_status.go``):

* metadata keys survive only with the prefix ``event.toolkit.fluxcd.io/`` or the
  involved object's API group (``cleanupMetadata``); both prefixes are stripped
  before a provider sees them, so an Alert's ``eventMetadata`` or a
  ``commitStatusExpr`` reads ``rollout``, ``release``, ...;
* ``event.toolkit.fluxcd.io/commit`` is the key the git commit-status providers
  read first (``Event.GetRevision``: commit, originRevision, revision); an info
  event without it is dropped for them;
* ``<group>/revision`` and ``<group>/token`` enter the duplicate-suppression key
  (``eventKeyFunc``) with the object, the message and ``originRevision``; the token
  is removed before dispatch (``excludeInternalMetadata``), so it only keeps two
  different changes with the same text apart;
* severity is Flux's mapping of the Kubernetes Event type: Warning → error, else info.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.core import reasons

EVENT_GROUP = "event.toolkit.fluxcd.io"
COMMIT_KEY = f"{EVENT_GROUP}/commit"
CONTROLLER = "reconciler"
MAX_MESSAGE = 39000  # the Event type's kubebuilder MaxLength on message

CHANGES = ("released", "baked", "failed", "reverted", "held", "proposed", "declined",
           "hook-failed")
"""Every change a notice can be about, in the order a release lives through them."""

BY_REASON: Mapping[str, str] = {
    reasons.RELEASE_WRITTEN: "released",
    reasons.BAKE_SUCCEEDED: "baked",
    reasons.BAKE_FAILED: "failed",
    reasons.DEPLOY_TIMEOUT: "failed",
    reasons.RELEASE_REVERTED: "reverted",
    reasons.HELD_BY_MANUAL_CHANGE: "held",
    reasons.PULL_REQUEST_OPENED: "proposed",
    reasons.PULL_REQUEST_DECLINED: "declined",
    reasons.HOOK_FAILED: "hook-failed",
}
"""Event reasons that are notices, and the change each one is."""

@dataclass(frozen=True)
class FluxObject:
    """The Flux object a change concerns: an Alert's ``eventSources`` entry matches it."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str | None = None

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]


@dataclass(frozen=True)
class Notice:
    """One state change of one rollout, as people are told about it.

    ``commit`` is the release commit the change is about (the one released, baked,
    failed or reverted; the branch head a hold was seen at); ``wrote`` the commit
    this change itself wrote, when that is another one (a revert).
    """

    change: str
    rollout: str  # namespace/name
    reason: str
    detail: str
    warning: bool
    time: datetime
    environment: str
    release: str | None = None
    previous: str | None = None
    commit: str | None = None
    wrote: str | None = None
    objects: tuple[FluxObject, ...] = ()

    @property
    def severity(self) -> str:
        return "error" if self.warning else "info"

    @property
    def namespace(self) -> str:
        return self.rollout.partition("/")[0]

    @property
    def headline(self) -> str:
        """What happened, in a few words: ``released 6.5.0 (was 6.4.0) in production``."""
        env, release = self.environment, self.release or "?"
        was = f" (was {self.previous})" if self.previous else ""
        return {
            "released": f"released {release}{was} in {env}",
            "baked": f"{release} baked in {env}",
            "failed": f"{release} failed in {env}",
            "reverted": f"reverted {self.previous or '?'} in {env}, back to {release}",
            "held": f"held at {release} in {env}",
            "proposed": f"proposed {self.release or 'a change'} in {env}",
            "declined": f"{self.release or 'a change'} declined in {env}",
            "hook-failed": f"a test hook failed in {env}",
        }.get(self.change, f"{self.change} {release} in {env}")

    @property
    def message(self) -> str:
        """The one message every receiver shows; it starts ``Rollout <ns>/<name>: `` so
        a Flux Alert's ``inclusionList`` can select one rollout's notices."""
        text = f"Rollout {self.rollout}: {self.headline}"
        if self.detail:
            text += f": {self.detail}"
        return text[:MAX_MESSAGE]

    def facts(self) -> dict[str, str]:
        """The change's particulars, by the metadata names Flux receivers see."""
        out = {"rollout": self.rollout, "change": self.change,
               "environment": self.environment}
        for key, value in (("release", self.release), ("previousRelease", self.previous),
                           ("commit", self.commit), ("revertCommit", self.wrote)):
            if value:
                out[key] = value
        return out


def flux_event(notice: Notice, obj: FluxObject, *, branch: str,
               instance: str) -> dict[str, Any]:
    """The event notification-controller's ``POST /`` takes for ``obj``. Pure."""
    # ``commit`` lands on COMMIT_KEY, the key the commit-status providers read.
    metadata = {f"{EVENT_GROUP}/{key}": value for key, value in notice.facts().items()}
    if notice.commit:
        metadata[f"{obj.group}/revision"] = f"{branch}@sha1:{notice.commit}"
    metadata[f"{obj.group}/token"] = ":".join(
        (notice.change, notice.rollout, notice.release or "", notice.commit or ""))
    involved: dict[str, str] = {"apiVersion": obj.api_version, "kind": obj.kind,
                                "namespace": obj.namespace, "name": obj.name}
    if obj.uid:
        involved["uid"] = obj.uid
    return {
        "involvedObject": involved,
        "severity": notice.severity,
        "timestamp": timestamp(notice.time),
        "message": notice.message,
        "reason": notice.reason,
        "metadata": metadata,
        "reportingController": CONTROLLER,
        "reportingInstance": instance,
    }


def timestamp(when: datetime) -> str:
    """``metav1.Time``'s JSON form: RFC 3339 in UTC, whole seconds."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- chat ------------------------------------------------------------------------------


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters ("Escaping text").
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_ICON = {"released": ":rocket:", "baked": ":white_check_mark:", "failed": ":x:",
         "reverted": ":rewind:", "held": ":raised_hand:", "proposed": ":memo:",
         "declined": ":no_entry_sign:", "hook-failed": ":warning:"}


def slack(notice: Notice) -> dict[str, Any]:
    """A Slack incoming-webhook payload: ``text`` (the notification and fallback) and
    ``blocks`` (a section and a context line). Pure."""
    head = f"{_ICON.get(notice.change, '')} *{_slack_escape(notice.rollout)}*: " \
           f"{_slack_escape(notice.headline)}".strip()
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": head[:3000]}}]
    if notice.detail:
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": _slack_escape(notice.detail)[:3000]}})
    context = [f"{k}: `{_slack_escape(v)}`" for k, v in notice.facts().items()
               if k not in ("rollout", "change")]
    blocks.append({"type": "context",
                   "elements": [{"type": "mrkdwn", "text": " · ".join(context)[:3000]}]})
    return {"text": notice.message[:3000], "blocks": blocks}


def teams(notice: Notice) -> dict[str, Any]:
    """A Microsoft Teams message holding one Adaptive Card (1.4), the envelope both a
    Workflows webhook ("Post to a channel when a webhook request is received") and a
    legacy connector webhook accept. Pure."""
    title: dict[str, Any] = {"type": "TextBlock", "text": f"{notice.rollout}: "
                             f"{notice.headline}", "weight": "bolder", "size": "medium",
                             "wrap": True}
    if notice.warning:
        title["color"] = "attention"
    body: list[dict[str, Any]] = [title]
    if notice.detail:
        body.append({"type": "TextBlock", "text": notice.detail, "wrap": True})
    body.append({"type": "FactSet", "facts": [
        {"title": key, "value": value} for key, value in notice.facts().items()]})
    return {
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard", "version": "1.4", "body": body,
                        "msteams": {"width": "Full"}},
        }],
    }


def generic(notice: Notice) -> dict[str, Any]:
    """The change record as plain JSON, for any receiver. Pure."""
    return {
        **notice.facts(),
        "severity": notice.severity,
        "reason": notice.reason,
        "message": notice.message,
        "timestamp": timestamp(notice.time),
        "objects": [{"apiVersion": o.api_version, "kind": o.kind, "namespace": o.namespace,
                     "name": o.name} for o in notice.objects],
    }


RENDERERS = {"slack": slack, "teams": teams, "generic": generic}
