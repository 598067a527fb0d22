"""Configuration: every setting of every command, grouped by concern.

Each setting is a field of a pydantic model (``settingsgroups``) with a default and a
one-line description, and can be given two ways: as a command-line flag
(``--fetch-interval 10``) or as an environment variable
(``RECONCILER_FETCH_INTERVAL=10``). A flag wins over the variable, the variable
over the default. The flags of the CLI are generated from these models, so the
two can never drift apart; the README's table is generated from them too
(``python -m reconciler.interfaces.settings``) and a test keeps it current.

A value that does not validate stops the command with one line naming the flag
or the variable it came from, and the expected form.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from reconciler.core import remotes
from reconciler.errors import InputError
from reconciler.interfaces import flags
from reconciler.interfaces.settingsgroups import (
    DEFAULT_PASSWORD_ENV,
    ENV_PREFIX,
    RUN_GROUPS,
    ClusterSettings,
    DashboardSettings,
    GitSettings,
    LeaderSettings,
    NotifySettings,
    ReleaseSettings,
    SchedulingSettings,
    ServerSettings,
    Settings,
    SigningSettings,
    WriteSettings,
    default_cache_dir,
)

__all__ = [
    "DEFAULT_PASSWORD_ENV",
    "ENV_PREFIX",
    "RUN_GROUPS",
    "ClusterSettings",
    "DashboardSettings",
    "GitSettings",
    "LeaderSettings",
    "NotifySettings",
    "ReleaseSettings",
    "RunSettings",
    "SchedulingSettings",
    "ServerSettings",
    "Settings",
    "SigningSettings",
    "WriteSettings",
    "default_cache_dir",
    "default_text",
    "load",
    "markdown",
    "options",
]

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound="Settings")


@dataclass(frozen=True)
class RunSettings:
    """Everything ``reconciler run`` is configured with."""

    git: GitSettings
    signing: SigningSettings
    release: ReleaseSettings
    cluster: ClusterSettings
    scheduling: SchedulingSettings
    server: ServerSettings
    dashboard: DashboardSettings
    leader: LeaderSettings
    write: WriteSettings
    notify: NotifySettings

    @classmethod
    def load(cls, given: Mapping[str, Any]) -> RunSettings:
        return cls(git=load(GitSettings, given), signing=load(SigningSettings, given),
                   release=load(ReleaseSettings, given),
                   cluster=load(ClusterSettings, given),
                   scheduling=load(SchedulingSettings, given),
                   server=load(ServerSettings, given),
                   dashboard=load(DashboardSettings, given), leader=load(LeaderSettings, given),
                   write=load(WriteSettings, given), notify=load(NotifySettings, given))


# -- flags ------------------------------------------------------------------------


def _is_bool(info: FieldInfo) -> bool:
    return info.annotation is bool


def _metavar(info: FieldInfo) -> str:
    args = [a for a in get_args(info.annotation) if a is not type(None)]
    kind = args[0] if args else info.annotation
    if kind is Path:
        return "PATH"
    if kind in (int, float):
        return "NUMBER" if kind is float else "INTEGER"
    if getattr(kind, "__origin__", None) is Literal or get_args(kind):
        return "[" + "|".join(str(a) for a in get_args(kind)) + "]"
    return "TEXT"


def default_text(group: type[Settings], field: str) -> str:
    info = group.model_fields[field]
    if info.is_required():
        return "(required)"
    extra = info.json_schema_extra
    if isinstance(extra, dict) and "default_text" in extra:
        return str(extra["default_text"])
    if info.default is None:
        return "unset"
    if isinstance(info.default, bool):
        return "on" if info.default else "off"
    return f"{info.default}"


def _for_commits(info: FieldInfo) -> bool:
    extra = info.json_schema_extra
    return isinstance(extra, dict) and extra.get("commits") is True


def options(*groups: type[Settings], commits: bool = True,
            only: tuple[str, ...] | None = None) -> Callable[[F], F]:
    """Click options for every field of ``groups`` (``flags.options``, from the table
    generated from these models)."""
    return flags.options(*(g.__name__ for g in groups), commits=commits, only=only)


# -- the plain table of the flags (interfaces/settingsfields.py) -------------------


def _kind(info: FieldInfo) -> tuple[str, bool, list[str] | None]:
    """The field's kind for ``flags.load``, whether it may be None, and its choices."""
    annotation = info.annotation
    args = get_args(annotation)
    optional = type(None) in args
    if optional:
        rest = [a for a in args if a is not type(None)]
        annotation = rest[0] if len(rest) == 1 else object
    if getattr(annotation, "__origin__", None) is Literal:
        return "choice", optional, [str(a) for a in get_args(annotation)]
    kinds: dict[Any, str] = {str: "str", Path: "path", bool: "bool", int: "int",
                             float: "float"}
    return kinds.get(annotation, "other"), optional, None


def _field_row(group: type[Settings], field: str) -> dict[str, Any]:
    info = group.model_fields[field]
    kind, optional, choices = _kind(info)
    pattern = None
    other = kind in ("int", "float", "other")
    for item in info.metadata:
        found = getattr(item, "pattern", None)
        if type(item).__name__ == "_PydanticGeneralMetadata" and found is not None \
                and set(vars(item)) == {"pattern"}:
            pattern = found
        else:
            other = True
    decorators = group.__pydantic_decorators__
    factory = info.default_factory
    return {
        "name": field, "flag": group.flag(field), "env": group.env_name(field),
        "metavar": _metavar(info),
        "help": f"{info.description} [env {group.env_name(field)}; "
                f"default: {default_text(group, field)}]",
        "commits": _for_commits(info), "kind": kind, "optional": optional,
        "choices": choices, "pattern": pattern, "other": other,
        "required": info.is_required(),
        "default": None if info.is_required() or factory is not None else info.default,
        "factory": None if factory is None else getattr(factory, "__name__", "?"),
        "checks": [f"{group.__name__}.{name}" if name in vars(group) else
                   f"{_owner(group, name)}.{name}"
                   for name, d in decorators.field_validators.items()
                   if field in d.info.fields],
    }


def _owner(group: type[Settings], name: str) -> str:
    return next(c.__name__ for c in group.__mro__ if name in vars(c))


def fields_module() -> str:
    """The source of ``interfaces/settingsfields.py``: every group's fields as plain
    data (``python -m reconciler.interfaces.settings --fields``)."""
    groups: dict[str, dict[str, list[Any]]] = {}
    for group in Settings.__subclasses__():
        groups[group.__name__] = {
            "checks": [f"{_owner(group, n)}.{n}"
                       for n in group.__pydantic_decorators__.model_validators],
            "fields": [_field_row(group, f) for f in group.model_fields]}
    lines = [f'"""{FIELDS_DOC}"""', "", "from typing import Any", "",
             "GROUPS: dict[str, Any] = {"]
    for name, table in groups.items():
        lines.append(f"    {name!r}: {{'checks': {table['checks']!r}, 'fields': [")
        lines += [f"        {row!r}," for row in table["fields"]]
        lines.append("    ]},")
    return "\n".join([*lines, "}", ""])


FIELDS_DOC = """Every setting's flag, variable, help, kind, default and checks, as plain data.

Generated from the models in ``settingsgroups`` by ``python -m
reconciler.interfaces.settings --fields > reconciler/interfaces/settingsfields.py``;
do not edit (a test keeps it current). ``flags`` makes the click options from it and
reads the plain values without importing pydantic (docs/performance.md, "A fast CLI").
"""


def load(group: type[S], given: Mapping[str, Any]) -> S:
    """Build ``group`` from the flags that were given (None: not given), the
    environment and the defaults; a bad value raises InputError naming its source."""
    flags = {k: v for k, v in given.items() if k in group.model_fields and v is not None}
    try:
        return group(**flags)
    except ValidationError as exc:
        raise InputError(_describe(group, exc, flags)) from None


def _describe(group: type[Settings], exc: ValidationError, flags: Mapping[str, Any]) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        loc = str(error["loc"][0]) if error["loc"] else ""
        field = next((f for f in group.model_fields
                      if f == loc or group.env_name(f).lower() == loc.lower()), loc)
        if field in flags:
            source = f"{group.flag(field)} {remotes.redact(repr(flags[field]))}"
        elif field in group.model_fields:
            env = group.env_name(field)
            source = (f"{env}={remotes.redact(repr(os.environ[env]))}" if env in os.environ
                      else f"{group.flag(field)} (or {env})")
        else:
            source = field
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "required"
        lines.append(f"{source}: {message}")
    return "; ".join(lines)


# -- the README table -------------------------------------------------------------


def markdown(groups: tuple[type[Settings], ...] = RUN_GROUPS) -> str:
    """The README's table of every setting of ``reconciler run``."""
    rows = ["| Flag | Environment variable | Default | What it sets |",
            "|---|---|---|---|"]
    for group in groups:
        rows.append(f"| **{group.title}** | | | |")
        for field, info in group.model_fields.items():
            flag = group.flag(field)
            if _is_bool(info) and not field.startswith("insecure"):
                flag = f"{flag}/--no-{flag[2:]}"
            default = default_text(group, field)
            if default not in ("unset", "on", "off", "(required)"):
                default = f"`{default}`"
            rows.append(f"| `{flag}` | `{group.env_name(field)}` | {default} | "
                        f"{info.description} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(fields_module() if sys.argv[1:] == ["--fields"] else markdown())
