"""The scans of file versions a ``Scanner`` has made, and the screen of a whole tree.

Where it fits: ``engine/snapshot.Scanner`` asks here for the scan of each file it
must look at. A file's scan depends only on its bytes, so scans are kept by (blob
id, path): in memory (``Scans``, least recently used out first), then in the scan
cache on disk (``engine/scanstore``) when the snapshot has one; only a miss reads
the blob and scans it (``manifests.scan_file``).

A snapshot that must look at thousands of files at once (a first snapshot; a
100,000-file repository has 60,000 YAML files) first asks git which of them can
matter at all (``screen``: ``git grep`` for ``manifests.screen``'s strings,
``adapters/gitscreen``), on another core while the snapshot works out its ignore
rules and scope, and then looks up and reads only those. A first snapshot of the
tree a mirror's first clone brought and checked takes its listing from ``git
ls-tree`` too (``listed``). A file git passes over
holds neither string, so its scan is the empty one (``parsed=False``, no problems)
and is neither kept nor stored: nothing refers to it. Where git is absent or fails,
every file is looked at one by one as before.
"""

from __future__ import annotations

import gc
import threading
from collections import Counter, OrderedDict
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from reconciler.adapters import gitlisting, gitscreen, scancache
from reconciler.core import manifests
from reconciler.engine import scanstore

if TYPE_CHECKING:  # a warm read-only command never loads pygit2 (adapters/gitmemo)
    from reconciler.adapters import git

OLDER_VERSIONS = 100
"""Earlier file contents ``Scans`` keeps beside the current tree's. A revert restores
the content its release replaced minutes before, which is among the newest; a tree
that jumps further back reads and parses its few changed files again (a few ms
each). The daemon has no scan cache on disk, so these are all it keeps: 1,000, as
before, took ~40 minutes of releases every 2.5 s to fill (~4 MiB at ~4 KiB a scan),
which a soak measured as growth (docs/performance.md "Soak")."""

BULK = 5_000
"""Files in a snapshot's tree from which its scans start with ``screen`` (below it, a
child process costs more than the reads it saves)."""


def screen(mirror: git.Mirror, commit: str) -> gitscreen.Screen:
    """Which of ``commit``'s YAML files hold ``manifests.screen``'s strings: a
    ``git grep`` started now, answered by ``paths()`` (None: look at every file)."""
    return gitscreen.start(mirror.path, commit, needles=manifests.SCREENS,
                           suffixes=manifests.SUFFIXES)


def listed(mirror: git.Mirror, commit: str,
           suffixes: tuple[str, ...]) -> dict[str, str] | None:
    """``path -> blob`` of ``commit``'s files ending in a suffix, by ``git ls-tree``
    (``adapters/gitlisting``: in C, beside the screen), when the mirror's first clone
    checked that commit's trees (``git.Mirror.checked``); None: walk the tree."""
    if mirror.checked != commit:
        return None
    return gitlisting.start(mirror.path, commit).whole(suffixes)


def split(entries: list[git.Entry]) -> tuple[dict[str, str], list[git.Entry]] | None:
    """A first listing taken at once: ``path -> blob`` of its files and its other
    entries (symlinks, submodules, invalid names), in one pass over 70,000 entries at
    scale; None when a path is listed twice (only a hand-made tree can do that: the
    caller then takes the entries one by one, the later one winning, as a diff's)."""
    files: dict[str, str] = {}
    others: list[git.Entry] = []
    for entry in entries:
        if entry[2] == "file" and entry[1] is not None:  # kind, blob (a tuple: no lookups)
            files[entry[0]] = entry[1]
        else:
            others.append(entry)
    paths = {e.path for e in others}
    if len(files) + len(others) != len(entries) or len(paths) != len(others) \
            or not paths.isdisjoint(files):
        return None
    return files, others


@contextmanager
def bulk(first: bool) -> Iterator[None]:
    """With ``first`` (a scanner's first snapshot: 70,000 paths, tuples and sets at
    scale, none in a cycle), no pass of the cyclic garbage collector while it runs:
    each full pass walks every object of the process (the daemon's imports: 0.04-0.07
    s) to free nothing. Reference counting frees them as always; the collector is
    switched back on after, if it was on."""
    enabled = first and gc.isenabled()
    if enabled:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def cancel(screen: gitscreen.Screen | None) -> None:
    """Stop ``screen`` if there is one (its answer is not needed)."""
    if screen is not None:
        screen.cancel()


class Scans:
    """Scans by (blob id, path): one content of each path scanned (at most ``bound``,
    the files of the current tree) plus ``older_versions`` earlier contents, the least
    recently used going first: a file that goes back to an earlier content (a revert
    does exactly that) or a tree that jumps to an unrelated commit is not read or
    parsed again. A fixed count grew a daemon by ~4 KiB a release for days (the soak,
    docs/reliability.md); a bound of ``bound`` plus the older contents let a large
    tree whose first snapshot scanned 600 of its 70,000 files keep ~70,000 older
    contents (~4 KiB each) before it dropped one. Thread-safe (``Scanner.scan`` is
    called outside the git lock)."""

    def __init__(self, mirror: git.Mirror, *, older_versions: int = OLDER_VERSIONS) -> None:
        self.mirror = mirror
        self._by_blob: OrderedDict[tuple[str, str], manifests.FileScan] = OrderedDict()
        self._versions: dict[str, int] = {}  # path -> how many of its contents are held
        self._older_versions = older_versions
        self._lock = threading.Lock()

    def get(self, path: str, blob: str, *, disk: scancache.Store | None,
            bound: int) -> tuple[manifests.FileScan, str | None]:
        """``(scan, where it was found)``: ``"memory"``, ``"disk"`` (``disk``) or None
        (read and scanned now, and kept in both)."""
        key = (blob, path)
        with self._lock:
            scan = self._by_blob.get(key)
            if scan is not None:
                self._by_blob.move_to_end(key)
                return scan, "memory"
            found = None if disk is None else scanstore.load_scan(disk, path, blob)
        scan = found if found is not None else manifests.scan_file(
            path, self.mirror.read_blob(blob))
        with self._lock:
            if found is None and disk is not None:
                scanstore.keep_scan(disk, path, blob, scan)
            if key not in self._by_blob:
                self._versions[path] = self._versions.get(path, 0) + 1
            self._by_blob[key] = scan
            versions = self._versions
            while len(self._by_blob) > min(bound, len(versions)) + self._older_versions:
                _, gone = self._by_blob.popitem(last=False)[0]
                versions[gone] -= 1
                if not versions[gone]:
                    del versions[gone]
        return scan, None if found is None else "disk"

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_blob)

    def look(self, paths: Collection[str], *, blobs: Mapping[str, str],
             screen: gitscreen.Screen | None, disk: scancache.Store | None
             ) -> tuple[dict[str, manifests.FileScan], Counter[str]]:
        """The scans of ``paths`` (at ``blobs``) that hold anything (rollouts, targets,
        problems), in path order, and how many were found where: ``"memory"``,
        ``"disk"``, ``"parsed"`` (read and parsed now) or ``"screened_out"`` (holding
        neither string). ``screen``: only the paths git names are looked at, each as
        soon as it is named (while git searches the rest); every path when git fails."""
        counts: Counter[str] = Counter()
        found: dict[str, manifests.FileScan] = {}
        looked: set[str] = set()

        def one(path: str) -> None:
            looked.add(path)
            scan, hit = self.get(path, blobs[path], disk=disk, bound=len(blobs))
            matters = scan.parsed or bool(scan.problems)
            counts[hit or ("parsed" if matters else "screened_out")] += 1
            if matters:
                found[path] = scan

        passed = None
        if screen is not None:
            for path in screen.named():
                if path in paths and path not in looked:
                    one(path)
            passed = screen.paths()
        if passed is not None:  # 600 of 60,000 at scale
            named = [p for p in passed if p in paths]
            counts["screened_out"] += len(paths) - len(named)
            paths = named
        for path in sorted(paths):
            if path not in looked:
                one(path)
        return dict(sorted(found.items())), counts
