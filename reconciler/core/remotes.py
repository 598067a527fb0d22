"""The forms a config repository's address may take, checked before any network.

Where it fits: ``--repo`` (``interfaces/settings.py``) and the git adapter's URL
parsing (``adapters/gitauth.py``) ask :func:`problem` first, so a mistyped address
stops with one line naming it instead of libgit2's words (``invalid argument:
'url->host'``) after a failed fetch. Pure: a string in, a reason or None out.

Accepted: a local path, ``file://``, ``http://``, ``https://``, ``ssh://`` (also
``ssh+git://``, ``git+ssh://``) and scp-like ``[user@]host:path``.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

SCHEMES = ("file", "http", "https", "ssh", "ssh+git", "git+ssh")
EXPECTED = "a local path, file://, http://, https://, ssh:// or user@host:path"

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
# scp-like ``[user@]host:path``: SSH, unless a local path of that name exists.
SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^/:]+):(?P<path>.*)$")


def problem(address: str) -> str | None:
    """Why ``address`` is not a repository address we can use, or None. Pure.

    Only the form is checked: whether the repository exists is the fetch's to say."""
    if not address.strip():
        return f"empty (expected {EXPECTED})"
    match = _SCHEME.match(address)
    if match is None:
        if "://" in address:
            return f"not a URL (expected {EXPECTED})"
        return None  # a local path or scp-like user@host:path; both are free-form
    scheme = match["scheme"].lower()
    if scheme not in SCHEMES:
        return f"unsupported scheme {scheme!r} (expected {EXPECTED})"
    try:
        parts = urlsplit(address)
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    if scheme == "file":
        return None if parts.path not in ("", "/") else "file:// needs a path"
    if not parts.hostname:
        return f"{scheme}:// needs a host ({scheme}://HOST/PATH)"
    return None


def local_path(address: str) -> str | None:
    """The path of a local repository address (a path, or a ``file://`` URL); None for
    a network address, and for a ``host:path`` that may be one. Pure: whether the path
    exists is the caller's to check."""
    match = _SCHEME.match(address)
    if match is not None:
        return unquote(urlsplit(address).path) if match["scheme"].lower() == "file" else None
    return None if SCP_LIKE.match(address) else address


def redact(text: str) -> str:
    """``text`` without the password of any URL in it (``https://user:***@host``). Pure."""
    return re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", text)
