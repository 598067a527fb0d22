"""Keeping the mirror's object store bounded: packing loose objects on a schedule.

Where it fits: every commit the daemon writes (``Mirror.commit``, notes) and every
object a fetch brings in lands in the mirror as one loose file under
``objects/xx/``; libgit2 never packs them (it has no ``gc``), so a daemon releasing
every few seconds grew its mirror by ~400 KiB a minute, 3,243 files in 30 minutes
(docs/reliability.md "Soak"). ``Mirror`` calls :meth:`Packer.after_write` after each
push and each fetch that received objects, with the mirror's lock held (so no write
runs meanwhile); every ``check_every`` such calls this module counts the loose
objects (256 directory listings, well under a millisecond warm) and, once
``threshold`` more than after the last pack have piled up, runs git's own
housekeeping on the mirror:

    git -c gc.cruftPacks=true -c gc.writeCommitGraph=false gc --quiet

which packs everything into one pack (``repack -d -l -A``, reusing the deltas it
has), moves unreachable objects into a cruft pack where git supports one (2.37 and
later) and prunes only those older than ``gc.pruneExpire`` (two weeks: a commit made
but not yet pushed is never at risk). Counting against the figure after the last
pack, not against zero, keeps recent unreachable objects that an older git leaves
loose from triggering a pack at every check. ``git gc --auto`` is not used: its
estimate (one fan-out directory times 256) cannot see a threshold this small.
git's command line is used because neither libgit2 nor pygit2
can repack (libgit2's packbuilder writes a pack but never removes the loose copies
or prunes). Without ``git`` on ``PATH`` nothing is packed: the daemon says so once
at start (a warning) and runs as before; the container image installs git for
this (Dockerfile).

Errors: a failed or timed-out ``git gc`` is logged and retried at the next check;
housekeeping never fails a release.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 1_000
"""Loose objects added since the last pack past which the mirror is packed (git's own
``gc.auto`` is 6,700; a mirror's objects are small, so a lower figure keeps it
tighter: ~5 objects a release, a pack every ~200 releases)."""
DEFAULT_CHECK_EVERY = 20
"""Writes (pushes, fetches that received objects) between two estimates."""
_warned = False  # the missing git is reported once per process
TIMEOUT = 600.0  # seconds one ``git gc`` may take (a 100,000-file mirror: a few)


@dataclass
class PackStats:
    """What housekeeping did so far (tests, benchmarks, logs)."""

    checks: int = 0
    runs: int = 0
    failures: int = 0


def loose_count(objects: Path) -> int:
    """Loose objects under ``objects`` (a bare repository's), counted exactly."""
    total = 0
    for fanout in objects.glob("[0-9a-f][0-9a-f]"):
        try:
            total += sum(1 for e in os.scandir(fanout) if len(e.name) == 38)
        except FileNotFoundError:
            continue  # emptied and removed by a pack meanwhile
    return total


class Packer:
    """Housekeeping of one bare repository at ``path``; not thread-safe (the
    mirror calls it with its lock held)."""

    def __init__(self, path: Path, *, threshold: int = DEFAULT_THRESHOLD,
                 check_every: int = DEFAULT_CHECK_EVERY, git: str | None = None) -> None:
        self.path = Path(path)
        self.threshold = threshold
        self.check_every = max(1, check_every)
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
        """Count one write; every ``check_every``, pack when ``threshold`` loose
        objects were added since the last pack. True when git packed the repository
        (the packs it replaced are deleted: the caller reopens the repository)."""
        self._writes += 1
        if self._writes < self.check_every or not self.available:
            return False
        self._writes = 0
        self.stats.checks += 1
        if loose_count(self.path / "objects") - (self._baseline or 0) <= self.threshold:
            return False
        return self.run()

    def run(self) -> bool:
        """Run ``git gc`` now."""
        if self.git is None:
            return False
        command = [self.git, "-c", "gc.cruftPacks=true", "-c", "gc.writeCommitGraph=false",
                   "-c", "gc.autoDetach=false", "gc", "--quiet"]
        env = {**os.environ, "GIT_DIR": str(self.path), "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_TERMINAL_PROMPT": "0"}
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True,
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
        self._baseline = loose_count(self.path / "objects")
        log.debug("packed the mirror %s (%d loose objects left)", self.path, self._baseline)
        return True


def threshold_enabled(threshold: int) -> bool:
    """A threshold of 0 or less turns housekeeping off."""
    return threshold > 0
