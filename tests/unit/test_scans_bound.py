"""``engine.scans.Scans`` keeps the current tree's scans plus ``OLDER_VERSIONS``
earlier contents, however many releases rewrite the files: a daemon releasing for
hours holds a fixed number of scans, and a revert (the content its release replaced)
is still found in memory instead of being read and parsed again."""

from __future__ import annotations

from typing import Any, cast

from reconciler.engine import scans

FILES = 20


class Blobs:
    """The mirror's one call ``Scans`` makes (``read_blob``): a Kustomization whose
    substitute is the blob id, and a count of the reads."""

    def __init__(self) -> None:
        self.reads = 0

    def read_blob(self, blob: str) -> bytes:
        self.reads += 1
        return (b"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
                b"metadata:\n  name: app\n  namespace: apps\n  annotations:\n"
                b"    rollout.kuberik.com/substitute.VERSION.from: app\n"
                b"spec:\n  postBuild:\n    substitute:\n      VERSION: " + blob.encode() + b"\n")


def test_the_scans_stay_at_the_tree_plus_the_older_versions_after_many_releases() -> None:
    blobs = Blobs()
    cache = scans.Scans(cast(Any, blobs))
    for i in range(FILES):
        cache.get(f"apps/app{i}.yaml", f"v{i}-0", disk=None, bound=FILES)
    releases = 5 * scans.OLDER_VERSIONS
    for n in range(1, releases + 1):
        path = f"apps/app{n % FILES}.yaml"
        scan, hit = cache.get(path, f"v{n % FILES}-{n}", disk=None, bound=FILES)
        assert hit is None and scan.parsed
        assert len(cache) <= FILES + scans.OLDER_VERSIONS
    assert len(cache) == FILES + scans.OLDER_VERSIONS
    assert blobs.reads == FILES + releases

    # A revert of the last release brings back the content it replaced: in memory.
    last = releases
    replaced = last - FILES  # the same file's previous release
    _, hit = cache.get(f"apps/app{last % FILES}.yaml", f"v{last % FILES}-{replaced}",
                       disk=None, bound=FILES)
    assert hit == "memory"
    assert blobs.reads == FILES + releases


def test_a_large_tree_scanned_in_part_keeps_only_the_older_versions_beyond_its_scans() -> None:
    """A first snapshot screened by git scans 600 of 70,000 files; ``bound`` is the
    whole tree. The cache must still drop older contents once there are
    ``OLDER_VERSIONS`` of them, not once it holds 70,000 scans (it used to: each release
    kept its ~4 KiB scan until then, hundreds of MiB on a large fleet)."""
    blobs = Blobs()
    cache = scans.Scans(cast(Any, blobs))
    tree, scanned = 70_000, FILES
    for i in range(scanned):
        cache.get(f"apps/app{i}.yaml", f"v{i}-0", disk=None, bound=tree)
    releases = 5 * scans.OLDER_VERSIONS
    for n in range(1, releases + 1):
        cache.get(f"apps/app{n % scanned}.yaml", f"v{n % scanned}-{n}", disk=None, bound=tree)
        assert len(cache) <= scanned + scans.OLDER_VERSIONS
    assert len(cache) == scanned + scans.OLDER_VERSIONS

    # The newest content of every file is still in memory: a snapshot finds them all.
    reads = blobs.reads
    for i in range(scanned):
        newest = max(n for n in range(releases + 1) if n % scanned == i)
        _, hit = cache.get(f"apps/app{i}.yaml", f"v{i}-{newest}", disk=None, bound=tree)
        assert hit == "memory"
    assert blobs.reads == reads
