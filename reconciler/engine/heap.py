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
docs/performance.md "Soak").
"""

from __future__ import annotations

import gc
import logging
import threading
import time

from reconciler.adapters import malloc

log = logging.getLogger(__name__)


class Heap:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settled = False

    def freeze(self) -> None:
        """Collect, then move every object alive now out of the collector's walks."""
        started = time.perf_counter()
        gc.collect()
        gc.freeze()
        malloc.trim()
        log.debug("froze %d objects in %.0f ms", gc.get_freeze_count(),
                  (time.perf_counter() - started) * 1000)

    def idle(self) -> None:
        """The work queue is empty: the first time, freeze again (what the first
        reconcile of every rollout built); later calls do nothing."""
        with self._lock:
            if self._settled:
                return
            self._settled = True
        self.freeze()

    def trim(self) -> None:
        """Hand the allocator's free pages back (nothing without glibc)."""
        started = time.perf_counter()
        if malloc.trim():
            log.debug("trimmed the allocator in %.1f ms", (time.perf_counter() - started) * 1000)

