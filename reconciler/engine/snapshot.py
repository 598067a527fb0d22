"""A view of the config repository at one commit: inventory plus audit trail.

The engine never keeps release state of its own; every decision starts from a
``Snapshot`` of the branch head. Building one is the hot path, so a second
snapshot of a mostly unchanged tree reuses the first:

* the tree is diffed against the last one scanned, and only files whose blob
  changed are read and parsed again (a file's scan depends only on its bytes);
* the audit trail is extended by walking only the new commits when the new head
  descends from the last one.
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
    # Blob ids of the files that hold rollouts, targets or problems: the only
    # files a release can rewrite (the full listing stays inside the Scanner).
    blobs: dict[str, str] = field(default_factory=dict)
    stats: ScanStats = field(default_factory=ScanStats)


class Scanner:
    """Builds snapshots from a mirror, incrementally from the last one it built.

    State: the commit last scanned, its ``path -> blob`` map, and the scans of the
    files that hold anything (Rollouts, targets or problems). Moving to a new
    commit diffs the two trees (cost follows the change, not the tree) and scans
    only the files whose blob changed.
    """

    def __init__(self, mirror: git.Mirror) -> None:
        self.mirror = mirror
        self._commit: str | None = None
        self._blobs: dict[str, str] = {}
        self._relevant: dict[str, manifests.FileScan] = {}
        self._history_head: str | None = None
        self._history: tuple[trailers.Record, ...] = ()

    def snapshot(self, commit: str) -> Snapshot:
        started = time.perf_counter()
        stats = ScanStats()
        if self._commit is None:
            self._blobs, self._relevant = {}, {}
            changes: list[tuple[str, str | None]] = list(
                self.mirror.list_files(commit, suffixes=manifests.SUFFIXES))
        elif self._commit == commit:
            changes = []
        else:
            changes = self.mirror.changed_files(self._commit, commit,
                                                suffixes=manifests.SUFFIXES)
        for path, blob in changes:
            self._relevant.pop(path, None)
            if blob is None:
                self._blobs.pop(path, None)
                continue
            self._blobs[path] = blob
            scan = manifests.scan_file(path, self.mirror.read_blob(blob))
            if scan.parsed or scan.problems:
                stats.parsed += 1
                self._relevant[path] = scan
            else:
                stats.screened_out += 1
        self._commit = commit
        stats.files = len(self._blobs)
        stats.cache_hits = stats.files - stats.parsed - stats.screened_out
        inventory = manifests.resolve(self._relevant.values())
        history = self.history(commit)
        stats.seconds = time.perf_counter() - started
        return Snapshot(commit=commit, inventory=inventory, history=history,
                        blobs={p: self._blobs[p] for p in self._relevant}, stats=stats)

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
