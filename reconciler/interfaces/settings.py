"""Configuration: every setting of every command, grouped by concern.

Each setting is a field of a pydantic-settings model with a default and a
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
from typing import Any, ClassVar, Literal, TypeVar, get_args

import click
from pydantic import Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from reconciler.core import scope
from reconciler.errors import InputError

ENV_PREFIX = "RECONCILER_"
DEFAULT_PASSWORD_ENV = "RECONCILER_GIT_PASSWORD"

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound="Settings")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reconciler"


def _env(name: str) -> str:
    """An explicit variable name for a field whose flag lacks the concern's prefix."""
    return ENV_PREFIX + name


class Settings(BaseSettings):
    """One concern's settings. Subclasses set ``title``; fields need descriptions."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, validate_by_name=True,
                                      extra="forbid", frozen=True)
    title: ClassVar[str] = ""

    @classmethod
    def env_name(cls, field: str) -> str:
        info = cls.model_fields[field]
        alias = info.validation_alias
        return alias if isinstance(alias, str) else ENV_PREFIX + field.upper()

    @classmethod
    def flag(cls, field: str) -> str:
        return "--" + field.replace("_", "-")


class GitSettings(Settings):
    title: ClassVar[str] = "Config repository"

    repo: str = Field(description="Config repository: a local path, file://, https:// or "
                                  "ssh:// URL.")
    branch: str = Field("main", description="Branch Flux applies.")
    path: str | None = Field(
        None, description="The cluster's directory in the repository, as given to flux "
                          "bootstrap --path (e.g. clusters/staging); default: every cluster "
                          "root found, or the whole tree when there is none.")
    environment: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
        description="The cluster's environment: the Environment trailer of every commit and "
                    "the environment its bake verdicts are recorded for (default: the last "
                    "element of --path; the daemon's default without --path is 'default').")
    cache_dir: Path = Field(default_factory=default_cache_dir,
                            json_schema_extra={"default_text": "$XDG_CACHE_HOME/reconciler"},
                            description="Where the local mirror of the repository lives.")
    username: str | None = Field(None, validation_alias=_env("GIT_USERNAME"),
                                 description="HTTPS user name.")
    password_file: Path | None = Field(None, validation_alias=_env("GIT_PASSWORD_FILE"),
                                       description="File holding the HTTPS password or token.")
    password_env: str | None = Field(
        None, validation_alias=_env("GIT_PASSWORD_ENV"),
        description=f"Environment variable holding the HTTPS password or token "
                    f"({DEFAULT_PASSWORD_ENV} is read when it is set).")
    ssh_key: Path | None = Field(None, validation_alias=_env("GIT_SSH_KEY"),
                                 description="SSH private key file.")
    ssh_key_passphrase_file: Path | None = Field(
        None, validation_alias=_env("GIT_SSH_KEY_PASSPHRASE_FILE"),
        description="File holding the SSH key's passphrase.")
    known_hosts: Path | None = Field(
        None, validation_alias=_env("GIT_KNOWN_HOSTS"),
        description="known_hosts file for SSH host key checks (default ~/.ssh/known_hosts).")
    insecure_skip_host_key_check: bool = Field(
        False, validation_alias=_env("GIT_INSECURE_SKIP_HOST_KEY_CHECK"),
        description="Accept any SSH host key. Only for throw-away test set-ups.")
    ca_bundle: Path | None = Field(None, validation_alias=_env("GIT_CA_BUNDLE"),
                                   description="CA certificates for HTTPS remotes with a "
                                               "private CA.")
    author_name: str = Field("reconciler", description="Commit author name.")
    author_email: str = Field("reconciler@localhost", description="Commit author email.")

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str | None) -> str | None:
        if value is not None and scope.normalize(value) is None:
            raise ValueError("expected a directory inside the repository")
        return value

    def check_files(self) -> None:
        """Credentials and known_hosts arrive as mounted files: a missing one is a
        set-up error worth one clear line, not a failed handshake later."""
        for name in ("ssh_key", "known_hosts", "ssh_key_passphrase_file", "ca_bundle",
                     "password_file"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise InputError(f"{self.flag(name)} {path}: no such file (credentials and "
                                 f"known_hosts are read from mounted files)")


class ReleaseSettings(Settings):
    title: ClassVar[str] = "Release policies"

    policies: Path | None = Field(None, description="Directory of release policy presets "
                                                    "(default: the built-in ones).")


class ClusterSettings(Settings):
    title: ClassVar[str] = "Cluster"

    kubeconfig: Path | None = Field(None, description="kubeconfig file; default: in-cluster "
                                                      "config, then $KUBECONFIG.")
    namespace: str | None = Field(None, description="Watch Rollouts in this namespace only "
                                                    "(default: all).")
    flux_source: str = Field("flux-system/flux-system",
                             description="NS/NAME of the Flux GitRepository serving the "
                                         "config repository.")
    flux_nudge: bool = Field(True, description="After a push, ask Flux to fetch at once "
                                               "(reconcile.fluxcd.io/requestedAt).")

    @field_validator("flux_source")
    @classmethod
    def _ns_name(cls, value: str) -> str:
        namespace, sep, name = value.partition("/")
        if not sep or not namespace or not name or "/" in name:
            raise ValueError("expected NAMESPACE/NAME")
        return value


class SchedulingSettings(Settings):
    title: ClassVar[str] = "Scheduling"

    workers: int = Field(4, ge=1, le=64, description="Rollouts reconciled in parallel.")
    resync_interval: float = Field(300.0, ge=1,
                                   description="Seconds between full reconciles of every "
                                               "Rollout.")
    fetch_interval: float = Field(30.0, ge=0.1,
                                  description="Seconds between fetches of the config "
                                              "repository.")


class ServerSettings(Settings):
    title: ClassVar[str] = "HTTP server and logs"

    http_address: str = Field("0.0.0.0:8080",
                              description="HOST:PORT for /healthz, /readyz, /metrics, "
                                          "webhooks and the API ('off' to disable).")
    webhook_secret_file: Path | None = Field(None, description="File with the HMAC secret "
                                                               "for /hooks/*; without it the "
                                                               "hooks are off.")
    log_format: Literal["text", "json"] = Field("text", description="Log line format: text, or "
                                                                 "json (one object a line).")

    @field_validator("http_address")
    @classmethod
    def _address(cls, value: str) -> str:
        if value != "off":
            _, sep, port = value.rpartition(":")
            if not sep or not port.isdigit() or int(port) > 65535:
                raise ValueError("expected HOST:PORT or 'off'")
        return value

    @property
    def address(self) -> tuple[str, int] | None:
        if self.http_address == "off":
            return None
        host, _, port = self.http_address.rpartition(":")
        return host or "0.0.0.0", int(port)


class LeaderSettings(Settings):
    title: ClassVar[str] = "Leader election"

    leader_elect: bool = Field(False, description="Run as one of several replicas: only the "
                                                  "Lease holder reconciles.")
    leader_election_namespace: str = Field("reconciler-system",
                                           description="Namespace of the leader election "
                                                       "Lease.")
    leader_election_name: str = Field("reconciler-leader", description="Name of the Lease.")
    leader_election_timings: str = Field(
        "15,10,2", description="Lease duration, renew deadline and retry period, in seconds "
                               "(LEASE,RENEW,RETRY).")

    @field_validator("leader_election_timings")
    @classmethod
    def _timings(cls, value: str) -> str:
        try:
            lease, renew, retry = (float(v) for v in value.split(","))
        except ValueError:
            raise ValueError("expected LEASE,RENEW,RETRY seconds") from None
        if not 0 < retry < renew < lease:
            raise ValueError("needs 0 < retry < renew < lease")
        return value

    @property
    def timings(self) -> tuple[float, float, float]:
        lease, renew, retry = (float(v) for v in self.leader_election_timings.split(","))
        return lease, renew, retry


class WriteSettings(Settings):
    title: ClassVar[str] = "Writing: direct push or pull request"

    write_mode: Literal["direct", "pull-request"] = Field(
        "direct", description="How a release reaches the branch: pushed (direct) or proposed "
                              "as a pull request (pull-request); spec.writeMode overrides.")
    revert_mode: Literal["direct", "pull-request"] = Field(
        "direct", description="How a revert reaches the branch; a refused direct push falls "
                              "back to an urgent, auto-merged pull request.")
    forge: Literal["github", "gitlab", "gitea"] | None = Field(
        None, description="The forge whose API opens pull requests (gitea also for "
                          "Forgejo).")
    forge_api_url: str | None = Field(
        None, description="The forge's API root (default: the forge's public one).")
    forge_repo: str | None = Field(
        None, description="OWNER/NAME of the config repository on the forge (default: the "
                          "path of --repo's URL).")
    forge_token_file: Path | None = Field(
        None, description="File holding the forge API token (read again when it changes; "
                          "never logged).")
    auto_merge: bool = Field(False, description="Merge a release's pull request once the "
                                                "forge says mergeable and checks passed.")
    merge_method: Literal["merge", "squash", "rebase"] = Field(
        "merge", description="How reconciler merges its pull requests (the repository must "
                             "allow it): merge commit, squash or rebase.")

RUN_GROUPS: tuple[type[Settings], ...] = (
    GitSettings, ReleaseSettings, ClusterSettings, SchedulingSettings, ServerSettings,
    LeaderSettings, WriteSettings)


@dataclass(frozen=True)
class RunSettings:
    """Everything ``reconciler run`` is configured with."""

    git: GitSettings
    release: ReleaseSettings
    cluster: ClusterSettings
    scheduling: SchedulingSettings
    server: ServerSettings
    leader: LeaderSettings
    write: WriteSettings

    @classmethod
    def load(cls, given: Mapping[str, Any]) -> RunSettings:
        return cls(git=load(GitSettings, given), release=load(ReleaseSettings, given),
                   cluster=load(ClusterSettings, given),
                   scheduling=load(SchedulingSettings, given),
                   server=load(ServerSettings, given), leader=load(LeaderSettings, given),
                   write=load(WriteSettings, given))


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


def options(*groups: type[Settings]) -> Callable[[F], F]:
    """Click options for every field of ``groups``: no click defaults and no
    click envvars, so an unset flag reaches :func:`load` as None and the model reads
    the environment and applies its defaults."""

    def decorate(fn: F) -> F:
        for group in reversed(groups):
            for field, info in reversed(list(group.model_fields.items())):
                help_ = (f"{info.description} [env {group.env_name(field)}; "
                         f"default: {default_text(group, field)}]")
                flag = group.flag(field)
                if _is_bool(info):
                    decl = flag if field.startswith("insecure") else \
                        f"{flag}/--no-{flag[2:]}"
                    option = click.option(decl, field, is_flag=True, default=None,
                                          help=help_)
                else:
                    option = click.option(flag, field, default=None, metavar=_metavar(info),
                                          help=help_)
                fn = option(fn)
        return fn

    return decorate


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
            source = f"{group.flag(field)} {flags[field]!r}"
        elif field in group.model_fields:
            env = group.env_name(field)
            source = (f"{env}={os.environ[env]!r}" if env in os.environ
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
    sys.stdout.write(markdown())
