"""A remote's URL as libgit2 and the mirror's config see it: never with a password.

Part of the git adapter, apart from ``gitauth`` (which re-exports it) because it
imports no pygit2: a read-only command on a warm mirror reads its remote's URL
before it knows whether it needs libgit2 at all (``gitmemo``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from reconciler.core import remotes
from reconciler.errors import InputError

_SSH_SCHEMES = frozenset({"ssh", "ssh+git", "git+ssh"})


@dataclass(frozen=True)
class RemoteURL:
    """A remote as libgit2 and the mirror's config see it: never with a password."""

    url: str
    scheme: str
    host: str | None = None
    port: int | None = None
    username: str | None = None

    @property
    def is_ssh(self) -> bool:
        return self.scheme in _SSH_SCHEMES

    def __str__(self) -> str:
        return self.url

    @classmethod
    def parse(cls, raw: str, *, cwd: Path | None = None) -> tuple[RemoteURL, str | None]:
        """Split ``raw`` into a password-free URL and the password it carried, if any.

        Accepts a local path (relative to ``cwd``; bare or not; becomes ``file://``),
        ``file://``, ``http(s)://[user[:token]@]host/...``, ``ssh://`` and scp-like
        ``user@host:path``.
        """
        if "://" in raw:
            return cls._parse_url(raw)
        base = cwd or Path.cwd()
        match = remotes.SCP_LIKE.match(raw)
        if match and not (base / raw).exists():
            return cls(url=raw, scheme="ssh", host=match["host"], port=None,
                       username=match["user"]), None
        local = (base / Path(raw).expanduser()).resolve()
        return cls(url=local.as_uri(), scheme="file"), None

    @classmethod
    def _parse_url(cls, raw: str) -> tuple[RemoteURL, str | None]:
        # The CLI and the daemon check --repo first (settings); this catches any
        # other caller before libgit2 answers with "invalid argument: 'url->host'".
        problem = remotes.problem(raw)
        if problem is not None:
            raise InputError(f"remote URL {_redact(raw)}: {problem}")
        try:
            parts = urlsplit(raw)
            port = parts.port
        except ValueError as exc:
            raise InputError(f"invalid remote URL {_redact(raw)}: {exc}") from exc
        scheme = parts.scheme.lower()
        userinfo, at, hostport = parts.netloc.rpartition("@")
        user_raw, colon, password_raw = userinfo.partition(":")
        netloc = f"{user_raw}@{hostport}" if at and user_raw else hostport
        clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        password = unquote(password_raw) if colon and password_raw else None
        username = unquote(user_raw) if user_raw else None
        return cls(url=clean, scheme=scheme, host=parts.hostname, port=port,
                   username=username), password


def _redact(raw: str) -> str:
    return remotes.redact(raw)
