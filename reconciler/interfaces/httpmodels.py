"""The HTTP surface's payloads: webhook bodies, answers and the read-only API's views.

Part of ``interfaces/http`` (which imports everything from here): pydantic models,
so that FastAPI validates what comes in and documents what goes out in the OpenAPI
document, and ``view`` to turn a Rollout object into what the API shows of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reconciler.core import status as rollout_status
from reconciler.core import versions

_ROLLOUT = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?")



class Refusal(BaseModel):
    detail: str = Field(description="Why the request was refused, in one line.")


class Liveness(BaseModel):
    alive: bool


class Readiness(BaseModel):
    ready: bool
    reason: str = Field(description="What readiness depends on, and what is missing.")


class GitHookAccepted(BaseModel):
    accepted: bool = True
    fetch: bool = Field(True, description="Whether the config repository is fetched now.")
    rollout: str | None = Field(None, description="A pull-request event: the rollout whose "
                                "pull request it is, or null when it is not one of the "
                                "reconciler's.")
    pull_request: int | None = Field(None, description="A pull-request event: its number.")


# What /hooks/release accepts as a tag, for the OpenAPI document: a full semantic
# version, optionally with a leading v, without build metadata (not an OCI character).
# versions.parse still has the last word (length, leading zeros in prerelease parts).
# Version numbers up to 19 digits: Flux skips tags with a number beyond 2^64-1 (20
# digits), and a pattern cannot draw that line exactly; 19 stays inside it.
_NUMBER = r"(0|[1-9][0-9]{0,18})"
_PRE_ID = r"(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"  # semver: no leading zeros
RELEASE_TAG_PATTERN = (rf"^v?{_NUMBER}\.{_NUMBER}\.{_NUMBER}"
                       rf"(-{_PRE_ID}(\.{_PRE_ID})*)?$")


class ReleaseHook(BaseModel):
    """A CI pipeline registering a release candidate. Other fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    rollout: str = Field(description="The Rollout as namespace/name.",
                         examples=["apps/podinfo"], json_schema_extra={
                             "pattern": f"^{_ROLLOUT.pattern}$"})
    tag: str = Field(description="The release tag: semver and a valid OCI tag.",
                     examples=["6.5.0"], max_length=versions.OCI_TAG_MAX,
                     json_schema_extra={"pattern": RELEASE_TAG_PATTERN})

    @field_validator("rollout")
    @classmethod
    def _namespaced(cls, value: str) -> str:
        if not _ROLLOUT.fullmatch(value):
            raise ValueError("expected <namespace>/<name> in lower case, e.g. apps/podinfo")
        return value


class ReleaseAccepted(BaseModel):
    accepted: bool = True
    new: bool = Field(description="False when this tag was already a known candidate.")


class RolloutView(BaseModel):
    """A Rollout as the API shows it: a summary, then the object's spec and status."""

    namespace: str
    name: str
    generation: int | None = None
    release: str | None = Field(None, description="The release the newest git record set.")
    ready: bool | None = Field(None, description="The Ready condition; None when unset.")
    reason: str | None = None
    message: str | None = None
    suspended: bool = False
    wanted_version: str | None = None
    available_releases: list[str] = []
    spec: dict[str, Any] = {}
    status: dict[str, Any] = {}


class HistoryRecord(BaseModel):
    """One reconciler commit, as ``reconciler history -o json`` prints it."""

    commit: str
    rollout: str
    action: str
    release: str
    previous_release: str | None = None
    time: str
    reason: str | None = None
    reverts: str | None = None
    subject: str | None = None
    environment: str | None = None
    requested_by: str | None = Field(None, description="Who asked for it, for a release "
                                     "requested from the dashboard (Requested-By trailer).")


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def view(obj: Mapping[str, Any]) -> RolloutView:
    """Summarise a Rollout object; tolerant of any status someone may have written."""
    meta, spec, status = (_mapping(obj.get(k)) for k in ("metadata", "spec", "status"))
    conditions = status.get("conditions")
    ready = next((c for c in conditions if isinstance(c, Mapping) and c.get("type") == "Ready"),
                 {}) if isinstance(conditions, list) else {}
    history = status.get("history")
    newest = _mapping(history[0]) if isinstance(history, list) and history else {}
    generation = meta.get("generation")
    return RolloutView(
        namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")),
        generation=generation if isinstance(generation, int) else None,
        # kuberik's VersionInfo objects, or the strings an earlier daemon wrote.
        release=rollout_status.tag_of(newest.get("version")),
        ready={"True": True, "False": False}.get(str(ready.get("status"))),
        reason=_text(ready.get("reason")), message=_text(ready.get("message")),
        suspended=spec.get("suspend") is True, wanted_version=_text(spec.get("wantedVersion")),
        available_releases=rollout_status.known_releases(status),
        spec=dict(spec), status=dict(status))


