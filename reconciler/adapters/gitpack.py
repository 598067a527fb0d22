"""Keeping the mirror's object store bounded: packing loose objects on a schedule.

Where it fits: every commit the daemon writes (``Mirror.commit``; notes, in the
notes' own repository, which has its own ``Packer``: ``gitnotesrepo``) and every
object a fetch brings in lands in the mirror as one loose file under
``objects/xx/``; libgit2 never packs them (it has no ``gc``), so a daemon releasing
every few seconds grew its mirror by ~400 KiB a minute, 3,243 files in 30 minutes
(docs/reliability.md "Soak"). ``Mirror`` calls :meth:`Packer.after_write` after each
push and each fetch that received objects, with the mirror's lock held; every
``check_every`` such calls this module counts the loose objects (256 directory
listings, well under a millisecond warm) and, once ``threshold`` more than after the
last pack have piled up, packs them.

**Beside the work, not under the lock.** Packing the loose objects of a 10,000-file
mirror (its ~1,000 objects include 250 versions of a 400 KB directory tree, which git
deltas against each other) takes ~0.9 s, and a full ``git gc`` 1-2 s; every release
and revert waited for it while it ran under the mirror's lock. So the write that
finds a pack due lists the loose objects, and the small packs (every pack but the
largest: each fetch that brought objects left one), and starts

    git -c pack.threads=1 pack-objects --quiet --non-empty objects/pack/pack
        < the loose objects' ids and those the small packs' indexes list

in a background thread, git's delta search on one core (the others stay the
daemon's). The process only reads; git writes the ``.pack`` and then the ``.idx``
under temporary names and renames them in, so a reader sees the pack whole or not at
all. A later write, under the lock, finds it finished and deletes the loose files and
the small packs the new pack holds (a pack's index first), leaving the fan-out
directories alone: git's ``prune-packed`` removes an emptied directory, and libgit2
renaming a new loose object into it then fails ("failed to rename lockfile", the
reason an earlier background ``git gc`` was taken back). The mirror then reopens the
repository, as after any pack. Objects written meanwhile are loose and wait for the
next pack.

**One pack in ``gc_every`` (16) is a whole ``git gc``, under the lock**, once the
mirror has grown by an eighth since the last (``gc_share``, below):

    git gc --quiet  (-c gc.cruftPacks=true -c gc.writeCommitGraph=false)

which packs everything into one pack (``repack -d -l -A``, reusing the deltas it
has), moves unreachable objects into a cruft pack where git supports one (2.37 and
later) and prunes only those older than ``gc.pruneExpire`` (two weeks: a commit made
but not yet pushed is never at risk). With the defaults that is one write in ~3,000
that waits, on a small mirror. A whole gc costs what the whole mirror costs: on a
fleet's long past (932,000 objects, 141 MiB packed) it took 10-39 s under the lock,
and git 344 MiB of memory of its own (docs/performance.md, "A fleet's long past").
So it waits until what lies outside the largest pack (the loose objects and the
other packs) holds an eighth of what the largest holds: as often as before on a
small mirror, where a few packs make an eighth, and on that one after ~116,000 new
objects, not ~16,000. Meanwhile the background packs fold the other packs into one,
up to that eighth. Counting against the figure after the last pack, not against zero, keeps
recent unreachable objects that an older git leaves loose from triggering a pack at
every check. ``git gc --auto`` is not used: its estimate (one fan-out directory
times 256) cannot see a threshold this small. git's command line is used because
neither libgit2 nor pygit2 can repack (libgit2's packbuilder writes a pack but never
removes the loose copies or prunes). Without ``git`` on ``PATH`` nothing is packed:
the daemon says so once at start (a warning) and runs as before; the container image
installs git for this (Dockerfile).

Errors: a failed or timed-out pack is logged and retried at the next check (its loose
objects are kept); housekeeping never fails a release. A daemon stopped while a pack
runs leaves git to finish it, or a temporary file git's next ``gc`` removes.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 1_000
"""Loose objects added since the last pack past which the mirror is packed (git's own
``gc.auto`` is 6,700; a mirror's objects are small, so a lower figure keeps it
tighter: ~5 objects a release, a pack every ~200 releases)."""
DEFAULT_CHECK_EVERY = 20
"""Writes (pushes, fetches that received objects) between two estimates."""
DEFAULT_GC_EVERY = 16
"""One pack in so many is a whole ``git gc`` under the lock; the others are made in
the background."""
DEFAULT_GC_SHARE = 8
"""A whole ``git gc`` waits until the objects outside the largest pack number at
least 1/``gc_share`` of those in it."""
DEFAULT_MAX_PACKS = 16
"""Small packs (every one but the largest: each fetch that brings objects adds one)
from which a pack is made even without many loose objects (git's own
``gc.autoPackLimit`` is 50; libgit2 searches every pack for an object)."""
_warned = False  # the missing git is reported once per process
TIMEOUT = 600.0  # seconds one ``git gc`` may take (a 100,000-file mirror: a few)


@dataclass
class PackStats:
    """What housekeeping did so far (tests, benchmarks, logs)."""

    checks: int = 0
    runs: int = 0  # packs made (in the background) and whole ``git gc`` runs
    failures: int = 0
    background: int = 0  # of ``runs``, the packs made beside the work


def loose_count(objects: Path) -> int:
    """Loose objects under ``objects`` (a bare repository's), counted exactly."""
    return len(loose_ids(objects))


def loose_ids(objects: Path) -> list[str]:
    """The ids of the loose objects under ``objects``."""
    found: list[str] = []
    for fanout in objects.glob("[0-9a-f][0-9a-f]"):
        try:
            found.extend(fanout.name + e.name for e in os.scandir(fanout) if len(e.name) == 38)
        except FileNotFoundError:
            continue  # emptied and removed by git meanwhile
    return found


def mergeable(packs: Path) -> list[Path]:
    """The packs under ``packs`` a background pack folds in, as their ``.idx``: every
    one but the largest, and none git keeps apart (``.keep``) or that holds
    unreachable objects with their times (a cruft pack's ``.mtimes``)."""
    found = [idx for idx in packs.glob("pack-*.idx") if idx.with_suffix(".pack").exists()
             and not idx.with_suffix(".keep").exists()
             and not idx.with_suffix(".mtimes").exists()]
    if len(found) <= 1:
        return []
    largest = max(found, key=lambda idx: idx.with_suffix(".pack").stat().st_size)
    return [idx for idx in found if idx != largest]


_IDX_HEADER = 8 + 256 * 4  # magic and version, then the fan-out table


def _count(idx: Path, data: bytes) -> int:
    """The object count in the index ``data`` of ``idx`` starts with (version 2, what
    git and libgit2 write: gitformat-pack(5): the fan-out table's last entry);
    ``ValueError`` for anything else."""
    if data[:8] != b"\377tOc\0\0\0\2" or len(data) < _IDX_HEADER:
        raise ValueError(f"{idx} is not a version 2 pack index")
    return int.from_bytes(data[_IDX_HEADER - 4:_IDX_HEADER], "big")


def pack_ids(idx: Path) -> list[str]:
    """The object ids a pack holds, from its index; ``ValueError`` for an index
    that is not version 2 or is cut short."""
    data = idx.read_bytes()
    count = _count(idx, data)
    if len(data) < _IDX_HEADER + 20 * count:
        raise ValueError(f"{idx} is cut short")
    return [data[at:at + 20].hex() for at in range(_IDX_HEADER, _IDX_HEADER + 20 * count, 20)]


def pack_count(idx: Path) -> int:
    """How many objects a pack holds, from its index's header alone."""
    with idx.open("rb") as f:
        return _count(idx, f.read(_IDX_HEADER))


@dataclass
class _Job:
    """One ``git pack-objects`` under way in its thread: the loose objects ``ids``
    and the packs ``merged`` folded into one new pack."""

    ids: list[str]
    merged: list[Path]
    thread: threading.Thread
    returncode: int | None = None
    pack: str | None = None  # the new pack's name (git prints its hash)
    error: str = ""


class Packer:
    """Housekeeping of one bare repository at ``path``; not thread-safe (the
    mirror calls it with its lock held)."""

    def __init__(self, path: Path, *, threshold: int = DEFAULT_THRESHOLD,
                 check_every: int = DEFAULT_CHECK_EVERY,
                 gc_every: int = DEFAULT_GC_EVERY, max_packs: int = DEFAULT_MAX_PACKS,
                 gc_share: int = DEFAULT_GC_SHARE, git: str | None = None) -> None:
        self.path = Path(path)
        self.threshold = threshold
        self.check_every = max(1, check_every)
        self.gc_every = max(1, gc_every)  # 1: every pack a git gc under the lock
        self.max_packs = max_packs
        self.gc_share = max(1, gc_share)
        self._job: _Job | None = None
        self._since_gc = 0  # packs made in the background since the last git gc
        self.git = git if git is not None else shutil.which("git")
        self.stats = PackStats()
        self._writes = 0
        self._baseline: int | None = None  # loose objects left by the last pack
        global _warned
        if self.git is None and threshold_enabled(threshold) and not _warned:
            _warned = True
            log.warning("git is not on PATH: the mirror %s is never packed and grows "
                        "with every commit (install git; see docs/performance.md)", self.path)

    @property
    def available(self) -> bool:
        return self.git is not None and threshold_enabled(self.threshold)

    def after_write(self) -> bool:
        """Count one write; collect a pack made in the background; every
        ``check_every``, start one (or, one time in ``gc_every``, run ``git gc``
        now) when ``threshold`` loose objects were added since the last pack or
        ``max_packs`` small packs are there. True when packs or loose objects were
        replaced: the caller reopens the repository."""
        replaced = self._collect()
        self._writes += 1
        if self._writes < self.check_every or not self.available:
            return replaced
        self._writes = 0
        self.stats.checks += 1
        if self._job is not None:
            return replaced  # one pack at a time
        ids = loose_ids(self.path / "objects")
        merge = mergeable(self.path / "objects" / "pack")
        if len(ids) - (self._baseline or 0) <= self.threshold and len(merge) < self.max_packs:
            return replaced
        if self._since_gc + 1 >= self.gc_every and self._grown(len(ids), merge):
            return self.run() or replaced
        self._start(ids, merge)
        return replaced

    def _grown(self, loose: int, merge: list[Path]) -> bool:
        """Whether the loose objects and the packs ``merge`` (every pack but the
        largest) hold 1/``gc_share`` of what the largest holds: the growth that pays
        for a whole ``git gc``. An index that cannot be read counts as grown."""
        packs = self.path / "objects" / "pack"
        try:
            sizes = [pack_count(idx) for idx in packs.glob("pack-*.idx")
                     if idx.with_suffix(".pack").exists()]
            rest = loose + sum(pack_count(idx) for idx in merge)
        except (OSError, ValueError):
            return True
        return rest * self.gc_share >= max(sizes, default=0)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a pack under way and collect it (tests, shutdown); True when it
        replaced loose objects."""
        job = self._job
        if job is not None:
            job.thread.join(timeout)
        return self._collect()

    def _start(self, ids: list[str], merge: list[Path]) -> None:
        job = _Job(ids=ids, merged=merge,
                   thread=threading.Thread(name="mirror-pack", daemon=True,
                                           target=lambda: self._pack(job)))
        self._job = job
        job.thread.start()

    def _pack(self, job: _Job) -> None:
        """In the job's thread: ``git pack-objects`` of exactly the loose ``job.ids``
        and what the ``job.merged`` packs hold (a pack whose index cannot be read is
        left out of the merge)."""
        assert self.git is not None
        names = list(job.ids)
        for idx in list(job.merged):
            try:
                names.extend(pack_ids(idx))
            except (OSError, ValueError):
                job.merged.remove(idx)
        # One thread for git's delta search: the other cores stay the daemon's.
        command = [self.git, "-c", "pack.threads=1", "pack-objects", "--quiet",
                   "--non-empty", str(self.path / "objects" / "pack" / "pack")]
        try:
            with tempfile.TemporaryFile("w+") as listed:
                listed.write("".join(f"{oid}\n" for oid in names))
                listed.seek(0)
                done = subprocess.run(command, env=self._env(), stdin=listed,
                                      capture_output=True, text=True, timeout=TIMEOUT,
                                      check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            job.error, job.returncode = str(exc), -1
            return
        job.pack = done.stdout.strip() or None
        job.error = " ".join(done.stderr.split())[:300]
        job.returncode = done.returncode

    def _collect(self) -> bool:
        """A finished background pack: delete the loose copies of what it holds
        (files only; see the module docstring). Call with the mirror's lock held."""
        job = self._job
        if job is None or job.thread.is_alive():
            return False
        self._job = None
        pack = self.path / "objects" / "pack" / f"pack-{job.pack}.idx"
        if job.returncode != 0 or job.pack is None or not pack.exists():
            self.stats.failures += 1
            log.warning("packing the mirror %s failed (git pack-objects exit %s): %s; "
                        "retried later", self.path, job.returncode, job.error or "no pack")
            return False
        for oid in job.ids:
            Path(self.path, "objects", oid[:2], oid[2:]).unlink(missing_ok=True)
        for idx in job.merged:  # the index first: without it no reader opens the pack
            for suffix in (".idx", ".pack", ".rev", ".bitmap", ".promisor"):
                idx.with_suffix(suffix).unlink(missing_ok=True)
        self.stats.runs += 1
        self.stats.background += 1
        self._since_gc += 1
        self._baseline = 0
        log.debug("packed %d loose objects and %d packs of the mirror %s into %s",
                  len(job.ids), len(job.merged), self.path, pack.name)
        return True

    def _env(self) -> dict[str, str]:
        return {**os.environ, "GIT_DIR": str(self.path), "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_TERMINAL_PROMPT": "0"}

    def run(self) -> bool:
        """Run ``git gc`` now (after a pack under way, if any)."""
        if self.git is None:
            return False
        self.wait()
        command = [self.git, "-c", "gc.cruftPacks=true", "-c", "gc.writeCommitGraph=false",
                   "-c", "gc.autoDetach=false", "gc", "--quiet"]
        try:
            done = subprocess.run(command, env=self._env(), capture_output=True, text=True,
                                  timeout=TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.stats.failures += 1
            log.warning("packing the mirror %s failed: %s; retried later", self.path, exc)
            return False
        if done.returncode != 0:
            self.stats.failures += 1
            detail = " ".join(done.stderr.split())[:300]
            log.warning("packing the mirror %s failed (git gc exit %d): %s; retried later",
                        self.path, done.returncode, detail)
            return False
        self.stats.runs += 1
        self._since_gc = 0
        self._baseline = loose_count(self.path / "objects")
        log.debug("packed the mirror %s (%d loose objects left)", self.path, self._baseline)
        return True


def threshold_enabled(threshold: int) -> bool:
    """A threshold of 0 or less turns housekeeping off."""
    return threshold > 0
