"""HTTP for the forge adapters: the token, the calls, pagination, errors and rate limits.

Shared by ``github.py``, ``gitlab.py`` and ``gitea.py``, which say only what differs per
forge (the auth header, the rate-limit headers, the base URL). Built on ``httpx2`` (see
the README's dependency table): one ``Client`` per adapter, explicit timeouts.

Rules kept here so that every forge follows them:

* The token is read from a file (a mounted Secret) and read again whenever the file
  changes, so a rotated token is used without a restart. It goes into a header only;
  it is never in a URL, a log record, an exception message or a ``repr`` (``TokenFile``
  hides it, ``Api._fail`` masks it in any text the forge echoes back).
* Every refusal becomes a ``reconciler.errors`` type by status: 401/403 ``ForgeAuthError``,
  404 ``ForgeNotFound``, 400/422 ``ForgeInvalid``, 405/406/409 ``ForgeConflict``, a rate
  limit ``ForgeRateLimited`` with the wait, anything else ``ForgeError``.
* The wait of a rate limit comes from ``Retry-After`` (seconds or an HTTP date), else
  from the forge's reset time when its remaining count is 0. Nothing sleeps here.
* A listing is followed page by page through ``Link: <...>; rel="next"`` (GitHub, Gitea,
  GitLab) or ``X-Next-Page`` (GitLab), only to the forge's own origin (the token must
  not follow a link elsewhere), and at most ``MAX_PAGES`` pages.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import httpx2

from reconciler.errors import (
    ForgeAuthError,
    ForgeConflict,
    ForgeError,
    ForgeInvalid,
    ForgeNotFound,
    ForgeRateLimited,
    printable,
)

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

MAX_PAGES = 50
"""Pages read from one listing; past that the listing is treated as broken."""
DEFAULT_RATE_LIMIT_WAIT = 60.0
"""A 429 without any header that says how long: GitHub's docs ask for at least a minute."""
_MESSAGE_LIMIT = 300


class TokenFile:
    """A token read from ``path`` and read again when the file changes.

    A Kubernetes Secret mounted as a file is replaced in place (a symlink swap) when it
    is rotated; comparing the file's identity and mtime on every call is cheap and picks
    the new token up at the next request. The token never appears in ``repr``.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._token = ""

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"

    def read(self) -> str:
        try:
            info = os.stat(self.path)
            key = (info.st_ino, info.st_mtime_ns, info.st_size)
            with self._lock:
                if key != self._seen:
                    self._token = self.path.read_text(encoding="utf-8").strip()
                    self._seen = key
                token = self._token
        except OSError as err:
            raise ForgeAuthError(
                f"cannot read the forge token file {printable(str(self.path))}: "
                f"{err.strerror or type(err).__name__}") from err
        if not token:
            raise ForgeAuthError(f"the forge token file {printable(str(self.path))} is empty")
        return token


@dataclass(frozen=True)
class RateLimitHeaders:
    """Which headers carry a forge's remaining count and its reset time (epoch seconds)."""

    remaining: str | None
    reset: str | None


def _seconds(value: str) -> bool:
    """Whether a header holds HTTP's ``1*DIGIT`` (RFC 9110): ASCII digits only, as
    ``str.isdigit`` alone also takes ``²`` and other digits ``float`` refuses."""
    return value.isascii() and value.isdigit()


def retry_after(headers: Mapping[str, str], *, limits: RateLimitHeaders,
                now: float) -> float | None:
    """Seconds to wait before the next call, or ``None`` when the headers ask for none.

    Pure. ``Retry-After`` wins (GitHub's secondary limits, GitLab's 429, any proxy);
    then the reset time, but only when the remaining count says 0 or is not sent (GitLab
    sends ``RateLimit-Reset`` on a 429 alone).
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    value = lowered.get("retry-after")
    if value is not None:
        value = value.strip()
        if _seconds(value):
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when.timestamp() - now)
    if limits.reset is None:
        return None
    reset = lowered.get(limits.reset.lower())
    remaining = lowered.get(limits.remaining.lower()) if limits.remaining else None
    if reset is None or not _seconds(reset.strip()):
        return None
    if remaining is not None and remaining.strip() != "0":
        return None
    return max(0.0, float(reset) - now)


_BY_STATUS: dict[int, type[Exception]] = {
    400: ForgeInvalid, 401: ForgeAuthError, 403: ForgeAuthError, 404: ForgeNotFound,
    405: ForgeConflict, 406: ForgeConflict, 409: ForgeConflict, 422: ForgeInvalid,
}


class Api:
    """Authenticated JSON calls to one forge's REST API."""

    def __init__(
        self,
        *,
        kind: str,
        base_url: str,
        token_file: TokenFile,
        auth_header: Callable[[str], tuple[str, str]],
        limits: RateLimitHeaders,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] | None = None,
        transport: httpx2.BaseTransport | None = None,
        ca_bundle: Path | None = None,
    ) -> None:
        self.kind = kind
        self.base_url = base_url.rstrip("/")
        self._token = token_file
        self._auth_header = auth_header
        self._limits = limits
        self._clock = clock or time.time
        self._origin = httpx2.URL(self.base_url)
        self._client = httpx2.Client(
            base_url=self.base_url + "/",
            headers={"User-Agent": "reconciler", "Accept": "application/json",
                     **(headers or {})},
            timeout=timeout, transport=transport, follow_redirects=False,
            verify=_tls(ca_bundle))

    def __repr__(self) -> str:
        return f"Api(kind={self.kind!r}, base_url={self.base_url!r}, token={self._token!r})"

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, path: str, *, params: Mapping[str, str | int] | None = None,
             json: Any = None,
             statuses: Mapping[int, type[Exception]] | None = None) -> Any:
        """The decoded JSON of a successful answer (``None`` for an empty body).

        ``statuses`` overrides the error type for a status where a forge means something
        else by it (GitLab's 422 on a merge is a conflict, not bad input).
        """
        response = self._send(method, path, params=params, json=json, statuses=statuses)
        return _decoded(response, kind=self.kind, what=f"{method} {path}")

    def pages(self, path: str, *, params: Mapping[str, str | int] | None = None,
              key: str | None = None) -> Iterator[Any]:
        """Every element of a paginated listing, page after page, lazily.

        ``key`` names the list inside an object page (GitHub's check runs come as
        ``{"total_count": n, "check_runs": [...]}``).
        """
        url: str = path
        query: Mapping[str, str | int] | None = params
        for _ in range(MAX_PAGES):
            response = self._send("GET", url, params=query, json=None, statuses=None)
            page = _decoded(response, kind=self.kind, what=f"GET {path}")
            if key is not None and isinstance(page, dict):
                page = page.get(key)
            if not isinstance(page, list):
                raise ForgeError(f"{self.kind} GET {path}: expected a list, got "
                                 f"{type(page).__name__}", status=response.status_code)
            yield from page
            following = response.links.get("next", {}).get("url")
            next_page = response.headers.get("x-next-page", "").strip()
            if following:
                target = httpx2.URL(following)
                if (target.scheme, target.host, target.port) != (
                        self._origin.scheme, self._origin.host, self._origin.port):
                    raise ForgeError(f"{self.kind} GET {path}: the next page points to "
                                     f"another host ({printable(str(target.host))})")
                url, query = following, None
            elif _seconds(next_page):  # ASCII digits, like a Retry-After
                query = {**(params or {}), "page": next_page}
            else:
                return
        raise ForgeError(f"{self.kind} GET {path}: more than {MAX_PAGES} pages")

    def _send(self, method: str, url: str, *, params: Mapping[str, str | int] | None,
              json: Any, statuses: Mapping[int, type[Exception]] | None) -> httpx2.Response:
        token = self._token.read()
        name, value = self._auth_header(token)
        try:
            response = self._client.request(method, url.lstrip("/") if "://" not in url
                                            else url, params=params, json=json,
                                            headers={name: value})
        except httpx2.TimeoutException as err:
            raise ForgeError(f"{self.kind} {method} {_path(url)}: timed out "
                             f"({type(err).__name__})") from err
        except httpx2.HTTPError as err:
            raise ForgeError(f"{self.kind} {method} {_path(url)}: cannot reach "
                             f"{self.base_url} ({type(err).__name__})") from err
        log.debug("%s %s %s: %s", self.kind, method, _path(url), response.status_code)
        if response.is_redirect:
            # Not followed: GitLab's PRIVATE-TOKEN would go along to wherever it points.
            # GitHub answers 301 for a renamed repository; the setting should follow it.
            raise ForgeNotFound(printable(
                f"{self.kind} {method} {_path(url)}: {response.status_code}, moved to "
                f"{response.headers.get('location', '?')}: update the forge repository "
                "or API URL"))
        if response.status_code < 400:
            return response
        self._fail(method, url, response, token=token, statuses=statuses or {})
        raise AssertionError("unreachable")  # pragma: no cover

    def _fail(self, method: str, url: str, response: httpx2.Response, *, token: str,
              statuses: Mapping[int, type[Exception]]) -> None:
        status = response.status_code
        detail = _forge_message(response).replace(token, "***")
        message = printable(f"{self.kind} {method} {_path(url)}: {status} {detail}".strip())
        if status in (403, 429):
            wait = retry_after(response.headers, limits=self._limits, now=self._clock())
            if wait is not None or status == 429:
                wait = DEFAULT_RATE_LIMIT_WAIT if wait is None else wait
                raise ForgeRateLimited(f"{message} (retry in {wait:.0f}s)", retry_after=wait,
                                       status=status)
        cls = statuses.get(status) or _BY_STATUS.get(status, ForgeError)
        if issubclass(cls, ForgeError):
            raise cls(message, status=status)
        raise cls(message)


def _tls(ca_bundle: Path | None) -> ssl.SSLContext | bool:
    """The system's trust store (``SSL_CERT_FILE`` honoured), plus ``ca_bundle`` for a
    self-hosted forge behind a private CA, as the git side's ``--ca-bundle`` adds it."""
    if ca_bundle is None:
        return True
    context = ssl.create_default_context()
    try:
        context.load_verify_locations(cafile=str(ca_bundle))
    except (OSError, ssl.SSLError) as err:
        raise ForgeError(f"cannot load the CA bundle {printable(str(ca_bundle))}: "
                         f"{type(err).__name__}") from err
    return context


def parsed(function: Callable[P, R]) -> Callable[P, R]:
    """``function`` (an adapter's method, reading a forge's JSON) with a missing or
    mistyped field raised as ``ForgeError`` instead of ``KeyError``/``TypeError``: an
    answer of another shape comes from a proxy, an API version we do not know, or an API
    URL that points at something else. Every public adapter method wears it."""

    @functools.wraps(function)
    def reading(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ForgeError(f"unexpected answer from the forge: {type(err).__name__} "
                             f"{printable(str(err))[:100]}") from err

    return reading


def _path(url: str) -> str:
    """The path of ``url`` without its query, for messages (a query may hold a cursor)."""
    return httpx2.URL(url).path if "://" in url else "/" + url.lstrip("/").split("?")[0]


def _forge_message(response: httpx2.Response) -> str:
    """The forge's own explanation: ``message`` (all three), GitLab's ``error``, Gitea's
    ``errors``; truncated, since a proxy may answer with a whole HTML page."""
    try:
        payload = response.json()
    except ValueError:
        return response.text[:_MESSAGE_LIMIT].strip()
    if isinstance(payload, dict):
        parts = [str(payload[key]) for key in ("message", "error", "errors")
                 if payload.get(key)]
        return "; ".join(parts)[:_MESSAGE_LIMIT]
    return str(payload)[:_MESSAGE_LIMIT]


def _decoded(response: httpx2.Response, *, kind: str, what: str) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise ForgeError(f"{kind} {what}: the answer is not JSON",
                         status=response.status_code) from None
