"""The daemon's first snapshot keeps its scans on disk (``Repository(scan_store=...)``),
so a restart with the cache volume kept parses nothing, and finds the same rollouts.

Over ``file://`` against a real bare repository; each "process" is a fresh Mirror,
Releaser and Repository on the same cache directory, as a restarted pod has.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.adapters import scancache
from reconciler.adapters.git import Mirror
from reconciler.engine import scanstore
from reconciler.engine.releaser import Releaser
from reconciler.engine.repository import Repository
from tests.support import gitrepo

ROLLOUT = "apps/podinfo/rollout.yaml"


def _start(url: str, cache_dir: Path) -> tuple[Repository, Mirror]:
    mirror = Mirror.open(url, cache_dir=cache_dir)
    return Repository(mirror=mirror, releaser=Releaser(mirror),
                      scan_store=scanstore.beside(mirror)), mirror


def test_a_restart_reads_the_scans_its_first_start_kept(
        config_repo: gitrepo.BareRepo, cache_dir: Path) -> None:
    first, mirror = _start(config_repo.url, cache_dir)
    snap = first.load()
    assert snap.stats.parsed > 0 and snap.stats.stored == 0
    cache_file = mirror.path / scancache.FILE_NAME
    assert cache_file.is_file()
    kept = cache_file.stat().st_mtime_ns

    # Later snapshots of that process do not rewrite the file (a release would pay).
    head = config_repo.commit({"README.md": "# edited\n"}, "a person's edit")
    first.fetch(interval=1, cap=1)
    assert first.snapshot.commit == head
    assert cache_file.stat().st_mtime_ns == kept
    mirror.close()

    again, mirror = _start(config_repo.url, cache_dir)
    restarted = again.load()
    assert restarted.stats.parsed == 0
    assert restarted.stats.stored == snap.stats.parsed + snap.stats.screened_out
    assert sorted(restarted.inventory.rollouts) == sorted(snap.inventory.rollouts)
    assert restarted.blobs == snap.blobs
    mirror.close()
