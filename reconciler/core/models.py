"""The ``Rollout`` object and its parts, as pydantic models.

This is where a YAML document from the config repository (or an object from the
cluster) becomes typed data. Field names keep the Kubernetes camelCase spelling so
that existing kuberik ``Rollout`` objects validate unchanged; fields we do not know
(kuberik grows new ones) are kept, not rejected, and ``validate`` reports them.

Pure: dictionaries in, models out. The JSON Schemas in ``schemas/`` are generated
from these classes (``python -m reconciler.interfaces.schemas``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from reconciler.core import durations
from reconciler.core import hooks as testhooks
from reconciler.core.modelbase import Duration as Duration
from reconciler.core.modelbase import _Model as _Model

# Plain (core/plainmodels rebuilds these models without pydantic), re-exported.
from reconciler.core.plainmodels import API_GROUP as API_GROUP
from reconciler.core.plainmodels import API_VERSION as API_VERSION
from reconciler.core.plainmodels import Bump as Bump


class ObjectReference(_Model):
    """A reference to an object by name, in the Rollout's namespace unless given."""

    name: str = Field(min_length=1, description="Name of the referenced object.")
    namespace: str | None = Field(
        default=None, description="Namespace of the object; defaults to the Rollout's."
    )


class LabelSelectorRequirement(_Model):
    key: str = Field(description="The label key the selector applies to.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="How the key relates to the values."
    )
    values: list[str] = Field(default_factory=list, description="Values for In and NotIn.")


class LabelSelector(_Model):
    """Kubernetes' ``metav1.LabelSelector``."""

    matchLabels: dict[str, str] = Field(
        default_factory=dict, description="Labels that must all match."
    )
    matchExpressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, description="Expressions that must all match."
    )


class HealthCheckSelector(_Model):
    """Which HealthCheck objects decide the bake."""

    selector: LabelSelector | None = Field(
        default=None, description="Labels of the HealthChecks to watch."
    )
    namespaceSelector: LabelSelector | None = Field(
        default=None,
        description="Namespaces to look in; without it only the Rollout's own namespace.",
    )


class Promotion(_Model):
    """Take a release only after other environments have baked it (DESIGN.md,
    "Fleet repositories")."""

    from_: list[Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]] = \
        Field(alias="from", min_length=1,
              description="Environments whose bake verdict for a release must be Succeeded.")
    soakTime: Duration | None = Field(
        default=None,
        description="How long after the newest of those verdicts the release waits.",
    )
    rollout: str | None = Field(
        default=None, pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="The upstream rollout (name or namespace/name); default: this one's.",
    )

    def soak_time(self) -> timedelta | None:
        return durations.parse(self.soakTime) if self.soakTime else None


class CanaryStep(_Model):
    """One canary step: the share of traffic the new release gets, and how long every
    selected HealthCheck must stay healthy before the next step (``core/steps.py``)."""

    weight: int = Field(ge=1, le=99,
                        description="Percent of traffic to the canary during this step (1-99).")
    bakeTime: Duration = Field(description="How long this step bakes before the next one.")
    approval: Literal["auto", "manual"] = Field(
        default="auto",
        description="manual: writing this step waits for a person's approval "
                    "(reconciler approve NS/NAME TAG --step N).")

    def bake_time(self) -> timedelta:
        return durations.parse(self.bakeTime)


class RolloutSpec(_Model):
    """What a Rollout asks for. kuberik's fields plus our extensions."""

    releasesImagePolicy: ObjectReference | None = Field(
        default=None,
        description="The Flux ImagePolicy whose status supplies release candidates.",
    )
    wantedVersion: str | None = Field(
        default=None,
        description="Pin: deploy exactly this tag and do nothing automatic while it is set.",
    )
    versionHistoryLimit: int = Field(
        default=10, ge=1, description="How many history entries status keeps."
    )
    # kuberik's, accepted so its Rollouts validate unchanged; the reconciler keeps at
    # most 50 availableReleases, highest first, and reads neither.
    availableReleasesRetentionDays: int | None = Field(
        default=None, ge=1, description="kuberik's; accepted and not used by the reconciler.")
    availableReleasesMinCount: int | None = Field(
        default=None, ge=1, description="kuberik's; accepted and not used by the reconciler.")
    bakeTime: Duration | None = Field(
        default=None,
        description="How long every selected HealthCheck must stay healthy after apply.",
    )
    deployTimeout: Duration | None = Field(
        default=None,
        description="How long Flux may take to apply the release before it counts as failed.",
    )
    healthCheckSelector: HealthCheckSelector | None = Field(
        default=None, description="Which HealthChecks decide the bake."
    )
    versionConstraint: str | None = Field(
        default=None,
        description="A semver range (Flux/Masterminds syntax) releases must fall inside.",
    )
    maxBump: Bump | None = Field(
        default=None,
        description="Largest automatic jump from the current version: patch, minor or major.",
    )
    policy: str | None = Field(
        default=None,
        description="Name of a release policy preset; explicit fields win over it.",
    )
    suspend: bool = Field(default=False, description="Stop every automatic action.")
    promotion: Promotion | None = Field(
        default=None,
        description="Environments that must have baked a release before this one takes it.",
    )
    writeMode: Literal["direct", "pull-request"] | None = Field(
        default=None,
        description="How releases reach the branch: direct push or pull request "
                    "(default: the daemon's --write-mode).",
    )
    hooks: list[testhooks.Hook] = Field(
        default_factory=list,
        description="Test hooks called before a release, during its bake and after "
                    "(Flagger's webhooks; docs/progressive.md).")
    approval: Literal["auto", "manual"] | None = Field(
        default=None,
        description="manual: every release waits for a person's `reconciler approve`.")

    @field_validator("hooks")
    @classmethod
    def _hook_names_unique(cls, value: list[testhooks.Hook]) -> list[testhooks.Hook]:
        testhooks.unique_names(value)
        return value

    steps: list[CanaryStep] | None = Field(
        default=None, min_length=1,
        description="Canary steps: each writes the canary's traffic weight as its own "
                    "commit and bakes it; then the release is promoted (weights strictly "
                    "increasing, 1-99).",
    )

    @field_validator("steps")
    @classmethod
    def _weights_increase(cls, value: list[CanaryStep] | None) -> list[CanaryStep] | None:
        for before, after in zip(value or [], (value or [])[1:], strict=False):
            if after.weight <= before.weight:
                raise ValueError(f"weights must increase strictly from step to step; "
                                 f"{after.weight} follows {before.weight}")
        return value

    @field_validator("versionConstraint")
    @classmethod
    def _constraint_parses(cls, value: str | None) -> str | None:
        if value is None:
            return value
        # Imported here: versions imports nothing from models, and this keeps
        # the dependency one-way at import time.
        from reconciler.core import versions
        from reconciler.errors import InvalidConstraint

        try:
            versions.Constraint.parse(value)
        except InvalidConstraint as exc:
            # pydantic reports ValueError as a validation error with the field's path.
            raise ValueError(str(exc)) from exc
        return value

    def bake_time(self) -> timedelta | None:
        return durations.parse(self.bakeTime) if self.bakeTime else None

    def deploy_timeout(self) -> timedelta | None:
        return durations.parse(self.deployTimeout) if self.deployTimeout else None


class ObjectMeta(_Model):
    name: str = Field(min_length=1, description="Object name.")
    namespace: str | None = Field(default=None, description="Object namespace.")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations.")
    generation: int | None = Field(default=None, description="Set by the API server.")


class Rollout(_Model):
    """A ``kuberik.com/v1alpha1`` Rollout."""

    apiVersion: Literal["kuberik.com/v1alpha1"] = Field(
        default=API_VERSION, description="Always kuberik.com/v1alpha1."
    )
    kind: Literal["Rollout"] = Field(default="Rollout", description="Always Rollout.")
    metadata: ObjectMeta
    spec: RolloutSpec = Field(default_factory=RolloutSpec)
    status: dict[str, Any] | None = Field(default=None, description="Written by the reconciler.")

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace or 'default'}/{self.metadata.name}"


class PolicyPreset(BaseModel):
    """A release policy preset from ``policies/``: defaults a Rollout can name."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", description="Preset name.")
    description: str = Field(min_length=1, description="One line for people.")
    maxBump: Bump = Field(description="Largest automatic jump.")
    bakeTime: Duration = Field(description="Bake time for releases under this preset.")
    deployTimeout: Duration = Field(description="How long Flux may take to apply.")
    versionConstraint: str | None = Field(
        default=None, description="Optional range every release must satisfy."
    )
    allowPrerelease: bool = Field(
        default=False,
        description="Whether prereleases are considered when the Rollout sets no "
                    "versionConstraint (a constraint's own prerelease rule wins).",
    )


def describe_error(error: ValidationError, *,
                   as_written: Callable[[str], str | None] | None = None,
                   ) -> list[tuple[str, str]]:
    """Turn a pydantic error into ``(field path, message)`` pairs a person can act on.

    The field path is dotted with the Kubernetes spelling (``spec.maxBump``).
    ``as_written`` gives the source text of a field's value when the caller has it:
    ``wantedVersion: 1.10`` is then reported as ``1.10``, not as the float ``1.1``.
    """
    out: list[tuple[str, str]] = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"] if not str(p).startswith("function-"))
        # pydantic appends the union/validator branch to loc; keep the field names only.
        msg = item["msg"]
        written = as_written(path) if as_written is not None and "input" in item else None
        if item["type"] == "literal_error":
            expected = item.get("ctx", {}).get("expected", "")
            msg = f"must be one of {expected}, got {written or repr(item.get('input'))}"
        elif item["type"] == "missing":
            msg = "is required"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        elif "input" in item:
            # "Input should be a valid string" says what is wanted; say what was found.
            found = written or repr(item["input"])
            msg = f"{msg}, got {found if len(found) <= 64 else found[:60] + ' ...'}"
        out.append((path, msg))
    return out


# -- the other kuberik.com kinds ------------------------------------------------
#
# These describe objects the reconciler only reads (HealthCheck, RolloutGate); the
# Rollout status it writes is in ``core.statusmodels``. They exist so that the CRDs
# in ``schemas/crds/`` are generated from one place; the daemon itself reads those
# objects defensively (``core.inputs``, ``core.bake``) and never rejects one for an
# unknown field.


class HealthCheckStatus(_Model):
    """What a health controller reports about one check."""

    status: Literal["Healthy", "Unhealthy", "Pending"] | None = Field(
        default=None, description="Healthy, Unhealthy or Pending.")
    lastErrorTime: datetime | None = Field(
        default=None, description="When the check last saw an error.")
    lastChangeTime: datetime | None = Field(
        default=None, description="When status last changed.")
    message: str | None = Field(default=None, description="Details for people.")


class HealthCheck(_Model):
    """A ``kuberik.com/v1alpha1`` HealthCheck: a signal a Rollout's bake watches.

    The spec belongs to whichever controller evaluates the check; the reconciler
    reads only the status."""

    apiVersion: Literal["kuberik.com/v1alpha1"] = Field(
        default=API_VERSION, description="Always kuberik.com/v1alpha1.")
    kind: Literal["HealthCheck"] = Field(default="HealthCheck", description="Always HealthCheck.")
    metadata: ObjectMeta
    spec: dict[str, Any] = Field(
        default_factory=dict, description="Owned by the controller that evaluates the check.")
    status: HealthCheckStatus | None = Field(
        default=None, description="Written by the controller that evaluates the check.")


class LocalObjectReference(_Model):
    """A reference to an object in the same namespace."""

    name: str = Field(min_length=1, description="Name of the referenced object.")


class RolloutGateSpec(_Model):
    """A condition outside the reconciler that a release must meet."""

    rolloutRef: LocalObjectReference = Field(description="The Rollout this gate applies to.")
    passing: bool | None = Field(
        default=None, description="false blocks every automatic release of the Rollout.")
    allowedVersions: list[str] | None = Field(
        default=None,
        description="When set, only these tags may be released (gates intersect).")


class RolloutGate(_Model):
    """A ``kuberik.com/v1alpha1`` RolloutGate."""

    apiVersion: Literal["kuberik.com/v1alpha1"] = Field(
        default=API_VERSION, description="Always kuberik.com/v1alpha1.")
    kind: Literal["RolloutGate"] = Field(default="RolloutGate", description="Always RolloutGate.")
    metadata: ObjectMeta
    spec: RolloutGateSpec
    status: dict[str, Any] | None = Field(
        default=None, description="Written by whatever manages the gate.")
