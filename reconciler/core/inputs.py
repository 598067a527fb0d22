"""Reading the cluster objects the release loop depends on, defensively.

``ImagePolicy`` (v1 ``status.latestRef`` or v1beta2 ``status.latestImage``),
``RolloutGate`` and Flux's ``Kustomization.status.lastAppliedRevision`` arrive as
plain JSON from the API server; anything missing or of the wrong shape becomes a
sentence for the Rollout's status instead of an exception, so one bad object
never stops the daemon.

Pure: dicts in, values and messages out.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.core import versions
from reconciler.errors import InvalidTag

_SHA = re.compile(r"(?:^|[@:])(?:sha1:)?([0-9a-f]{40})$")


@dataclass(frozen=True)
class Candidate:
    tag: str | None
    problem: str | None = None  # why there is no tag, for the status
    digest: str | None = None  # v1 ``status.latestRef.digest``, for the status


def image_policy_tag(obj: Mapping[str, Any] | None, *, name: str) -> Candidate:
    """The latest tag an ImagePolicy reports, or why there is none. A tag that is not
    a valid semver OCI tag (a newline, a quote, ``$(...)``) is no candidate: the
    problem says why, escaped, so the status shows it on one line."""
    found = _image_policy_tag(obj, name=name)
    if found.tag is None:
        return found
    try:
        versions.parse(found.tag)
    except InvalidTag as exc:
        return Candidate(None, f"ImagePolicy {name} reports a tag that is never released: "
                               f"{exc}")
    return found


def _image_policy_tag(obj: Mapping[str, Any] | None, *, name: str) -> Candidate:
    if obj is None:
        return Candidate(None, f"ImagePolicy {name} not found")
    status = obj.get("status")
    if not status:
        return Candidate(None, f"ImagePolicy {name} has no status yet")
    if not isinstance(status, Mapping):
        return Candidate(None, f"ImagePolicy {name} has a malformed status")
    ref = status.get("latestRef")
    if isinstance(ref, Mapping):
        tag = ref.get("tag")
        digest = ref.get("digest")
        if isinstance(tag, str) and tag:
            return Candidate(tag, digest=digest if isinstance(digest, str) and digest else None)
        return Candidate(None, f"ImagePolicy {name} status.latestRef has no tag")
    image = status.get("latestImage")
    if isinstance(image, str) and image:
        # repo[:port]/path:tag[@digest] -- the tag follows the last ':' after the last '/'.
        image, _, digest = image.partition("@")
        last = image.rsplit("/", 1)[-1]
        if ":" in last and last.rsplit(":", 1)[1]:
            return Candidate(last.rsplit(":", 1)[1], digest=digest or None)
        return Candidate(None, f"ImagePolicy {name} status.latestImage {image!r} has no tag")
    return Candidate(None, f"ImagePolicy {name} reports no latest image yet")


# kuberik's annotation: gates do not block this one version (while it is a candidate).
BYPASS_GATES = "rollout.kuberik.com/bypass-gates"


@dataclass(frozen=True)
class Gates:
    blocks: tuple[str, ...]
    allowed: frozenset[str] | None
    # kuberik's ``status.gates[]``: name, passing, allowedVersions, message, bypassGates.
    # A report for the status, not an input of the decision: equality ignores it.
    summary: tuple[Mapping[str, Any], ...] = field(default=(), compare=False)


def gates_for(rollout_name: str, gates: Iterable[Mapping[str, Any]], *,
              bypass: str | None = None,
              candidates: Collection[str] = ()) -> Gates:
    """Join every RolloutGate naming the rollout: any not passing blocks; the
    ``allowedVersions`` of all gates that list some intersect.

    ``bypass`` is the Rollout's ``rollout.kuberik.com/bypass-gates`` annotation. As in
    kuberik, it counts only while that tag is among ``candidates`` (the known
    releases above the current one): then no gate blocks and that tag is the only
    one allowed; the gates are still reported, marked bypassed."""
    bypassed = bool(bypass) and bypass in candidates
    blocks: list[str] = []
    allowed: frozenset[str] | None = None
    summary: list[Mapping[str, Any]] = []
    for gate in gates:
        spec = gate.get("spec") or {}
        if not isinstance(spec, Mapping):
            continue
        ref = spec.get("rolloutRef") or {}
        if not isinstance(ref, Mapping) or ref.get("name") != rollout_name:
            continue
        meta = gate.get("metadata") or {}
        name = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        line: dict[str, Any] = {"name": str(meta.get("name", "")), "bypassGates": bypassed}
        passing = spec.get("passing")
        if isinstance(passing, bool):
            line["passing"] = passing
        if passing is False:
            blocks.append(f"RolloutGate {name} is not passing")
            line["message"] = "Gate is not passing"
        versions = spec.get("allowedVersions")
        if isinstance(versions, list):
            these = frozenset(v for v in versions if isinstance(v, str))
            allowed = these if allowed is None else allowed & these
            line["allowedVersions"] = sorted(these)
            if passing is not False:
                line["message"] = ("Gate is passing" if these & set(candidates) else
                                   "Gate does not allow any release candidate")
        line.setdefault("message", "Gate is passing")
        if bypassed:
            line["message"] = f"Gate bypassed for version {bypass}"
        summary.append(line)
    if bypassed:
        assert bypass is not None
        return Gates((), frozenset({bypass}), tuple(summary))
    return Gates(tuple(sorted(blocks)), allowed, tuple(summary))


def applied_sha(obj: Mapping[str, Any] | None) -> str | None:
    """The git commit in a Kustomization's ``status.lastAppliedRevision``
    (``main@sha1:<hex>``, ``sha1:<hex>`` or a bare hex), if any."""
    if obj is None:
        return None
    status = obj.get("status")
    revision = status.get("lastAppliedRevision") if isinstance(status, Mapping) else None
    if not isinstance(revision, str):
        return None
    m = _SHA.search(revision)
    return m.group(1) if m else None


def applied_revision(obj: Mapping[str, Any] | None) -> str | None:
    if obj is None:
        return None
    status = obj.get("status")
    revision = status.get("lastAppliedRevision") if isinstance(status, Mapping) else None
    return revision if isinstance(revision, str) else None
