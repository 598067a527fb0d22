"""Plain, read-only copies of models pydantic has already validated: the Rollout (with
its parts) and the policy preset, rebuilt from their full ``model_dump`` without
importing pydantic.

Where it fits: pydantic (``core/models``) is the one validator of a Rollout or a
preset. What it accepted is kept in the scan cache as its full dump
(``core/scanrecords``, ``engine/presets``); a warm ``plan``, ``validate`` or ``check``
builds these copies from the dump instead of validating again, so it never imports
pydantic (about a third of such a run; docs/performance.md, "A fast CLI"). Nothing
is validated here: a dump that is not one (a key missing) raises ``KeyError``, which
the cache counts as a miss.

Each class has the attributes and methods of the model it copies, and the code that
reads a Rollout is typed with the models: a copy stands in for the model (see
:func:`as_model`). ``tests/unit/test_plainmodels.py`` keeps the two the same (field
names, aliases, nesting, every value and method result on generated Rollouts and
presets), so a field added to a model without its copy fails the tests. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from reconciler.core import durations

if TYPE_CHECKING:
    from reconciler.core import models

API_GROUP = "kuberik.com"
API_VERSION: Literal["kuberik.com/v1alpha1"] = "kuberik.com/v1alpha1"

Bump = Literal["patch", "minor", "major"]


class Plain:
    """A frozen record of a model's values, built from its full dump (:meth:`build`).

    ``FIELDS`` maps each attribute to its key in the dump (the model's alias) and, for
    a nested model, its class (lists of them too); ``EXTRA``: whether keys the model
    does not know are kept (``unknown_fields``), as the models with ``extra="allow"``
    keep them."""

    FIELDS: ClassVar[dict[str, tuple[str, type[Plain] | None]]] = {}
    EXTRA: ClassVar[bool] = True
    __slots__ = ("_extra", "_values")
    _values: dict[str, Any]
    _extra: dict[str, Any]

    @classmethod
    def build(cls, dump: Mapping[str, Any]) -> Any:
        values: dict[str, Any] = {}
        for name, (key, nested) in cls.FIELDS.items():
            value = dump[key]
            if nested is not None and value is not None:
                value = [nested.build(v) for v in value] if isinstance(value, list) \
                    else nested.build(value)
            values[name] = value
        keys = {key for key, _ in cls.FIELDS.values()}
        extra = {k: v for k, v in dump.items() if k not in keys} if cls.EXTRA else {}
        if not cls.EXTRA and len(dump) != len(cls.FIELDS):
            raise KeyError(f"{cls.__name__}: unknown keys {sorted(set(dump) - keys)}")
        record = object.__new__(cls)
        object.__setattr__(record, "_values", values)
        object.__setattr__(record, "_extra", extra)
        return record

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}") \
                from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Plain):
            return type(other) is type(self) and other.dump() == self.dump()
        dump = getattr(other, "model_dump", None)
        if dump is not None and type(other).__name__ == type(self).__name__:
            return bool(dump(by_alias=True) == self.dump())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.dump()!r})"

    def dump(self, *, by_alias: bool = True) -> dict[str, Any]:
        """What the model's ``model_dump(by_alias=...)`` gives."""
        out: dict[str, Any] = {}
        for name, (key, nested) in self.FIELDS.items():
            value = self._values[name]
            if nested is not None and value is not None:
                value = [v.dump(by_alias=by_alias) for v in value] if isinstance(value, list) \
                    else value.dump(by_alias=by_alias)
            out[key if by_alias else name] = value
        return {**out, **self._extra}

    def model_dump(self, *, by_alias: bool = True) -> dict[str, Any]:
        """:meth:`dump`, as the model spells it (by alias unless told otherwise)."""
        return self.dump(by_alias=by_alias)

    def unknown_fields(self) -> list[str]:
        """Names of fields present in the input that the model does not know."""
        return sorted(self._extra)


def _fields(*names: str, **nested: type[Plain]) -> dict[str, tuple[str, type[Plain] | None]]:
    out: dict[str, tuple[str, type[Plain] | None]] = {n: (n, None) for n in names}
    out.update({n: (n, c) for n, c in nested.items()})
    return out


class ObjectReference(Plain):
    FIELDS = _fields("name", "namespace")


class LabelSelectorRequirement(Plain):
    FIELDS = _fields("key", "operator", "values")


class LabelSelector(Plain):
    FIELDS = _fields("matchLabels", matchExpressions=LabelSelectorRequirement)


class HealthCheckSelector(Plain):
    FIELDS = _fields(selector=LabelSelector, namespaceSelector=LabelSelector)


class Promotion(Plain):
    FIELDS = {"from_": ("from", None), **_fields("soakTime", "rollout")}

    def soak_time(self) -> timedelta | None:
        return durations.parse(self.soakTime) if self.soakTime else None


class CanaryStep(Plain):
    FIELDS = _fields("weight", "bakeTime", "approval")

    def bake_time(self) -> timedelta:
        return durations.parse(self.bakeTime)


class Hook(Plain):
    FIELDS = _fields("name", "type", "url", "timeout", "interval", "metadata")

    def timeout_seconds(self) -> float:
        from reconciler.core import hooks

        return (durations.parse(self.timeout) if self.timeout else hooks.DEFAULT_TIMEOUT
                ).total_seconds()

    def every(self) -> timedelta:
        from reconciler.core import hooks

        return durations.parse(self.interval) if self.interval else hooks.DEFAULT_INTERVAL


class RolloutSpec(Plain):
    FIELDS = _fields("wantedVersion", "versionHistoryLimit", "availableReleasesRetentionDays",
                     "availableReleasesMinCount", "bakeTime", "deployTimeout",
                     "versionConstraint", "maxBump", "policy", "suspend", "writeMode",
                     "approval", releasesImagePolicy=ObjectReference,
                     healthCheckSelector=HealthCheckSelector, promotion=Promotion,
                     hooks=Hook, steps=CanaryStep)

    def bake_time(self) -> timedelta | None:
        return durations.parse(self.bakeTime) if self.bakeTime else None

    def deploy_timeout(self) -> timedelta | None:
        return durations.parse(self.deployTimeout) if self.deployTimeout else None


class ObjectMeta(Plain):
    FIELDS = _fields("name", "namespace", "labels", "annotations", "generation")


class Rollout(Plain):
    FIELDS = _fields("apiVersion", "kind", "status", metadata=ObjectMeta, spec=RolloutSpec)

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace or 'default'}/{self.metadata.name}"


class PolicyPreset(Plain):
    FIELDS = _fields("name", "description", "maxBump", "bakeTime", "deployTimeout",
                     "versionConstraint", "allowPrerelease")
    EXTRA = False


def as_model(dump: Mapping[str, Any]) -> models.Rollout:
    """The Rollout whose full dump (``model_dump(by_alias=True)``) is ``dump``, pydantic
    having validated it before; ``KeyError`` when ``dump`` is not one. A copy stands in
    for the model: same attributes, same methods (the tests keep it so)."""
    return cast("models.Rollout", Rollout.build(dump))


def as_preset(dump: Mapping[str, Any]) -> models.PolicyPreset:
    """:func:`as_model` for a policy preset."""
    return cast("models.PolicyPreset", PolicyPreset.build(dump))
