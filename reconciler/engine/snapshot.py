"""A view of the config repository at one commit: inventory plus audit trail.

The engine never keeps release state of its own; every decision starts from a
``Snapshot`` of the branch head. Building one is the hot path, so a second
snapshot of a mostly unchanged tree reuses the first:

* the tree is diffed against the last one scanned, and only files whose blob
  changed are looked at again;
* scans are cached by (blob id, path), since a file's scan depends only on its
  bytes: a file that returns to an earlier content is not parsed again;
* the audit trail is extended by walking only the new commits when the new head
  descends from the last one.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from reconciler.adapters import git
from reconciler.core import manifests, trailers


@dataclass
class ScanStats:
    files: int = 0
    screened_out: int = 0
    parsed: int = 0
    cache_hits: int = 0  # changed files whose (blob, path) had been scanned before
    unchanged: int = 0  # files the tree diff did not even have to look at
    seconds: float = 0.0


@dataclass(frozen=True)
class Snapshot:
    commit: str
    inventory: manifests.Inventory
    # This environment's reconciler commits, newest first: those with its
    # ``Environment`` trailer, and those written before environments existed.
    history: tuple[trailers.Record, ...]
    # Blob ids of the files that hold rollouts, targets or problems: the only
    # files a release can rewrite (the full listing stays inside the Scanner).
    blobs: dict[str, str] = field(default_factory=dict)
    stats: ScanStats = field(default_factory=ScanStats)
    _by_rollout: dict[str, tuple[trailers.Record, ...]] = field(
        default_factory=dict, repr=False, compare=False)
    # Every environment's reconciler commits (promotion reads the others' reverts).
    fleet_history: tuple[trailers.Record, ...] = ()

    def records(self, rollout: str) -> tuple[trailers.Record, ...]:
        """The reconciler commits of one rollout, newest first (indexed on first use)."""
        if not self._by_rollout and self.history:
            index: dict[str, list[trailers.Record]] = {}
            for record in self.history:
                index.setdefault(record.trailers.rollout, []).append(record)
            self._by_rollout.update({k: tuple(v) for k, v in index.items()})
        return self._by_rollout.get(rollout, ())

    def setup_problem(self, rollout: str) -> str | None:
        """Why ``rollout`` cannot be released from this commit at all, or None."""
        inv = self.inventory
        if rollout in inv.broken:
            return "; ".join(p.render() for p in inv.broken[rollout])
        if not inv.targets.get(rollout):
            return f"at {self.commit[:12]}: {inv.no_target(rollout)}"
        return None


class Scanner:
    """Builds snapshots from a mirror, incrementally from the last one it built.

    State: the commit last scanned, its ``path -> blob`` map, and the scans of the
    files that hold anything (Rollouts, targets or problems). Moving to a new
    commit diffs the two trees (cost follows the change, not the tree) and scans
    only the files whose blob changed.
    """

    def __init__(self, mirror: git.Mirror, *, older_versions: int = 1_000,
                 environment: str | None = None) -> None:
        self.mirror = mirror
        self.environment = environment
        # Scans by (blob id, path): a file that goes back to an earlier content (a
        # revert does exactly that) or a tree that jumps to an unrelated commit is
        # not read or parsed again. Bounded to the files of the current tree plus
        # ``older_versions`` earlier contents (plenty for any revert), least
        # recently used out first: a fixed count grew a daemon by ~4 KiB a release
        # for days (the soak, docs/reliability.md).
        self._by_blob: OrderedDict[tuple[str, str], manifests.FileScan] = OrderedDict()
        self._older_versions = older_versions
        self._cache_lock = threading.Lock()  # scan() is called outside the git lock
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
            changes: list[git.Entry] = self.mirror.list_entries(
                commit, suffixes=manifests.SUFFIXES)
        elif self._commit == commit:
            changes = []
        else:
            changes = self.mirror.changed_entries(self._commit, commit,
                                                  suffixes=manifests.SUFFIXES)
        for entry in changes:
            path, blob = entry.path, entry.blob
            self._relevant.pop(path, None)
            self._blobs.pop(path, None)
            if blob is None:
                continue
            if entry.kind != "file":
                # A symlink, submodule or invalid path: reported, never read (so
                # never followed out of the repository) and never in ``blobs``, the
                # files a release may rewrite.
                self._relevant[path] = manifests.skipped(path, kind=entry.kind,
                                                         detail=entry.detail)
                continue
            self._blobs[path] = blob
            scan, hit = self._scan(path, blob)
            if hit:
                stats.cache_hits += 1
            elif scan.parsed or scan.problems:
                stats.parsed += 1
            else:
                stats.screened_out += 1
            if scan.parsed or scan.problems:
                self._relevant[path] = scan
        self._commit = commit
        stats.files = len(self._blobs)
        stats.unchanged = stats.files - len(changes)
        inventory = manifests.resolve(self._relevant.values())
        fleet = self.history(commit)
        history = fleet if self.environment is None else tuple(
            r for r in fleet if r.trailers.environment in (None, self.environment))
        stats.seconds = time.perf_counter() - started
        return Snapshot(commit=commit, inventory=inventory, history=history,
                        fleet_history=fleet,
                        blobs={p: self._blobs[p] for p in self._relevant if p in self._blobs},
                        stats=stats)

    def scan(self, path: str, blob: str) -> manifests.FileScan:
        """The scan of one file version, from the cache when it was scanned before
        (any commit: e.g. the versions before and after a person's edit)."""
        return self._scan(path, blob)[0]

    def _scan(self, path: str, blob: str) -> tuple[manifests.FileScan, bool]:
        """``(scan, cache hit)``; read and parsed only on a miss."""
        key = (blob, path)
        with self._cache_lock:
            scan = self._by_blob.get(key)
            if scan is not None:
                self._by_blob.move_to_end(key)
                return scan, True
        scan = manifests.scan_file(path, self.mirror.read_blob(blob))
        with self._cache_lock:
            self._by_blob[key] = scan
            while len(self._by_blob) > len(self._blobs) + self._older_versions:
                self._by_blob.popitem(last=False)
        return scan, False

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
