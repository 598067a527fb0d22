"""Credentials, remote URLs and the libgit2 callbacks that use them safely.

Part of the git adapter (see ``reconciler.adapters.git``, the only other module that
imports pygit2). This module owns everything that touches a secret or a trust
decision, so that the rules live in one place:

* A password or token never reaches a ``repr``, a log line, an error message or the
  mirror's config file: ``Credentials`` hides it, ``RemoteURL`` strips it from URLs,
  and ``mask`` scrubs it from any text that might echo it back.
* libgit2 asks for credentials again after every refusal, forever. ``Callbacks``
  answers at most ``MAX_CREDENTIAL_ATTEMPTS`` times, then raises
  ``AuthenticationFailed``.
* A password read from a file (a mounted Kubernetes Secret) is read again by
  ``Credentials.refreshed`` before every network operation, so a rotated token is
  used without a restart.
* pygit2 accepts *any* SSH host key unless ``certificate_check`` returns libgit2's own
  verdict. ``Callbacks.certificate_check`` returns that verdict and turns a refusal
  into ``HostKeyError`` (SSH) or ``RemoteUnreachable`` (TLS), naming the host and the
  fix. libgit2 reads ``<homedir>/.ssh/known_hosts``; ``network_settings`` points the
  process-wide homedir at the configured file, shared by the operations that use
  the same file (``gittrust``).
* A push refused by the server does not raise in pygit2; ``push_update_reference``
  and the sideband messages are recorded here for ``git.Mirror.push`` to judge.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote

import pygit2
from pygit2.enums import CredentialType

# The trust side (known_hosts, CA bundles, libgit2's process-wide settings) lives in
# gittrust; these names stay importable from here.
from reconciler.adapters.gittrust import (
    default_known_hosts,
    host_key_problem,
    network_settings,
)
from reconciler.adapters.remoteurl import RemoteURL as RemoteURL
from reconciler.errors import (
    AuthenticationFailed,
    HostKeyError,
    InputError,
    RemoteUnreachable,
)

__all__ = ["MAX_CREDENTIAL_ATTEMPTS", "Callbacks", "Credentials", "RemoteURL",
           "default_known_hosts", "host_key_problem", "mask", "network_settings"]

log = logging.getLogger(__name__)

MAX_CREDENTIAL_ATTEMPTS = 3
"""Credential answers per network operation; the next request fails the operation."""

_SERVER_MESSAGE_LIMIT = 4096


@dataclass(frozen=True)
class Credentials:
    """How to authenticate to the remote and which servers to trust.

    ``password`` is an HTTPS password or token. It and ``ssh_passphrase`` never appear
    in ``repr``/``str``. ``known_hosts`` defaults to ``~/.ssh/known_hosts``;
    ``insecure_skip_host_key_check`` accepts any SSH host key (logged as a warning).
    ``ca_bundle`` adds a PEM file of CAs trusted for HTTPS (process-wide: OpenSSL's
    trust store is shared by every remote in the process).
    """

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssh_key: Path | None = None
    ssh_public_key: Path | None = None
    ssh_passphrase: str | None = field(default=None, repr=False)
    known_hosts: Path | None = None
    insecure_skip_host_key_check: bool = False
    ca_bundle: Path | None = None
    password_file: Path | None = None
    """Where ``password`` was read from; ``refreshed`` reads it again."""

    def __repr__(self) -> str:
        def secret(value: str | None) -> str:
            return "None" if value is None else "'***'"

        return (
            f"Credentials(username={self.username!r}, password={secret(self.password)}, "
            f"ssh_key={self.ssh_key!r}, ssh_public_key={self.ssh_public_key!r}, "
            f"ssh_passphrase={secret(self.ssh_passphrase)}, known_hosts={self.known_hosts!r}, "
            f"insecure_skip_host_key_check={self.insecure_skip_host_key_check!r}, "
            f"ca_bundle={self.ca_bundle!r}, password_file={self.password_file!r})"
        )

    __str__ = __repr__

    @classmethod
    def from_sources(
        cls,
        *,
        username: str | None = None,
        password: str | None = None,
        password_file: Path | str | None = None,
        password_env: str | None = None,
        ssh_key: Path | str | None = None,
        ssh_public_key: Path | str | None = None,
        ssh_passphrase: str | None = None,
        ssh_passphrase_file: Path | str | None = None,
        known_hosts: Path | str | None = None,
        insecure_skip_host_key_check: bool = False,
        ca_bundle: Path | str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Credentials:
        """Build credentials from flags/settings: secrets from a value, a file or an env var.

        A secret file (a Kubernetes Secret mount) loses one trailing newline. Giving two
        sources for the same secret, a missing file or an unset variable is an
        ``InputError`` that names the source, never the value.
        """
        env = os.environ if environ is None else environ
        return cls(
            username=username,
            password=_read_secret("password", value=password, path=password_file,
                                  env_name=password_env, environ=env),
            ssh_key=_path(ssh_key),
            ssh_public_key=_path(ssh_public_key),
            ssh_passphrase=_read_secret("SSH passphrase", value=ssh_passphrase,
                                        path=ssh_passphrase_file, env_name=None, environ=env),
            known_hosts=_path(known_hosts),
            insecure_skip_host_key_check=insecure_skip_host_key_check,
            ca_bundle=_path(ca_bundle),
            password_file=_path(password_file),
        )

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.password, self.ssh_passphrase) if s)

    def refreshed(self) -> Credentials:
        """These credentials with the password read again from ``password_file``.

        A Secret mounted as a file is updated in place when it is rotated; reading it
        before each operation lets a long-running daemon recover from revoked
        credentials without a restart. A file that cannot be read or is empty now
        keeps the password read before (the operation then fails as it would have).
        """
        if self.password_file is None:
            return self
        try:
            password = _read_secret_file("password", self.password_file)
        except InputError as exc:
            log.warning("keeping the password read before: %s", exc)
            return self
        if password == self.password:
            return self
        log.info("password file %s changed; using the new password", self.password_file)
        return replace(self, password=password)


def _path(value: Path | str | None) -> Path | None:
    return None if value is None else Path(value).expanduser()


def _read_secret(what: str, *, value: str | None, path: Path | str | None,
                 env_name: str | None, environ: Mapping[str, str]) -> str | None:
    given = [s for s in (value, path, env_name) if s is not None]
    if len(given) > 1:
        raise InputError(f"{what}: give it inline, from a file or from an environment "
                         "variable, not several")
    if path is not None:
        value = _read_secret_file(what, path)
    elif env_name is not None:
        if not environ.get(env_name):
            raise InputError(f"environment variable {env_name} (the {what}) is not set")
        value = environ[env_name].rstrip("\r\n")
    return value


def _read_secret_file(what: str, path: Path | str) -> str:
    """The secret in ``path`` without one trailing newline (``\n`` or ``\r\n``)."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {what} file {path}: {exc.strerror}") from exc
    value = text[:-1] if text.endswith("\n") else text
    value = value[:-1] if value.endswith("\r") else value
    if not value:
        raise InputError(f"{what} file {path} is empty")
    return value


def mask(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret replaced by ``***`` (also their URL-encoded forms)."""
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe="")}:
                text = text.replace(form, "***")
    return text


class Callbacks(pygit2.RemoteCallbacks):
    """One network operation's libgit2 callbacks; create a fresh one per operation."""

    def __init__(self, credentials: Credentials, remote: RemoteURL) -> None:
        super().__init__()
        self._creds = credentials
        self._remote = remote
        self.credential_attempts = 0
        self.rejections: list[tuple[str, str]] = []
        self._server_text: list[str] = []
        self._server_size = 0

    @property
    def server_messages(self) -> str:
        """What the server printed (``remote: ...`` lines: hook output), one line."""
        text = " ".join(line.strip() for line in "".join(self._server_text).splitlines())
        return mask(text.strip(), self._creds.secrets())

    def sideband_progress(self, string: str) -> None:
        if self._server_size < _SERVER_MESSAGE_LIMIT:
            self._server_text.append(string[: _SERVER_MESSAGE_LIMIT - self._server_size])
            self._server_size += len(string)

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message is not None:
            self.rejections.append((refname, message))

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> pygit2.Username | pygit2.UserPass | pygit2.Keypair:
        user = username_from_url or self._creds.username or self._remote.username
        if allowed_types & CredentialType.USERNAME:
            return pygit2.Username(user or "git")
        self.credential_attempts += 1
        if self.credential_attempts > MAX_CREDENTIAL_ATTEMPTS:
            raise AuthenticationFailed(
                f"{self._remote}: credentials refused "
                f"({MAX_CREDENTIAL_ATTEMPTS} attempts); check the username and password/key"
            )
        if allowed_types & CredentialType.SSH_KEY and self._remote.is_ssh:
            return self._keypair(user or "git")
        if allowed_types & CredentialType.USERPASS_PLAINTEXT and self._creds.password:
            return pygit2.UserPass(user or "git", self._creds.password)
        raise AuthenticationFailed(
            f"{self._remote} requires authentication but no matching credentials are "
            f"configured (server accepts: {_describe(allowed_types)})"
        )

    def _keypair(self, user: str) -> pygit2.Keypair:
        key = self._creds.ssh_key
        if key is None:
            if os.environ.get("SSH_AUTH_SOCK"):
                return pygit2.KeypairFromAgent(user)
            raise AuthenticationFailed(f"{self._remote} requires an SSH key; none configured")
        if not key.is_file():
            raise AuthenticationFailed(f"SSH key {key} for {self._remote} does not exist")
        public = self._creds.ssh_public_key
        if public is None and key.with_name(key.name + ".pub").is_file():
            public = key.with_name(key.name + ".pub")
        return pygit2.Keypair(user, public, key, self._creds.ssh_passphrase or "")

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        # Returning True would accept the key whatever libgit2 found; raising
        # Passthrough makes pygit2 accept any SSH key. Only libgit2's verdict is safe.
        name = host.decode("utf-8", "replace")
        if valid:
            return True
        if self._remote.is_ssh:
            if self._creds.insecure_skip_host_key_check:
                log.warning("accepting unverified SSH host key of %s "
                            "(insecure_skip_host_key_check)", name)
                return True
            raise HostKeyError(host_key_problem(name, self._remote.port,
                                                self._creds.known_hosts))
        if self._creds.ca_bundle is None:
            hint = "configure a CA bundle (--ca-bundle) that signs it"
        else:
            hint = (f"the CA bundle {self._creds.ca_bundle} does not vouch for it (signed "
                    f"by another CA, issued for another host name, or expired)")
        raise RemoteUnreachable(f"{self._remote}: TLS certificate of {name} is not trusted; "
                                f"{hint}")


def _describe(allowed: CredentialType) -> str:
    names = [flag.name.lower() for flag in CredentialType if flag.name and allowed & flag]
    return ", ".join(names) or "nothing"
