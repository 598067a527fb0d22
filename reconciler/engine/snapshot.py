"""A view of the config repository at one commit: inventory plus audit trail.

The engine never keeps release state of its own; every decision starts from a
``Snapshot`` of the branch head. Building one is the hot path, so a second
snapshot of a mostly unchanged tree reuses the first:

* the tree is diffed against the last one scanned, and only files whose blob
  changed are looked at again;
* scans are cached by (blob id, path), since a file's scan depends only on its
  bytes: a file that returns to an earlier content is not parsed again; given a
  ``store`` (the CLI's, ``engine/scanstore``), also on disk between processes;
* the audit trail is extended by walking only the new commits when the new head
  descends from the last one.

A scanner may be scoped to one cluster (``Scanner(mirror, path="clusters/staging")``,
DESIGN.md "Fleet repositories"): its snapshots carry the ``Scope`` of that commit
(computed once per commit, ``core/scope.py``) and only files in scope are scanned,
so Rollouts and targets resolve per cluster and a file Flux never applies to it is
never parsed. Without a path the whole tree is one cluster, minus what Flux's
ignore rules (``.sourceignore`` and the defaults) leave out.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from reconciler.core import auditindex, joiner, manifests, scope, sourceignore, steps, trailers
from reconciler.engine import arrivals, scans, scanstore

if TYPE_CHECKING:  # a warm read-only command never loads pygit2 (adapters/gitmemo)
    from reconciler.adapters import git, gitscreen, scancache

# Scope shapes of recent file versions kept (a release commit's files, before/after).
_SHAPES_KEPT = 64


@dataclass
class ScanStats:
    files: int = 0
    screened_out: int = 0
    parsed: int = 0
    cache_hits: int = 0  # changed files whose (blob, path) had been scanned before
    stored: int = 0  # changed files whose scan came from the on-disk cache
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
    # The cluster this snapshot is of; None: the whole tree (no --path).
    scope: scope.Scope | None = None
    _by_rollout: dict[str, auditindex.Trail] = field(
        default_factory=dict, repr=False, compare=False)
    # Every environment's reconciler commits (promotion reads the others' reverts).
    fleet_history: tuple[trailers.Record, ...] = ()

    def records(self, rollout: str) -> auditindex.Trail:
        """The reconciler commits of one rollout, newest first (indexed on first use)."""
        if not self._by_rollout and self.history:
            index: dict[str, list[trailers.Record]] = {}
            for record in self.history:
                index.setdefault(record.trailers.rollout, []).append(record)
            # Each a Trail that knows how many older records the index left out
            # (``auditindex.omitted`` of each, counted in one pass: asked rollout by
            # rollout, it read every count once per rollout of the fleet), and the
            # releases their reverts took out (``taken_out``: the older quarantine).
            left: dict[str, int] = {}
            out: dict[str, auditindex.Removed] = {}
            if isinstance(self.history, auditindex.Trail):
                for (_, name), n in self.history.omitted.items():
                    left[name] = left.get(name, 0) + n
                for (_, name), removed in self.history.taken_out.items():
                    out[name] = auditindex.joined(out.get(name), removed)
            self._by_rollout.update({k: auditindex.Trail(
                v, omitted={(None, k): left.get(k, 0)},
                taken_out={(None, k): out[k]} if k in out else None)
                for k, v in index.items()})
        return self._by_rollout.get(rollout, auditindex.Trail())

    def setup_problem(self, rollout: str) -> str | None:
        """Why ``rollout`` cannot be released from this commit at all, or None."""
        inv = self.inventory
        if rollout in inv.broken:
            return "; ".join(p.render() for p in inv.broken[rollout])
        if not inv.targets.get(rollout):
            return f"at {self.commit[:12]}: {inv.no_target(rollout)}"
        entry = inv.rollouts.get(rollout)
        if entry is not None and entry.rollout is not None and entry.rollout.spec.steps:
            found = steps.problems(entry.rollout.spec, inv.targets.get(rollout, []),
                                   inv.canary.get(rollout, []))
            if found:
                return f"at {self.commit[:12]}: {'; '.join(found)}"
        return None


class Scanner:
    """Builds snapshots from a mirror, incrementally from the last one it built.

    State: the commit last scanned, its ``path -> blob`` map, and the scans of the
    files that hold anything (Rollouts, targets or problems). Moving to a new
    commit diffs the two trees (cost follows the change, not the tree) and scans
    only the files whose blob changed.
    """

    def __init__(self, mirror: git.Mirror, *, older_versions: int = scans.OLDER_VERSIONS,
                 environment: str | None = None, path: str | None = None,
                 arrivals: Callable[[], datetime] | None = None,
                 store: scancache.Store | None = None,
                 audit_depth: int | None = None) -> None:
        self.mirror = mirror
        # Scans kept on disk between processes (the CLI's); None: in memory only.
        self.store = store
        self._disk = store  # the store of the snapshot being built (``snapshot``)
        # Set where releases arrive through pull requests: a commit first seen by an
        # incremental walk, older than when it was seen, arrived then (a fast-forward
        # or rebase merge keeps the commit's own, earlier time).
        self._arrivals = arrivals
        self.environment = environment
        # Scans by (blob id, path), in memory then on disk (``engine/scans``).
        self._scans = scans.Scans(mirror, older_versions=older_versions)
        self._commit: str | None = None
        self._blobs: dict[str, str] = {}
        self._relevant: dict[str, manifests.FileScan] = {}
        # The join of the scans below, kept up to date with the paths each snapshot
        # touches (``core/joiner``), and the blob ids of ``_relevant``'s files.
        self._join = joiner.Joiner()
        self._relevant_blobs: dict[str, str] = {}
        self._reported_skips: dict[str, manifests.FileScan] = {}
        self._history_head: str | None = None
        # The daemon's is bounded by what the decisions need (``audit_depth``,
        # core/auditindex); the CLI's (None) holds every record, for `history`.
        self._history = auditindex.Trail()
        self.audit_depth = audit_depth
        self.path = path
        self._scope: scope.Scope | None = None
        self._ignore = sourceignore.defaults()
        self._kept: set[str] = set()  # listed files the ignore rules leave in
        self._skipped: dict[str, manifests.FileScan] = {}  # symlinks, submodules, bad names
        self._checked: set[str] = set()  # in-scope files scanned at their current blob
        self._previous: dict[str, str | None] = {}
        self._shapes: dict[tuple[str, str], object] = {}
        self._in: set[str] = set()  # the manifest files to scan: the scope's, or every kept one

    def snapshot(self, commit: str, *, store: scancache.Store | None = None) -> Snapshot:
        """The snapshot of ``commit``. ``store``: scans on disk for this snapshot only
        (the daemon's first, so that a restart with a kept cache parses nothing; later
        snapshots cost what changed, and rewriting the file each time would not pay)."""
        self._disk = store if store is not None else self.store
        try:
            with scans.bulk(self._commit is None):
                return self._snapshot(commit)
        finally:
            self._disk = self.store

    def _snapshot(self, commit: str) -> Snapshot:
        started = time.perf_counter()
        stats = ScanStats()
        first = self._commit is None
        screen: gitscreen.Screen | None = None
        listed: dict[str, str] | None = None  # a first listing by git (``scans.listed``)
        try:
            if first:
                self._blobs, self._relevant, self._skipped = {}, {}, {}
                self._join, self._relevant_blobs, self._reported_skips = joiner.Joiner(), {}, {}
                self._checked, self._kept, self._in = set(), set(), set()
                # Thousands of files just fetched: git screens them while the tree is
                # listed (``engine/scans``); otherwise only once the listing says so.
                if self.mirror.last_fetch_objects >= scans.BULK:
                    screen = scans.screen(self.mirror, commit)
                    listed = scans.listed(self.mirror, commit, scope.LISTED_SUFFIXES)
                changes: list[git.Entry] = [] if listed is not None else \
                    self.mirror.list_entries(commit, suffixes=scope.LISTED_SUFFIXES)
            elif self._commit == commit:
                changes = []
            else:
                assert self._commit is not None
                changes = self.mirror.changed_entries(self._commit, commit,
                                                      suffixes=scope.LISTED_SUFFIXES)
            # The blobs the changed paths had: whether the scope may have moved.
            # Nothing held yet (and no path listed twice, which only a hand-made tree
            # can do): the files go in at once, 70,000 of them at scale.
            whole = (listed, []) if listed is not None else scans.split(changes) if first else None
            quick = whole is not None
            self._previous = {} if quick else {e.path: self._blobs.get(e.path) for e in changes}
            if whole is not None:
                self._blobs, changes = whole  # the files at once; the other entries below
            for entry in changes:
                path, blob = entry.path, entry.blob
                if not quick:
                    for held in (self._relevant, self._blobs, self._skipped):
                        held.pop(path, None)
                    self._checked.discard(path)
                if blob is None:
                    continue
                if entry.kind != "file":
                    # A symlink, submodule or invalid path: reported, never read (so
                    # never followed out of the repository) and never in ``blobs``, the
                    # files a release may rewrite.
                    if manifests.wants(path) or entry.kind == "invalid-name":
                        self._skipped[path] = manifests.skipped(path, kind=entry.kind,
                                                                detail=entry.detail)
                    continue
                self._blobs[path] = blob
            self._commit = commit
            if first and screen is None and len(self._blobs) >= scans.BULK:
                screen = scans.screen(self.mirror, commit)  # while the scope is worked out
            if screen is not None and any(e.kind == "invalid-name" for e in changes):
                scans.cancel(screen)  # a tree git itself refuses: read blob by blob
                screen = None
            touched = self._rescope(changes, first=first, whole=quick) \
                if first or changes else set()
        except BaseException:
            scans.cancel(screen)
            raise
        if touched is None:  # a first listing taken whole: every file to scan is new
            todo = self._in  # read, never changed (``_rescope`` replaces it whole)
        else:
            for path in touched - self._in:
                self._relevant.pop(path, None)
                self._checked.discard(path)
            todo = {p for p in touched if p in self._in and p not in self._checked}
        self._checked |= todo
        try:  # the files git names are read and parsed while it searches on
            found, counts = self._scans.look(todo, blobs=self._blobs, screen=screen,
                                             disk=self._disk)
        finally:
            scans.cancel(screen)
        self._relevant.update(found)
        stats.cache_hits, stats.stored = counts["memory"], counts["disk"]
        stats.parsed, stats.screened_out = counts["parsed"], counts["screened_out"]
        stats.files = len(self._in)
        stats.unchanged = 0 if first else max(0, stats.files - len(changes))
        # A first join starts empty: only the files that hold anything can change it.
        inventory = self._joined(set(self._relevant) if touched is None else
                                 touched | {e.path for e in changes})
        if self._scope is not None:
            # The scope's own problems (a resources entry naming nothing, a spec.path
            # that does not exist), once per file: a file that does not parse is
            # reported by the manifest scan already when it names kuberik.com.
            inventory.problems.extend(p for p in self._scope.problems
                                      if p.file not in inventory.unparsable)
        fleet = self.history(commit)
        history = fleet if self.environment is None else fleet.only(
            (r for r in fleet if r.trailers.environment in (None, self.environment)),
            environment=self.environment)
        if self._disk is not None:
            self._disk.save()
        stats.seconds = time.perf_counter() - started
        return Snapshot(commit=commit, inventory=inventory, history=history,
                        fleet_history=fleet,
                        blobs=dict(self._relevant_blobs),
                        stats=stats, scope=self._scope)

    def _joined(self, paths: set[str]) -> manifests.Inventory:
        """The inventory, re-joining only ``paths`` (the files whose scan or
        membership may have changed) and the skipped entries reported or no longer."""
        reported = {p: s for p, s in self._skipped.items() if self._reported(p)}
        paths |= reported.keys() ^ self._reported_skips.keys()
        self._reported_skips = reported
        changes: dict[str, manifests.FileScan | None] = {}
        for path in paths:
            scan = self._relevant.get(path, reported.get(path))
            changes[path] = scan
            blob = self._blobs.get(path) if path in self._relevant else None
            if blob is None:
                self._relevant_blobs.pop(path, None)
            else:
                self._relevant_blobs[path] = blob
        return self._join.update(changes)

    def _read(self, path: str) -> bytes:
        return self.mirror.read_blob(self._blobs[path])

    def _rescope(self, changes: list[git.Entry], *, first: bool,
                 whole: bool = False) -> set[str] | None:
        """Bring the ignore rules, the kept files, the scope and ``self._in`` (the
        manifest files to scan) up to ``self._commit``; return the paths whose
        membership or content may have changed (None with ``whole``, a first listing
        taken at once: all of them). The ignore rules are reloaded only
        when an ignore file changed, and a whole-tree scanner otherwise matches only
        the changed paths, so its cost follows the change; a scoped one resolves its
        scope again (any file may move it)."""
        changed = set() if whole else {e.path for e in changes}
        reload = first or any(posixpath.basename(p) == sourceignore.IGNORE_FILE
                              for p in changed)
        if reload:
            self._ignore = sourceignore.load(self._blobs, self._read)
            self._kept = set(self._ignore.keep(self._blobs))
        else:
            for path in changed:
                self._kept.discard(path)
                if path in self._blobs and not self._ignore.matches(path):
                    self._kept.add(path)
        if self.path is not None:
            if reload or self._scope is None or not self._same_shape(changes):
                self._scope = scope.resolve(root=self.path, files=self._blobs,
                                            read=self._read, kept=self._kept)
            files: set[str] | frozenset[str] = self._scope.files
        elif reload:
            files = self._kept
        else:
            for path in changed:
                self._in.discard(path)
                if path in self._kept and manifests.wants(path):
                    self._in.add(path)
            return changed
        before, self._in = self._in, manifests.wanted(files)
        return None if whole else changed | (before ^ self._in)

    def _same_shape(self, changes: list[git.Entry]) -> bool:
        """Can these changes leave the scope as it was? Only edits of files that
        stay (no file added, removed or turned into something else) whose
        ``scope.shape`` is the same before and after: a release commit."""
        for entry in changes:
            old = self._previous.get(entry.path)
            if entry.kind != "file" or entry.blob is None or old is None:
                return False
            if self._shape(entry.path, old) != self._shape(entry.path, entry.blob):
                return False
        return True

    def _shape(self, path: str, blob: str) -> object:
        key = (blob, path)
        if key not in self._shapes:
            self._shapes[key] = scope.shape(path, self.mirror.read_blob(blob))
            while len(self._shapes) > 4 * _SHAPES_KEPT:
                self._shapes.pop(next(iter(self._shapes)))
        return self._shapes[key]

    def _reported(self, path: str) -> bool:
        """Whether a skipped entry (a symlink...) belongs to what this scanner reads:
        in a directory of the scope, or anywhere Flux does not ignore."""
        if self._ignore.matches(path):
            return False
        if self._scope is None:
            return True
        parent = posixpath.dirname(path)
        return any(posixpath.dirname(f) == parent for f in self._scope.files)

    def scan(self, path: str, blob: str) -> manifests.FileScan:
        """The scan of one file version, from the cache when it was scanned before
        (any commit: e.g. the versions before and after a person's edit)."""
        return self._scans.get(path, blob, disk=self._disk, bound=len(self._blobs))[0]

    def history(self, head: str) -> auditindex.Trail:
        """Reconciler commits reachable from ``head``, newest first; with ``audit_depth``,
        as far as the decisions need them (``core/auditindex``: the newest ``audit_depth``
        of each rollout, the reverts of every quarantined tag, a count of the rest)."""
        whole = self.audit_depth is None and self._disk is not None  # the CLI's, on disk
        if whole and self._history_head is None and self._disk is not None:
            kept = scanstore.load_trail(self._disk)  # read by the last run: only add since
            if kept is not None and (kept[0] == head or self.mirror.is_ancestor(kept[0], head)):
                self._history_head, self._history = kept[0], auditindex.Trail(kept[1])
        if head == self._history_head:
            return self._history
        if self._history_head and self.mirror.is_ancestor(self._history_head, head):
            new = self.mirror.log(head, stop=self._history_head)
            records = self._history.like(
                arrivals.records(self.mirror, new, clock=self._arrivals) + self._history)
            if self.audit_depth is not None:
                records = auditindex.bounded(records, depth=self.audit_depth)
        else:  # bounded as it is read: a start never holds the whole history at once
            read = arrivals.each(self.mirror, self.mirror.log(head))
            records = auditindex.Trail(read) if self.audit_depth is None \
                else auditindex.bounded(read, depth=self.audit_depth)
        self._history_head, self._history = head, records
        if whole and self._disk is not None:
            scanstore.keep_trail(self._disk, head, list(records))
        return records


def roots(mirror: git.Mirror, commit: str, *,
          store: scancache.Store | None = None) -> list[scope.Root]:
    """The cluster roots of ``commit`` (``core/scope.roots``): each bootstrap
    ``flux-system`` Kustomization's path; empty when the whole tree is one cluster.
    Looked up in ``store`` first, and kept there."""
    found = None if store is None else scanstore.load_roots(store, commit)
    if found is not None:
        return found
    blobs = {e.path: e.blob for e in mirror.list_entries(commit, suffixes=scope.LISTED_SUFFIXES)
             if e.kind == "file" and e.blob is not None}
    found = scope.roots(blobs, lambda path: mirror.read_blob(blobs[path]))
    if store is not None:
        scanstore.keep_roots(store, commit, found)
        store.save()
    return found
