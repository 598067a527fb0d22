"""The settings' flags and, for the plain cases, their values, without pydantic.

Where it fits: the settings are pydantic models (``settingsgroups``), and pydantic is
what validates them; but importing it is about a third of a read-only command that
runs for a fraction of a second (docs/performance.md, "A fast CLI"). So the click
options of every command are made here from ``settingsfields``, a plain table that
``python -m reconciler.interfaces.settings --fields`` generates from the models (a
test keeps it current), and :func:`load` reads a group's values from the flags and
the environment when every value is of a kind it can take exactly as pydantic
would (a string, a path, a flag's bool, a choice, a pattern, the checks it knows
by name, the defaults). When anything is less plain than that (a variable holding a
bool, a value a check refuses, a constraint or check it does not know), it answers
None and the caller asks pydantic (``settings.load``), so every error is pydantic's
own message. ``tests/unit/test_flags.py`` compares the two on generated inputs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler.core import remotes, scope
from reconciler.errors import InputError
from reconciler.interfaces.settingsfields import GROUPS

F = TypeVar("F", bound=Callable[..., Any])

ENV_PREFIX = "RECONCILER_"
DEFAULT_PASSWORD_ENV = "RECONCILER_GIT_PASSWORD"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reconciler"


FACTORIES: dict[str, Callable[[], Any]] = {"default_cache_dir": default_cache_dir}
"""The default factories :func:`load` can call, by name."""

CHECKS: dict[str, Callable[[Any], bool]] = {
    "GitSettings._address": lambda value: remotes.problem(value) is None,
    "GitSettings._inside": lambda value: value is None or scope.normalize(value) is not None,
    "Settings._environment": lambda value: True,  # :func:`environment_values`, below
}
"""The models' validators :func:`load` knows, by ``Class._name``: each says whether
the value passes (a value that does not is left to pydantic, for its message)."""


def flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def environment_values(env_names: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``env_names`` (field -> variable) that are set, by field.
    Names match in any case (``reconciler_repo`` too), as pydantic-settings matched
    them; ``Settings`` reads its variables through this too."""
    environ = {name.lower(): value for name, value in os.environ.items()}
    return {field: environ[env.lower()] for field, env in env_names.items()
            if env.lower() in environ}


def names(group: str) -> list[str]:
    """The fields of the settings group ``group`` (its class name)."""
    return [f["name"] for f in GROUPS[group]["fields"]]


def options(*groups: str, commits: bool = True,
            only: tuple[str, ...] | None = None) -> Callable[[F], F]:
    """Click options for every field of ``groups`` (class names): no click defaults
    and no click envvars, so an unset flag reaches the loading as None and the
    variable or the default applies. ``commits=False`` leaves out what only a
    command that writes commits uses (the author); ``only`` names the fields to
    offer (the others keep their environment variable and default)."""

    def decorate(fn: F) -> F:
        for group in reversed(groups):
            for info in reversed(GROUPS[group]["fields"]):
                field = info["name"]
                if (not commits and info["commits"]) or (only and field not in only):
                    continue
                if info["kind"] == "bool":
                    decl = info["flag"] if field.startswith("insecure") else \
                        f"{info['flag']}/--no-{info['flag'][2:]}"
                    option = click.option(decl, field, is_flag=True, default=None,
                                          help=info["help"])
                else:
                    option = click.option(info["flag"], field, default=None,
                                          metavar=info["metavar"], help=info["help"])
                fn = option(fn)
        return fn

    return decorate


class Values:
    """A settings group's values read by :func:`load`: the model's attributes."""

    _group: str

    def __init__(self, group: str, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
        self.__dict__["_group"] = group

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self._group} is frozen")

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if k != "_group")
        return f"{self._group}({shown})"


def load(group: str, given: Mapping[str, Any]) -> Any | None:
    """``group``'s values from the flags that were given (None: not given), the
    environment and the defaults, as the model would have them; None when one of
    them is not plain enough to be sure (then pydantic decides, and words the
    error)."""
    spec = GROUPS[group]
    if not all(name in CHECKS for name in spec["checks"]):
        return None
    fields = spec["fields"]
    env = environment_values({f["name"]: f["env"] for f in fields})
    values: dict[str, Any] = {}
    for info in fields:
        name = info["name"]
        if given.get(name) is not None:
            value = given[name]
        elif name in env:
            value = env[name]
        elif info["factory"] is not None:
            factory = FACTORIES.get(info["factory"])
            if factory is None:
                return None
            value = factory()
        elif info["required"]:
            return None
        else:
            value = info["default"]
        if value is not None or not info["optional"]:
            value = _plain(info, value)
            if value is _UNSURE:
                return None
        if not all(name in CHECKS and CHECKS[name](value) for name in info["checks"]):
            return None
        values[name] = value
    return Values(group, values)


_UNSURE = object()


def _plain(info: Mapping[str, Any], value: Any) -> Any:
    """``value`` as the model's field would hold it, or ``_UNSURE``."""
    if info["other"] or (isinstance(value, str) and "\n" in value):
        return _UNSURE
    kind = info["kind"]
    if kind == "bool":
        return value if isinstance(value, bool) else _UNSURE
    if isinstance(value, Path) and kind == "path":
        return value
    if not isinstance(value, str):
        return _UNSURE
    if info["pattern"] is not None and not re.search(info["pattern"], value):
        return _UNSURE
    if kind == "str":
        return value
    if kind == "path":
        return Path(value)
    if kind == "choice" and value in info["choices"]:
        return value
    return _UNSURE


def check_git_files(config: Any) -> None:
    """``GitSettings.check_files``: credentials and known_hosts arrive as mounted
    files, so a missing one is a set-up error worth one clear line, not a failed
    handshake later; so is a local repository that is not there (rather than
    libgit2's words after a fetch). ``config``: the model, or :func:`load`'s."""
    local = remotes.local_path(config.repo)
    if local is not None and not Path(local).expanduser().is_dir():
        raise InputError(f"{flag('repo')} {config.repo!r}: no such directory")
    for name in ("ssh_key", "known_hosts", "ssh_key_passphrase_file", "ca_bundle",
                 "password_file"):
        path = getattr(config, name)
        if path is not None and not Path(path).is_file():
            raise InputError(f"{flag(name)} {path}: no such file (credentials and "
                             f"known_hosts are read from mounted files)")
