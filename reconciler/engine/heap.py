"""The heap as the garbage collector sees it: what start-up read is frozen out of its
walks, and so is what the first reconcile of every rollout built, once it is done.

Where it fits: the daemon calls ``freeze`` once its stores are listed (before any
worker runs) and ``idle`` whenever a worker finds the queue empty. A full collection
walks every live object that is not frozen: at 10,000 rollouts that is the whole
fleet's scans and cluster objects (hundreds of ms, docs/performance.md), a stall of
whatever release is in flight. What start-up and the first reconcile of the fleet
built lives as long as the daemon; frozen, it is never walked again. Reference
counting still frees frozen objects; only a cycle among them would stay.

Each freeze, and each full resync (``trim``), also hands the C allocator's free pages
back to the system (``adapters/malloc``): reading a long history at start frees tens
of MiB that glibc would otherwise keep resident for as long as the daemon runs (a
daemon restarted on 6,000 commits: 224 MiB resident untrimmed, 155 MiB trimmed,
docs/performance.md "Soak"). So does an idle moment at most every ``TRIM_EVERY``
seconds: between resyncs the free pages of every release's transient allocations
piled up in glibc's heap, and the resident size wandered with them. Over 143
minutes of a soak, two daemons trimmed only at resyncs and reopens gave ``RssAnon``
slopes of +334 ± 703 and +264 ± 601 KiB/h (10-minute windows, 95 %); a third, run
beside them and trimmed every 30 s, -100 ± 198 (docs/performance.md, "Soak", stop
31). A trim takes ~0.5-1 ms (up to 8 seen), in a worker that has nothing to do.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable

from reconciler.adapters import malloc

log = logging.getLogger(__name__)


TRIM_EVERY = 30.0
"""Seconds at least between two trims at idle moments."""


class Heap:
    def __init__(self, *, trim_every: float = TRIM_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._settled = False
        self._trim_every = trim_every
        self._clock = clock
        self._trimmed = clock()

    def freeze(self) -> None:
        """Collect, then move every object alive now out of the collector's walks."""
        started = time.perf_counter()
        gc.collect()
        gc.freeze()
        self.trim()
        log.debug("froze %d objects in %.0f ms", gc.get_freeze_count(),
                  (time.perf_counter() - started) * 1000)

    def idle(self) -> None:
        """The work queue is empty: the first time, freeze again (what the first
        reconcile of every rollout built); later, trim when ``trim_every`` seconds
        passed since the last trim."""
        with self._lock:
            first = not self._settled
            self._settled = True
            due = self._clock() - self._trimmed >= self._trim_every
        if first:
            self.freeze()
        elif due:
            self.trim()

    def trim(self) -> None:
        """Hand the allocator's free pages back (nothing without glibc); an idle
        moment within ``trim_every`` of it does not trim again."""
        with self._lock:
            self._trimmed = self._clock()
        started = time.perf_counter()
        if malloc.trim():
            log.debug("trimmed the allocator in %.1f ms", (time.perf_counter() - started) * 1000)

