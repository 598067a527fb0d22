"""The list-then-watch loop behind ``Cluster.watch`` (the reflector of client-go).

Where it fits: ``cluster.Cluster.watch`` builds a ``Watcher`` and runs it on a daemon
thread; ``engine.informers`` consumes its callbacks. This module owns the timing
decisions, so they are in one place:

- list, hand the full list to ``on_sync``, then watch from the list's
  resourceVersion with ``allowWatchBookmarks`` and a server-side ``timeoutSeconds``;
- a stream that ends normally is resumed at once from the last resourceVersion seen
  (objects and BOOKMARKs), so no event is lost and none is repeated; so is a stream
  cut after it delivered an event or stayed open for a second (it worked: whatever
  backoff an earlier outage built up starts again from the first step);
- 410 Gone (an ERROR event or an answer with that code: the history was compacted)
  means relist: ``on_sync`` again with the complete state;
- anything else that fails (connection refused or reset, a cut stream, timeouts,
  5xx, 403) waits as ``core.backoff.WATCHES`` says (0.2 s doubling up to 30 s,
  jittered by ±20 %) and tries again; a stream that ends within a second having delivered nothing
  counts as a failure too, so a misbehaving server cannot cause a busy loop;
  ``WatchHandle.failing`` holds the error from the last failed attempt until a list or
  a stream succeeds again (the daemon's readiness reports it);
- ``stop`` is honoured at once: a helper thread waits for it and shuts down the
  socket of the open stream (the watcher then ignores whatever error that causes,
  the ``ProtocolError`` included), and every sleep is ``stop.wait``.

The socket read timeout (``timeoutSeconds`` + 15 s) only catches half-open
connections; it is not how ``stop`` is noticed.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import urllib3
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from reconciler.core import backoff
from reconciler.errors import ReconcilerError

if TYPE_CHECKING:
    from reconciler.adapters.cluster import Kind

__all__ = ["WatchHandle", "Watcher"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
READ_SLACK = 15.0  # seconds beyond timeoutSeconds before a silent stream counts as dead
_QUICK = 1.0  # a stream shorter than this that delivered nothing is treated as a failure


@dataclass
class WatchHandle:
    """What ``Cluster.watch`` returns: the thread, and ``synced``, set once the first
    list was delivered to ``on_sync``. ``lists`` and ``streams`` count the list and
    watch requests made, ``errors`` the failed attempts (for metrics and tests).
    ``failing`` is the error of the last attempt while the watch cannot reach the
    API server, None once a list or a stream works again."""

    kind: Kind
    thread: threading.Thread
    synced: threading.Event
    lists: int = 0
    streams: int = 0
    errors: int = 0
    failing: str | None = None

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end (after ``stop`` is set); True if it did."""
        self.thread.join(timeout)
        return not self.thread.is_alive()


class _Expired(Exception):
    """The watch's resourceVersion is older than the server's history (410)."""


class Watcher:
    """One list-then-watch loop. ``relist`` lists and returns (items, resourceVersion);
    ``stream_fn(*stream_args, watch=True, ...)`` is the client list function to watch
    with; ``translate`` turns a client or connection error into a project error."""

    def __init__(self, *, kind: Kind, relist: Callable[[], tuple[list[Obj], str]],
                 stream_fn: Callable[..., Any], stream_args: tuple[Any, ...],
                 label_selector: str | None, translate: Callable[[BaseException],
                                                                 ReconcilerError],
                 on_event: Callable[[str, Obj], None],
                 on_sync: Callable[[list[Obj]], None] | None,
                 stop: threading.Event, timeout_seconds: int,
                 retries: backoff.Attempts | None = None) -> None:
        self.kind = kind
        self.relist, self.translate = relist, translate
        self.stream_fn, self.stream_args = stream_fn, stream_args
        self.label_selector = label_selector
        self.on_event, self.on_sync = on_event, on_sync
        self.stop = stop
        self.timeout_seconds = max(1, int(timeout_seconds))
        self.retries = retries or backoff.Attempts(backoff.WATCHES)
        self.synced = threading.Event()
        self.handle: WatchHandle | None = None
        self._lock = threading.Lock()
        self._resp: Any = None

    def start(self) -> WatchHandle:
        thread = threading.Thread(target=self.run, name=f"watch-{self.kind.plural}", daemon=True)
        self.handle = WatchHandle(self.kind, thread, self.synced)
        threading.Thread(target=self._interrupt, name=f"watch-{self.kind.plural}-stop",
                         daemon=True).start()
        thread.start()
        return self.handle

    def run(self) -> None:
        rv: str | None = None
        expired_before = False
        while not self.stop.is_set():
            delay = 0.0
            try:
                if rv is None:
                    self._count("lists")
                    items, rv = self.relist()
                    self._failing(None)
                    self._call(self.on_sync, items)
                    self.synced.set()
                started = time.monotonic()
                rv, delivered = self._stream(rv)
                if delivered or time.monotonic() - started >= _QUICK:
                    self.retries.reset()
                    expired_before = False
                elif not self.stop.is_set():
                    delay = self.retries.delay()
                    log.debug("watch %s: stream ended at once; again in %.1fs", self.kind, delay)
            except _Expired:
                log.info("watch %s: resourceVersion %s expired; relisting", self.kind, rv)
                rv = None
                delay = self.retries.delay() if expired_before else 0.0
                expired_before = True
            except ReconcilerError as exc:
                if self.stop.is_set():
                    break
                self._count("errors")
                self._failing(str(exc))
                delay = self.retries.delay()
                log.warning("watch %s: %s; retrying in %.1fs", self.kind, exc, delay)
            if delay:
                self.stop.wait(delay)
        log.debug("watch %s: stopped", self.kind)

    def _stream(self, rv: str) -> tuple[str, bool]:
        """Watch from ``rv`` until the stream ends; the last resourceVersion seen and
        whether any object event arrived."""
        self._count("streams")
        delivered = False
        opened: list[float] = []  # when the server answered (set by _opened)
        # A lambda has no return annotation and no docstring, so Watch does not try to
        # deserialize into a model: events keep the plain dicts (``raw_object``).
        call = lambda *a, **kw: self._opened(self.stream_fn(*a, **kw), opened)  # noqa: E731
        stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
            call, *self.stream_args, resource_version=rv, allow_watch_bookmarks=True,
            timeout_seconds=self.timeout_seconds, label_selector=self.label_selector,
            _request_timeout=(5.0, self.timeout_seconds + READ_SLACK))
        try:
            for event in stream:
                type_ = event.get("type")
                obj = event.get("raw_object")
                if not isinstance(obj, dict):
                    continue
                new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                if type_ in ("ADDED", "MODIFIED", "DELETED"):
                    self._call(self.on_event, type_, obj)
                    delivered = True
                if new_rv:
                    rv = str(new_rv)
                if self.stop.is_set():
                    break
        except ApiException as exc:
            if self.stop.is_set():
                return rv, delivered
            if exc.status == 410:
                raise _Expired() from exc
            raise self.translate(exc) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if self.stop.is_set():  # our own socket shutdown, surfacing as ProtocolError
                return rv, delivered
            if delivered or (opened and time.monotonic() - opened[0] >= _QUICK):
                # The server cut a stream that worked: resume at once.
                log.info("watch %s: stream cut (%s); resuming from %s", self.kind,
                         type(exc).__name__, rv)
                return rv, delivered
            raise self.translate(exc) from exc
        finally:
            stream.close()
            with self._lock:
                self._resp = None
        return rv, delivered

    def _opened(self, resp: Any, opened: list[float]) -> Any:
        opened.append(time.monotonic())
        self._failing(None)
        with self._lock:
            self._resp = resp
            stopping = self.stop.is_set()
        if stopping:
            _cut(resp)
        return resp

    def _interrupt(self) -> None:
        self.stop.wait()
        with self._lock:
            resp = self._resp
        if resp is not None:
            _cut(resp)

    def _call(self, fn: Callable[..., None] | None, *args: Any) -> None:
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:  # a bug in a callback must not end the watch
            log.exception("watch %s: callback %s failed", self.kind,
                          getattr(fn, "__qualname__", fn))

    def _failing(self, error: str | None) -> None:
        if self.handle is not None:
            self.handle.failing = error

    def _count(self, name: str) -> None:
        if self.handle is not None:
            setattr(self.handle, name, getattr(self.handle, name) + 1)


def _cut(resp: Any) -> None:
    """Shut the socket under a streaming response so a blocked read returns now."""
    sock = getattr(getattr(resp, "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
