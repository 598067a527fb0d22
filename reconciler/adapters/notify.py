"""Delivering notices: notification-controller's event endpoint and chat webhooks.

Where it fits: ``engine/notices.py`` renders each notice (``core/notices.py``) and
hands the payload to an ``Outbox`` here, which returns at once; every destination
has its own ``Channel``: a queue and a worker thread, so the reconcile loop never
waits on a slow or throttled receiver, one receiver never delays another, and the
messages to one receiver arrive in the order the changes happened. Built on
``httpx2`` like the forge adapters (README, dependencies).

What each answer means, per receiver (``Receiver``):

* Flux notification-controller (``fluxcd/notification-controller``,
  ``internal/server/event_server.go``): 202 accepted; 429 the same event within its
  rate-limit interval (5 min by default): a duplicate, delivered already, not retried
  (fluxcd/pkg ``runtime/events`` recorder does the same); 400 an undecodable event
  and 413 one over 3 MiB: our bug, not retried; 5xx and no answer: retried.
* Slack incoming webhooks: 200 ``ok``; 429 with ``Retry-After`` (seconds) when over
  about one message a second (api.slack.com/docs/rate-limits); 400/403/404/410 with
  ``invalid_payload``, ``action_prohibited``, ``channel_not_found``,
  ``channel_is_archived`` (api.slack.com changelog 2016-05-17): not retried.
* Teams (Workflows or connector) and generic webhooks: any 2xx; 429 with or without
  ``Retry-After``; 408 and 5xx retried.

Retries back off from 1 s, doubling to 60 s, jittered, for at most ``ATTEMPTS``
tries; a ``Retry-After`` is honoured up to ``MAX_WAIT``. Each channel sends at most
one message per its ``min_interval`` (Slack's one a second by default). Anything
else a try raises (a bug) fails that try, logged by its type; the thread lives on.

Secrets: a chat webhook URL is a credential (Slack's path is the token). It is read
from a file (``URLFile``, read again when the file changes), never logged: messages
name the destination and its host only, anything a receiver echoes back is masked,
and a filter on the ``httpx2`` logger (which logs every request URL at INFO) masks
every registered URL whatever the logging configuration.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from reconciler.adapters.forges import transport
from reconciler.errors import InputError, printable

log = logging.getLogger(__name__)

ATTEMPTS = 8
"""Tries of one message before it is given up (about two minutes of backoff)."""
BACKOFF = (1.0, 60.0)
MAX_WAIT = 300.0
"""The longest ``Retry-After`` honoured; a longer one is cut to this."""
DEFAULT_RATE_LIMIT_WAIT = 30.0
MAX_PENDING = 200
"""Messages queued for one destination; past that new ones are dropped (and logged)."""
TIMEOUT = 10.0
_NO_LIMIT_HEADERS = transport.RateLimitHeaders(remaining=None, reset=None)


# -- secrets -------------------------------------------------------------------------


class _Secrets(logging.Filter):
    """Masks every registered secret in records of the logger it is attached to."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._values: set[str] = set()

    def add(self, value: str) -> None:
        with self._lock:
            self._values.add(value)

    def mask(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            text = text.replace(value, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record: leave it to the handler
            return True
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


SECRETS = _Secrets()
logging.getLogger("httpx2").addFilter(SECRETS)


def _secret_parts(url: str) -> list[str]:
    """The parts of a webhook URL that give access: its path and query (Slack
    ``/services/T…/B…/<token>``, a Workflows ``sig=``), any user info, and the path's
    long segments (a token quoted alone in an error). The host stays readable. What
    is not a URL ``httpx2`` can parse is masked whole."""
    try:
        parsed = httpx2.URL(url) if "://" in url else None
    except httpx2.InvalidURL:
        parsed = None
    if parsed is None:
        return [url]
    parts = [parsed.raw_path.decode("ascii", "replace"), parsed.userinfo.decode(
        "ascii", "replace")]
    parts += [s for s in parsed.path.split("/") if len(s) >= 12]
    if parsed.query:
        parts.append(parsed.query.decode("ascii", "replace"))
    return [p for p in parts if len(p) >= 8]


class URLFile:
    """A webhook URL read from ``path`` and read again when the file changes (a
    rotated Secret). Its value is in no ``repr`` and registered for masking."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._url = ""

    def __repr__(self) -> str:
        return f"URLFile({str(self.path)!r})"

    def read(self) -> str:
        """The URL; ``InputError`` (naming the file, never its content) when missing,
        empty or not an http(s) URL."""
        where = printable(str(self.path))
        try:
            info = os.stat(self.path)
            key = (info.st_ino, info.st_mtime_ns, info.st_size)
            with self._lock:
                if key != self._seen:
                    url = self.path.read_text(encoding="utf-8").strip()
                    if url:
                        for part in _secret_parts(url):
                            SECRETS.add(part)
                    self._url, self._seen = url, key
                url = self._url
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"cannot read the webhook URL file {where}: "
                             f"{getattr(err, 'strerror', None) or type(err).__name__}"
                             ) from None
        if not url:
            raise InputError(f"the webhook URL file {where} is empty")
        if not is_http_url(url):
            raise InputError(f"the webhook URL file {where} does not hold an http(s) URL")
        return url


def is_http_url(url: str) -> bool:
    """Whether ``url`` is an http(s) URL with a host that ``httpx2`` can send to. Pure."""
    if not url.startswith(("https://", "http://")):
        return False
    try:
        return bool(httpx2.URL(url).host)
    except httpx2.InvalidURL:
        return False


# -- what an answer means --------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What to do after one try: ``done`` (delivered, or a duplicate); else ``retry``
    in ``retry_in`` seconds (None: the backoff's next wait), or give up."""

    done: bool
    note: str
    retry: bool = False
    retry_in: float | None = None


def flux_verdict(status: int, headers: Mapping[str, str], now: float) -> Verdict:
    """notification-controller's answer. Pure."""
    if 200 <= status < 300:
        return Verdict(True, f"{status} accepted")
    if status == 429:
        return Verdict(True, "429: a duplicate within notification-controller's "
                             "rate-limit interval, dropped there")
    if status >= 500 or status == 408:
        return Verdict(False, str(status), retry=True)
    return Verdict(False, f"{status}: refused")


def chat_verdict(status: int, headers: Mapping[str, str], now: float) -> Verdict:
    """A chat webhook's answer (Slack, Teams, generic). Pure."""
    if 200 <= status < 300:
        return Verdict(True, str(status))
    if status == 429:
        wait = transport.retry_after(headers, limits=_NO_LIMIT_HEADERS, now=now)
        wait = DEFAULT_RATE_LIMIT_WAIT if wait is None else min(wait, MAX_WAIT)
        return Verdict(False, f"429 rate limited (retry in {wait:.0f}s)", retry=True,
                       retry_in=wait)
    if status >= 500 or status == 408:
        return Verdict(False, str(status), retry=True)
    return Verdict(False, f"{status}: refused")


@dataclass(frozen=True)
class Receiver:
    """Where one channel posts and how it reads the answers."""

    name: str  # for logs: the destination's name
    url: Callable[[], str]
    verdict: Callable[[int, Mapping[str, str], float], Verdict]
    min_interval: float = 0.0
    headers: Mapping[str, str] | None = None

    def label(self) -> str:
        """The destination's name and host, never its path (for logs)."""
        try:
            host = httpx2.URL(self.url()).host
        except Exception:  # an unreadable URL file: the name alone
            return self.name
        return f"{self.name} ({host})"


# -- the queue and its worker ----------------------------------------------------------


@dataclass
class _Pending:
    payload: Any
    what: str
    attempts: int = 0
    not_before: float = 0.0


class Channel:
    """One receiver's queue and the thread that sends it, in order, paced."""

    def __init__(self, receiver: Receiver, *, client: httpx2.Client,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 attempts: int = ATTEMPTS, backoff: tuple[float, float] = BACKOFF) -> None:
        self.receiver = receiver
        self._client = client
        self._clock = clock
        self._wall = wall
        self._attempts = attempts
        self._backoff = backoff
        self._pending: deque[_Pending] = deque()
        self._cond = threading.Condition()
        self._next_send = 0.0
        self._closing: float | None = None  # the deadline once closing
        self.delivered = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"notify-{receiver.name}")
        self._thread.start()

    def put(self, payload: Any, what: str) -> None:
        """Queue ``payload`` (``what`` names it in logs); never blocks."""
        with self._cond:
            if self._closing is not None:
                return
            if len(self._pending) >= MAX_PENDING:
                self.failed += 1
                log.warning("notifications to %s: %d waiting already; dropped %s",
                            self.receiver.name, len(self._pending), what)
                return
            self._pending.append(_Pending(payload, what))
            self._cond.notify()

    def close(self, timeout: float) -> None:
        """From now on, send only what is due within ``timeout`` seconds, then stop
        (``join`` waits for that)."""
        with self._cond:
            self._closing = self._clock() + timeout
            self._cond.notify()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def idle(self) -> bool:
        with self._cond:
            return not self._pending

    def _run(self) -> None:
        while True:
            with self._cond:
                item = self._next()
                if item is None:
                    return
            try:
                verdict = self._send(item)
            except Exception as err:  # a bug or an unforeseen answer: one failed try
                # The thread lives on. Only the type: the message may quote the URL.
                verdict = Verdict(False, f"unexpected {type(err).__name__}", retry=True)
            with self._cond:
                self._settle(item, verdict)

    def _next(self) -> _Pending | None:
        """The head of the queue once it may be sent; None to stop. Holds the lock."""
        while True:
            now = self._clock()
            if not self._pending:
                if self._closing is not None:
                    return None
                self._cond.wait()
                continue
            item = self._pending[0]
            wait = max(item.not_before, self._next_send) - now
            if self._closing is not None and now + max(wait, 0.0) > self._closing:
                if self._pending:
                    log.warning("notifications to %s: stopping with %d not sent",
                                self.receiver.label(), len(self._pending))
                    self.failed += len(self._pending)
                    self._pending.clear()
                return None
            if wait <= 0:
                return item
            self._cond.wait(wait)

    def _send(self, item: _Pending) -> Verdict:
        item.attempts += 1
        try:
            url = self.receiver.url()
            response = self._client.post(url, json=item.payload,
                                         headers=dict(self.receiver.headers or {}))
        except InputError as err:
            return Verdict(False, str(err), retry=True)
        except httpx2.HTTPError as err:
            return Verdict(False, f"no answer ({type(err).__name__})", retry=True)
        verdict = self.receiver.verdict(response.status_code, response.headers, self._wall())
        if not verdict.done and not verdict.retry:
            body = SECRETS.mask(printable(response.text[:200].strip()))
            verdict = Verdict(False, f"{verdict.note} {body}".strip())
        return verdict

    def _settle(self, item: _Pending, verdict: Verdict) -> None:
        now = self._clock()
        self._next_send = now + self.receiver.min_interval
        if verdict.done:
            self._pending.popleft()
            self.delivered += 1
            log.debug("notified %s of %s: %s", self.receiver.label(), item.what,
                      verdict.note)
            return
        if not verdict.retry or item.attempts >= self._attempts:
            self._pending.popleft()
            self.failed += 1
            log.warning("could not notify %s of %s after %d attempt(s): %s",
                        self.receiver.label(), item.what, item.attempts, verdict.note)
            return
        delay = verdict.retry_in
        if delay is None:
            first, cap = self._backoff
            delay = min(cap, first * 2 ** (item.attempts - 1)) * (0.5 + random.random())
        item.not_before = now + delay
        log.info("notifying %s of %s: %s; trying again in %.1fs", self.receiver.label(),
                 item.what, verdict.note, delay)


class Outbox:
    """The channels by destination name; ``send`` queues and returns at once."""

    def __init__(self, receivers: list[Receiver], *,
                 transport_: httpx2.BaseTransport | None = None,
                 attempts: int = ATTEMPTS, backoff: tuple[float, float] = BACKOFF) -> None:
        self._client = httpx2.Client(timeout=TIMEOUT, follow_redirects=False,
                                     transport=transport_,
                                     headers={"User-Agent": "reconciler"})
        self.channels = {r.name: Channel(r, client=self._client, attempts=attempts,
                                         backoff=backoff) for r in receivers}

    def send(self, name: str, payload: Any, what: str) -> None:
        channel = self.channels.get(name)
        if channel is not None:
            channel.put(payload, what)

    def idle(self) -> bool:
        return all(c.idle() for c in self.channels.values())

    def close(self, timeout: float = 5.0) -> None:
        """Give the queued messages ``timeout`` seconds in all, then stop."""
        for channel in self.channels.values():
            channel.close(timeout)
        deadline = time.monotonic() + timeout + TIMEOUT  # a request in flight ends
        for channel in self.channels.values():
            channel.join(max(0.0, deadline - time.monotonic()))
        self._client.close()
