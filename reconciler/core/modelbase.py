"""The base of every model of ``kuberik.com`` objects, and the duration field type.

Where it fits: ``core/models`` (the Rollout), ``core/hooks`` (its test hooks),
``core/schedulemodels`` and ``core/statusmodels`` build on these, so a part of the
Rollout can live in the module of its concept without importing ``models``. Pure.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from reconciler.core import durations


def _check_duration(value: str) -> str:
    durations.parse(value)
    return value


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    Field(
        pattern=r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$",
        description="A Go duration such as 90s, 10m or 1h30m.",
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True,
                              defer_build=True)

    def unknown_fields(self) -> list[str]:
        """Names of fields present in the input that this model does not know."""
        return sorted((self.model_extra or {}).keys())
