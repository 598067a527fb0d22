"""RolloutSchedule and ClusterRolloutSchedule (``kuberik.com/v1alpha1``) as pydantic
models, and the plain answers built from them: the ``windows.Schedule`` a decision
uses, whether a schedule selects a Rollout, and the status the daemon writes.

Field for field kuberik's ``api/v1alpha1/rolloutschedule_types.go`` and
``clusterrolloutschedule_types.go`` (rollout-controller, commit 7cd0117): the same
names, patterns (``HH:MM``, ``YYYY-MM-DD``), enums (``Monday`` … ``Sunday``,
``Allow``/``Deny``) and defaults (``timezone: UTC``, ``action: Deny``), so a user's
kuberik objects validate unchanged, plus our ``rules[].rrule`` and
``rules[].duration`` (``core/recurrence.py``). The CRDs in ``schemas/crds/`` are
generated from these (``python -m reconciler.interfaces.schemas``). Status keeps
kuberik's fields; we write ``active``, ``activeRules``, ``nextTransition``,
``matchingRollouts`` and a ``Ready`` condition, and manage no RolloutGates
(``managedGates`` stays unset).

Selection as in kuberik's controllers: ``rolloutSelector`` picks Rollouts by label
(a RolloutSchedule in its own namespace only); a ClusterRolloutSchedule's
``namespaceSelector`` picks namespaces by label, and without one it applies to all
of them (kuberik's API says so; its controller, passing a nil selector to
``LabelSelectorAsSelector``, matches none).

Pure: dicts in, models and dicts out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, ValidationInfo, field_validator

from reconciler.core import models, recurrence, selectors, windows
from reconciler.core.models import API_VERSION, LabelSelector, ObjectMeta, _Model
from reconciler.core.statusmodels import Condition
from reconciler.errors import InvalidSelector

_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
_DATE = r"^\d{4}-\d{2}-\d{2}$"
Day = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _check(parse: Any) -> Any:
    def check(value: str) -> str:
        parse(value)
        return value
    return AfterValidator(check)


# The patterns are kuberik's, for the CRD; the checks say what is wrong in words.
Clock = Annotated[str, Field(json_schema_extra={"pattern": _HHMM}), _check(windows.clock)]
Date = Annotated[str, Field(json_schema_extra={"pattern": _DATE}), _check(windows.day)]


class TimeRange(_Model):
    """A stretch of each day; when end is not after start it crosses midnight."""

    start: Clock = Field(description="Start time in HH:MM format (24-hour), included.")
    end: Clock = Field(description="End time in HH:MM format (24-hour), excluded.")


class DateRange(_Model):
    """Calendar days in the schedule's time zone, both included."""

    start: Date = Field(description="Start date in YYYY-MM-DD format.")
    end: Date = Field(description="End date in YYYY-MM-DD format.")


class ScheduleRule(_Model):
    """A time-based rule: it holds when every condition it sets holds."""

    name: str | None = Field(default=None, description="An optional identifier for the rule.")
    timeRange: TimeRange | None = Field(
        default=None, description="Restricts the rule to specific times of day.")
    daysOfWeek: list[Day] | None = Field(
        default=None, description="Restricts the rule to specific days of the week.")
    dateRange: DateRange | None = Field(
        default=None, description="Restricts the rule to a date range.")
    rrule: str | None = Field(
        default=None, description="Extension: an RFC 5545 recurrence (RRULE, optionally "
        "after a DTSTART line, times in spec.timezone); the rule holds for duration after "
        "each occurrence.")
    duration: str | None = Field(
        default=None, validate_default=True, description="Extension, with rrule: how long "
        "each occurrence lasts, as a Go (8h) or ISO 8601 (PT8H, P1D) duration.")

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "rrule" not in info.data:
            return value  # rrule itself is wrong: that error says enough
        text = info.data["rrule"]
        if value is None and text is not None:
            raise ValueError("is required with rrule: how long each occurrence lasts")
        if value is not None and text is None:
            raise ValueError("is read only with rrule")
        if value is not None and text is not None:
            try:
                recurrence.span(value)
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("rrule")
    @classmethod
    def _rrule(cls, value: str | None) -> str | None:
        if value is not None:
            recurrence.parse(value, "1h")
        return value


class RolloutScheduleSpec(_Model):
    """When the selected Rollouts may start a release."""

    rolloutSelector: LabelSelector = Field(
        description="Label selector of the Rollouts (in the schedule's namespace).")
    rules: list[ScheduleRule] = Field(
        min_length=1, description="The schedule is active if ANY rule holds.")
    timezone: Annotated[str, _check(windows.zone)] = Field(
        default="UTC", description="IANA time zone of every time and date; UTC by default.")
    action: Literal["Allow", "Deny"] = Field(
        default="Deny", description="Allow: releases only while active. Deny (default): "
        "no release starts while active.")


class ClusterRolloutScheduleSpec(RolloutScheduleSpec):
    rolloutSelector: LabelSelector = Field(
        description="Label selector of the Rollouts, in every selected namespace.")
    namespaceSelector: LabelSelector | None = Field(
        default=None, description="Label selector of the namespaces; all when left out.")


class ScheduleStatus(_Model):
    """kuberik's status; the reconciler writes all but managedGates."""

    active: bool | None = Field(default=None, description="Whether any rule holds now.")
    activeRules: list[str] | None = Field(
        default=None, description="The rules that hold now (unnamed: rules[N]).")
    nextTransition: datetime | None = Field(
        default=None, description="When active next changes.")
    managedGates: list[str] | None = Field(
        default=None, description="kuberik's RolloutGates for the schedule (none here).")
    matchingRollouts: int | None = Field(
        default=None, description="How many Rollouts the selectors match.")
    conditions: list[Condition] | None = Field(default=None, description="Ready.")


class RolloutSchedule(_Model):
    """A ``kuberik.com/v1alpha1`` RolloutSchedule: deploy windows for Rollouts."""

    apiVersion: Literal["kuberik.com/v1alpha1"] = Field(
        default=API_VERSION, description="Always kuberik.com/v1alpha1.")
    kind: Literal["RolloutSchedule"] = Field(default="RolloutSchedule",
                                             description="Always RolloutSchedule.")
    metadata: ObjectMeta
    spec: RolloutScheduleSpec
    status: ScheduleStatus | None = Field(default=None, description="Written by the reconciler.")


class ClusterRolloutSchedule(_Model):
    """A ``kuberik.com/v1alpha1`` ClusterRolloutSchedule: deploy windows across namespaces."""

    apiVersion: Literal["kuberik.com/v1alpha1"] = Field(
        default=API_VERSION, description="Always kuberik.com/v1alpha1.")
    kind: Literal["ClusterRolloutSchedule"] = Field(
        default="ClusterRolloutSchedule", description="Always ClusterRolloutSchedule.")
    metadata: ObjectMeta
    spec: ClusterRolloutScheduleSpec
    status: ScheduleStatus | None = Field(default=None, description="Written by the reconciler.")


MODELS: dict[str, type[RolloutSchedule] | type[ClusterRolloutSchedule]] = {
    "RolloutSchedule": RolloutSchedule, "ClusterRolloutSchedule": ClusterRolloutSchedule}


def ref(obj: Mapping[str, Any]) -> str:
    """``RolloutSchedule apps/name`` or ``ClusterRolloutSchedule name``, for messages."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind', 'RolloutSchedule')} " + (
        f"{ns}/{meta.get('name', '')}" if ns else str(meta.get("name", "")))


def problems(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field path, message) for each thing wrong with a schedule; [] when valid."""
    try:
        MODELS.get(str(obj.get("kind")), RolloutSchedule).model_validate(obj)
    except ValidationError as exc:
        return models.describe_error(exc)
    return []


def schedule(obj: Mapping[str, Any]) -> windows.Schedule | windows.Invalid:
    """The schedule a decision uses, or why it cannot be used."""
    try:
        spec = MODELS.get(str(obj.get("kind")), RolloutSchedule).model_validate(obj).spec
    except ValidationError as exc:
        field, message = models.describe_error(exc)[0]
        return windows.Invalid(ref(obj), f"{field}: {message}")
    rules = []
    for n, rule in enumerate(spec.rules):
        rules.append(windows.Rule(
            name=rule.name or f"rules[{n}]",
            times=(windows.clock(rule.timeRange.start), windows.clock(rule.timeRange.end))
            if rule.timeRange else None,
            days=frozenset(windows.DAYS.index(d) for d in rule.daysOfWeek)
            if rule.daysOfWeek else None,
            dates=(windows.day(rule.dateRange.start), windows.day(rule.dateRange.end))
            if rule.dateRange else None,
            recurrence=recurrence.parse(rule.rrule, rule.duration or "")
            if rule.rrule else None))
    return windows.Schedule(ref(obj), spec.action, windows.zone(spec.timezone), tuple(rules))


def selects(schedule: Mapping[str, Any], rollout: Mapping[str, Any], *,
            namespace_labels: Mapping[str, str] | None) -> bool:
    """Does ``schedule`` select ``rollout``? ``namespace_labels``: the labels of the
    rollout's namespace (None: unknown, only ``kubernetes.io/metadata.name`` is
    assumed). A malformed selector selects nothing."""
    spec = schedule.get("spec") or {}
    meta, r_meta = schedule.get("metadata") or {}, rollout.get("metadata") or {}
    namespace = r_meta.get("namespace") or ""
    selector = spec.get("rolloutSelector") if isinstance(spec, Mapping) else None
    if not isinstance(selector, Mapping):
        return False  # a null selector selects nothing, as LabelSelectorAsSelector
    try:
        if schedule.get("kind") == "ClusterRolloutSchedule":
            ns_selector = spec.get("namespaceSelector")
            labels = namespace_labels if namespace_labels is not None else {
                "kubernetes.io/metadata.name": namespace}
            if isinstance(ns_selector, Mapping) and not selectors.matches(ns_selector, labels):
                return False
        elif meta.get("namespace") != namespace:
            return False
        return selectors.matches(selector, r_meta.get("labels") or {})
    except InvalidSelector:
        return False


def status(found: windows.State | windows.Invalid, *, matching: int,
           previous: Mapping[str, Any] | None, now: datetime) -> dict[str, Any]:
    """The status to write (merge patch): kuberik's fields and a Ready condition whose
    lastTransitionTime moves only when its status does."""
    if isinstance(found, windows.Invalid):
        out: dict[str, Any] = {"active": False, "activeRules": None, "nextTransition": None}
        ready = ("False", "InvalidSpec", found.problem)
    else:
        out = {"active": found.active, "activeRules": list(found.active_rules) or None,
               "nextTransition": windows.render(found.next_transition)
               if found.next_transition else None}
        ready = ("True", "Active" if found.active else "Inactive", "")
    old = next((c for c in (previous or {}).get("conditions") or []
                if isinstance(c, Mapping) and c.get("type") == "Ready"), None)
    since = old.get("lastTransitionTime") if old and old.get("status") == ready[0] else None
    out["matchingRollouts"] = matching
    out["conditions"] = [{"type": "Ready", "status": ready[0], "reason": ready[1],
                          "message": ready[2][:32768],
                          "lastTransitionTime": since or windows.render(now)}]
    return out


def changed(previous: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether writing ``new`` would change ``previous`` (null keys: absent)."""
    previous = previous or {}
    return any(previous.get(k) != v for k, v in new.items())
