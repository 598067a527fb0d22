"""A view of the config repository at one commit: inventory plus audit trail.

The engine never keeps release state of its own; every decision starts from a
``Snapshot`` of the branch head. Building one is the hot path, so two caches
make a second snapshot of a mostly unchanged tree cheap:

* file scans by blob id (a blob's scan depends only on its bytes), so only
  changed files are read and parsed again;
* the audit trail by head commit, extended by walking only the new commits when
  the new head descends from the cached one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from reconciler.adapters import git
from reconciler.core import manifests, trailers


@dataclass
class ScanStats:
    files: int = 0
    screened_out: int = 0
    parsed: int = 0
    cache_hits: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Snapshot:
    commit: str
    inventory: manifests.Inventory
    history: tuple[trailers.Record, ...]
    blobs: dict[str, str] = field(default_factory=dict)
    stats: ScanStats = field(default_factory=ScanStats)


class Scanner:
    """Builds snapshots from a mirror, caching per blob and per head."""

    def __init__(self, mirror: git.Mirror) -> None:
        self.mirror = mirror
        self._scans: dict[str, manifests.FileScan] = {}
        self._history_head: str | None = None
        self._history: tuple[trailers.Record, ...] = ()

    def snapshot(self, commit: str) -> Snapshot:
        started = time.perf_counter()
        stats = ScanStats()
        scans: list[manifests.FileScan] = []
        live: dict[str, manifests.FileScan] = {}
        blobs: dict[str, str] = {}
        for path, blob in self.mirror.list_files(commit, suffixes=manifests.SUFFIXES):
            stats.files += 1
            blobs[path] = blob
            key = f"{blob}:{path}"
            scan = self._scans.get(key)
            if scan is None:
                data = self.mirror.read_blob(blob)
                scan = manifests.scan_file(path, data)
                if scan.parsed or scan.problems:
                    stats.parsed += 1
                else:
                    stats.screened_out += 1
            else:
                stats.cache_hits += 1
            live[key] = scan
            scans.append(scan)
        # Keep only what this tree holds, so the cache cannot grow without bound.
        self._scans = live
        inventory = manifests.resolve(scans)
        history = self.history(commit)
        stats.seconds = time.perf_counter() - started
        return Snapshot(commit=commit, inventory=inventory, history=history, blobs=blobs,
                        stats=stats)

    def history(self, head: str) -> tuple[trailers.Record, ...]:
        """Reconciler commits reachable from ``head``, newest first."""
        if head == self._history_head:
            return self._history
        if self._history_head and self.mirror.is_ancestor(self._history_head, head):
            new = self.mirror.log(head, stop=self._history_head)
            fresh = trailers.records((c.sha, c.message, c.time) for c in new)
            records = tuple(fresh) + self._history
        else:
            records = tuple(trailers.records(
                (c.sha, c.message, c.time) for c in self.mirror.log(head)))
        self._history_head, self._history = head, records
        return records
