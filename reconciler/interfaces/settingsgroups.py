"""The settings groups: one pydantic model per concern.

Part of ``interfaces/settings`` (which re-exports every name here and adds the flags,
the loading with one-line errors and the README table): each field has a default,
a one-line description and, through ``Settings``, its ``RECONCILER_`` variable.

``Settings`` reads those variables itself, the way pydantic-settings read them for
these fields (plain types only: the value as written, names in any case), because
importing pydantic-settings cost every command 30-60 ms (docs/performance.md, "A
fast CLI").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from reconciler.core import remotes, scope, shards
from reconciler.errors import InputError, InvalidSelector
from reconciler.interfaces import flags

# Plain (``flags`` reads the settings of a read-only command without pydantic).
from reconciler.interfaces.flags import DEFAULT_PASSWORD_ENV as DEFAULT_PASSWORD_ENV
from reconciler.interfaces.flags import ENV_PREFIX as ENV_PREFIX
from reconciler.interfaces.flags import default_cache_dir as default_cache_dir


def _env(name: str) -> str:
    """An explicit variable name for a field whose flag lacks the concern's prefix."""
    return ENV_PREFIX + name


class Settings(BaseModel):
    """One concern's settings. Subclasses set ``title``; fields need descriptions.

    A field not given is read from its variable (``env_name``), else it takes its
    default: a flag wins over the variable, the variable over the default."""

    # Built on first use: a command builds only the groups it loads (docs/performance.md).
    # Defaults are validated too, as pydantic-settings did.
    model_config = ConfigDict(validate_by_name=True, extra="forbid", frozen=True,
                              validate_default=True, defer_build=True)
    title: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _environment(cls, data: Any) -> Any:
        """The variables of the fields not given, by field name. Names match in any
        case (``reconciler_repo`` too), as pydantic-settings matched them."""
        if not isinstance(data, dict):
            return data
        return {**flags.environment_values({f: cls.env_name(f) for f in cls.model_fields}),
                **data}

    @classmethod
    def env_name(cls, field: str) -> str:
        info = cls.model_fields[field]
        alias = info.validation_alias
        return alias if isinstance(alias, str) else ENV_PREFIX + field.upper()

    @classmethod
    def flag(cls, field: str) -> str:
        return flags.flag(field)


class GitSettings(Settings):
    title: ClassVar[str] = "Config repository"

    repo: str = Field(description="Config repository: a local path, a file://, http(s):// "
                                  "or ssh:// URL, or user@host:path.")
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
                            description="Where the local mirror of the repository lives "
                                        "(DIR/<sha256(url)[:16]>.git).")
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
    # Only the commands that commit offer these as flags (``options(commits=False)``).
    author_name: str = Field("reconciler", description="Commit author name.",
                             json_schema_extra={"commits": True})
    author_email: str = Field("reconciler@localhost", description="Commit author email.",
                              json_schema_extra={"commits": True})

    @field_validator("repo")
    @classmethod
    def _address(cls, value: str) -> str:
        problem = remotes.problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str | None) -> str | None:
        if value is not None and scope.normalize(value) is None:
            raise ValueError("expected a directory inside the repository")
        return value

    def check_files(self) -> None:
        """A missing credentials file or local repository: one clear line
        (``flags.check_git_files``, which the plain settings use too)."""
        flags.check_git_files(self)


class SigningSettings(Settings):
    title: ClassVar[str] = "Commit signing"

    signing_key: Path | None = Field(
        None, description="Private key that signs every commit reconciler writes (releases, "
                          "reverts, verdict notes, pull-request branches); unset: unsigned.")
    signing_format: Literal["ssh", "openpgp"] = Field(
        "openpgp", description="What --signing-key holds, as git's gpg.format: an SSH "
                               "private key (ssh), or an armored OpenPGP secret key "
                               "(openpgp).")
    signing_passphrase_file: Path | None = Field(
        None, description="File holding the signing key's passphrase (first line; never "
                          "logged).")


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
    watch_label_selector: str | None = Field(
        None, description="Reconcile only the Rollouts with matching labels, as Flux's "
                          "--watch-label-selector: sharding.fluxcd.io/key=shard1 for a shard, "
                          "!sharding.fluxcd.io/key for the main instance (docs/sharding.md).")

    @field_validator("flux_source")
    @classmethod
    def _ns_name(cls, value: str) -> str:
        namespace, sep, name = value.partition("/")
        if not sep or not namespace or not name or "/" in name:
            raise ValueError("expected NAMESPACE/NAME")
        return value

    @field_validator("watch_label_selector")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        try:
            shards.parse(value)
        except InvalidSelector as exc:
            # The flag and the value are named by the caller: keep the complaint only.
            raise ValueError(str(exc).removeprefix(f"label selector {value!r}: ")) from None
        if value is None or not value.strip():
            return None  # blank: every Rollout, as Flux's default ""
        return value.strip()

    def check_files(self) -> None:
        """A mistyped kubeconfig is an input error (exit 2), caught before connecting."""
        if self.kubeconfig is not None and not self.kubeconfig.expanduser().is_file():
            raise InputError(f"{self.flag('kubeconfig')} {self.kubeconfig}: no such file")


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
    leader_election_name: str | None = Field(
        None, json_schema_extra={"default_text": "reconciler-leader[-SHARD]"},
        description="Name of the Lease; default: reconciler-leader, plus -SHARD with "
                    "--watch-label-selector sharding.fluxcd.io/key=SHARD (docs/sharding.md).")
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

    def lease(self, watch_label_selector: str | None) -> str:
        """The Lease this replica set elects its leader on: one per shard."""
        return self.leader_election_name or shards.lease_name(watch_label_selector)

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
    forge_poll_max: float = Field(
        60.0, ge=2.0, description="Longest wait, in seconds, between two reads of an open "
                                  "pull request (from 2 s, doubling while nothing changes); "
                                  "pull-request webhooks on /hooks/git cut it short.")


class DashboardSettings(Settings):
    title: ClassVar[str] = "Dashboard"

    ui: bool = Field(True, description="Serve the web dashboard on /ui/ of --http-address "
                                       "(read-only unless --ui-token-file is set).")
    ui_token_file: Path | None = Field(
        None, description="File of bearer tokens allowed to act from the dashboard, one "
                          "TOKEN,USER per line as kube-apiserver's --token-auth-file; USER "
                          "goes into the Requested-By trailer. Without it: read-only.")
    commit_url_template: str | None = Field(
        None, description="Link every commit the dashboard shows to the forge: a URL with "
                          "{sha}, e.g. https://github.com/org/fleet/commit/{sha}.")

    @field_validator("commit_url_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None and (
                "{sha}" not in value or not value.startswith(("https://", "http://"))):
            raise ValueError("expected an http(s) URL with {sha} in it")
        return value

    def check_files(self) -> None:
        if self.ui_token_file is not None and not self.ui_token_file.is_file():
            raise InputError(f"{self.flag('ui_token_file')} {self.ui_token_file}: no such file")


class NotifySettings(Settings):
    title: ClassVar[str] = "Notifications"

    flux_events_url: str | None = Field(
        None, description="Flux notification-controller's event endpoint: every release, "
                          "bake, revert and hold is posted as a Flux event, so Alerts fire "
                          "(deploy/: http://notification-controller.flux-system.svc."
                          "cluster.local./).")
    notifications_config: Path | None = Field(
        None, description="YAML file of chat webhooks (Slack, Teams, generic JSON) and the "
                          "rollouts and changes each is told of (docs/notifications.md).")
    hook_secret_file: Path | None = Field(
        None, description="File holding the secret that signs test-hook calls (X-Signature: "
                          "sha256=<HMAC-SHA256 of the body, hex>; docs/progressive.md).")

    @field_validator("flux_events_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            scheme, sep, rest = value.partition("://")
            if scheme not in ("http", "https") or not sep or not rest.split("/")[0]:
                raise ValueError("expected an http:// or https:// URL")
        return value


RUN_GROUPS: tuple[type[Settings], ...] = (
    GitSettings, SigningSettings, ReleaseSettings, ClusterSettings, SchedulingSettings,
    ServerSettings, DashboardSettings, LeaderSettings, WriteSettings, NotifySettings)


