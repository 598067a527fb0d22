"""A work queue keyed by rollout: one reconcile per key at a time, many keys at once.

The semantics of client-go's workqueue: adding a key that is already waiting is a
no-op; adding a key that is being processed marks it dirty, and it is queued again
when its worker calls ``done``. So a burst of watch events for one rollout costs
one or two reconciles, never a pile-up, and two workers never hold the same key.
"""

from __future__ import annotations

import threading
from collections import deque


class WorkQueue:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[str] = deque()
        self._waiting: set[str] = set()
        self._processing: set[str] = set()
        self._dirty: set[str] = set()
        self._closed = False

    def add(self, key: str) -> None:
        with self._cond:
            if self._closed:
                return
            if key in self._processing:
                self._dirty.add(key)
                return
            if key not in self._waiting:
                self._waiting.add(key)
                self._queue.append(key)
                self._cond.notify()

    def get(self, timeout: float | None = None) -> str | None:
        """The next key, or None when closed (or on timeout)."""
        with self._cond:
            while not self._queue and not self._closed:
                if not self._cond.wait(timeout):
                    return None
            if self._closed:
                return None
            key = self._queue.popleft()
            self._waiting.discard(key)
            self._processing.add(key)
            return key

    def done(self, key: str) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                if not self._closed and key not in self._waiting:
                    self._waiting.add(key)
                    self._queue.append(key)
                    self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def idle(self) -> bool:
        """Nothing waiting and nothing being processed."""
        with self._cond:
            return not self._queue and not self._processing
