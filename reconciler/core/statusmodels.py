"""The Rollout status the reconciler writes, as pydantic models: kuberik's shape.

Field for field kuberik/rollout-controller's ``RolloutStatus`` (``api/v1alpha1/
rollout_types.go``, read at 7cd01179), plus our additions, so the CRD generated from
these (``schemas/crds/rollouts.kuberik.com.yaml``) is a superset of kuberik's and a
status valid under either is valid under ours. ``tests/unit/test_kuberik_crd.py``
compares the two field by field. ``core.status`` renders what these describe.

Nothing here is stricter than kuberik (``bakeStatus`` is any string, as there), so a
Rollout kuberik's own controller wrote still validates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from reconciler.core.models import _Model


class Condition(_Model):
    """A kstatus condition (``Ready``, ``Reconciling``, ``Stalled``)."""

    type: str = Field(description="Ready, Reconciling or Stalled.")
    status: Literal["True", "False", "Unknown"] = Field(
        description="Whether the condition holds.")
    reason: str = Field(description="One CamelCase word saying why.")
    message: str = Field(default="", description="What a person should know.")
    lastTransitionTime: datetime = Field(description="When status last changed.")
    observedGeneration: int | None = Field(
        default=None, description="The spec generation the condition describes.")


class VersionInfo(_Model):
    """kuberik's VersionInfo: a release. The reconciler fills ``tag`` and, when the
    ImagePolicy reports one, ``digest``; kuberik reads the rest from OCI annotations."""

    tag: str = Field(description="The release tag.")
    digest: str | None = Field(default=None, description="Image digest, from the ImagePolicy.")
    version: str | None = Field(default=None, description="kuberik: semver from OCI annotations.")
    revision: str | None = Field(
        default=None, description="kuberik: source revision from OCI annotations.")
    created: datetime | None = Field(
        default=None, description="kuberik: creation time from OCI annotations.")


class TriggeredBy(_Model):
    """Who caused a history entry."""

    kind: Literal["User", "System"] = Field(
        description="System: the reconciler decided; User: a person (see the commit).")
    name: str = Field(description="reconciler for System; git (the commit's author) for User.")


class FailedHealthCheck(_Model):
    """A HealthCheck that failed a bake."""

    name: str = Field(description="The HealthCheck's name.")
    namespace: str = Field(description="The HealthCheck's namespace.")
    message: str | None = Field(default=None, description="What the check reported.")


class GateSummary(_Model):
    """One RolloutGate of the rollout, as kuberik reports it."""

    name: str = Field(description="The RolloutGate's name.")
    passing: bool | None = Field(default=None, description="The gate's spec.passing.")
    allowedVersions: list[str] | None = Field(
        default=None, description="The gate's spec.allowedVersions.")
    message: str | None = Field(default=None, description="What the gate does now.")
    bypassGates: bool | None = Field(
        default=None, description="Whether the bypass-gates annotation lifts it.")


class HistoryEntry(_Model):
    """One release, revert or rollback of the Rollout, newest first in status."""

    id: int | None = Field(
        default=None, description="Increments with every entry: the count of git records.")
    version: VersionInfo = Field(description="The release this entry deployed.")
    timestamp: datetime = Field(description="Commit time of the entry's git commit.")
    message: str | None = Field(
        default=None, description="Why the entry exists (a revert's reason).")
    triggeredBy: TriggeredBy | None = Field(default=None, description="Who caused it.")
    bakeStatus: str | None = Field(
        default=None,
        description="Deploying, InProgress, Succeeded, Failed or Cancelled.")
    bakeStatusMessage: str | None = Field(
        default=None, description="Why the bake is where it is.")
    bakeStartTime: datetime | None = Field(
        default=None, description="When every selected HealthCheck was first healthy.")
    bakeEndTime: datetime | None = Field(default=None, description="When the bake ended.")
    failedHealthChecks: list[FailedHealthCheck] = Field(
        default_factory=list, description="The HealthChecks that failed the bake.")
    lastRetryTimestamp: datetime | None = Field(
        default=None, description="kuberik: when a retry was requested (not written).")
    commit: str | None = Field(default=None, description="The git commit that wrote it.")
    action: Literal["release", "revert", "rollback", "step", "promote"] | None = Field(
        default=None, description="The commit's Action trailer.")
    step: str | None = Field(default=None,
                             description="The canary step a step commit wrote (2/3).")
    weight: int | None = Field(default=None,
                               description="The canary's traffic weight it wrote (percent).")
    appliedTime: datetime | None = Field(
        default=None, description="When Flux reported the commit applied.")


class Hold(_Model):
    """A target was changed by hand: the reconciler leaves the rollout alone."""

    version: str | None = Field(default=None, description="The version found in git.")
    message: str = Field(default="", description="What changed and how to resume.")


class HookOutcome(_Model):
    """The last call of one test hook for one release (``core/hooks``)."""

    name: str = Field(description="The hook's name in spec.hooks.")
    type: str = Field(description="pre-rollout, rollout, confirm-promotion, ... .")
    release: str = Field(description="The release the call was about.")
    step: int | None = Field(default=None, description="The canary step, with steps.")
    result: Literal["Succeeded", "Failed"] = Field(description="2xx: Succeeded.")
    code: int | None = Field(default=None, description="The HTTP status; none on no answer.")
    time: datetime = Field(description="When the call ended.")
    message: str = Field(default="", description="What happened, for people.")


class RolloutStatus(_Model):
    """What the reconciler last observed and did, in kuberik's shape."""

    observedGeneration: int | None = Field(
        default=None, description="The spec generation last reconciled.")
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Reconciling and Stalled, kstatus style.")
    history: list[HistoryEntry] = Field(
        default_factory=list, description="Releases, newest first, up to versionHistoryLimit.")
    availableReleases: list[VersionInfo] = Field(
        default_factory=list, description="Known release candidates, highest first.")
    releaseCandidates: list[VersionInfo] = Field(
        default_factory=list, description="Known releases above the current one.")
    gatedReleaseCandidates: list[VersionInfo] = Field(
        default_factory=list, description="releaseCandidates the gates allow.")
    gates: list[GateSummary] = Field(
        default_factory=list, description="The rollout's RolloutGates.")
    artifactType: str | None = Field(default=None, description="kuberik's; not written.")
    source: str | None = Field(default=None, description="kuberik's; not written.")
    title: str | None = Field(default=None, description="kuberik's; not written.")
    description: str | None = Field(default=None, description="kuberik's; not written.")
    gitRevision: str | None = Field(
        default=None, description="The config repository commit last read.")
    environment: str | None = Field(
        default=None, description="The environment of the reconciler that wrote this status.")
    currentVersion: str | None = Field(
        default=None, description="The release the config repository holds now.")
    phase: str | None = Field(
        default=None,
        description="The next step: release, revert, wait, idle, held, blocked or suspended.")
    canaryStep: str | None = Field(
        default=None,
        description="The canary's stage in flight or next: 2/3, promote or abort.")
    hold: Hold | None = Field(default=None, description="Set while a manual change holds it.")
    hooks: list[HookOutcome] = Field(
        default_factory=list, description="The last call of each test hook, newest first.")
