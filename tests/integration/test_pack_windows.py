"""The mirror's packs do not stay whole in the daemon's memory: libgit2 maps them in
small windows and unmaps the least recently used past a bound (``gitobjects``), so
reading a repository larger than that bound leaves at most the bound resident.

The repository is 16 MiB of incompressible blobs in one pack (``git fast-import``),
four times the bound; every blob is read through the ``Mirror`` as a scan reads
manifests, and the pack's resident pages are read from ``/proc/self/smaps``.
"""

from __future__ import annotations

import hashlib
import random
import re
import subprocess
from pathlib import Path

import pytest

from reconciler.adapters import gitobjects
from reconciler.adapters.git import Mirror
from tests.support import gitrepo

SMAPS = Path("/proc/self/smaps")
BLOBS, BLOB_SIZE = 256, 64 << 10  # 16 MiB
MAPPING = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")

pytestmark = pytest.mark.skipif(not SMAPS.exists(),
                                reason="reads resident pages from Linux's /proc/self/smaps")


def _resident_packs(under: Path) -> int:
    """KiB of this process's mappings of ``.pack`` files under ``under`` now resident."""
    total, name = 0, ""
    for line in SMAPS.read_text().splitlines():
        if MAPPING.match(line):
            fields = line.split(maxsplit=5)
            name = fields[5] if len(fields) > 5 else ""
        elif line.startswith("Rss:") and name.startswith(str(under)) and name.endswith(".pack"):
            total += int(line.split()[1])
    return total


def _big_repo(bare: Path, home: Path) -> dict[str, str]:
    """One commit of ``BLOBS`` random blobs; their paths and sha256 digests."""
    rng = random.Random(7)
    digests: dict[str, str] = {}
    lines = [b"commit refs/heads/main", b"committer r <r@example.com> 1700000000 +0000",
             b"data 4", b"big"]
    for i in range(BLOBS):
        data = rng.randbytes(BLOB_SIZE)
        path = f"data/f{i:03d}.bin"
        digests[path] = hashlib.sha256(data).hexdigest()
        lines += [f"M 100644 inline {path}".encode(), f"data {len(data)}".encode(), data]
    lines.append(b"")
    gitrepo.run_git("fast-import", "--quiet", cwd=bare, home=home,
                    input=b"\n".join(lines) + b"\n")
    return digests


def test_reading_a_pack_four_times_the_bound_leaves_at_most_the_bound_resident(
        tmp_path: Path, git_home: Path) -> None:
    bare = tmp_path / "srv" / "big.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    digests = _big_repo(bare, git_home)
    mirror = Mirror.open(f"file://{bare}", cache_dir=tmp_path / "cache")
    head = mirror.fetch()
    packs = list((mirror.path / "objects" / "pack").glob("*.pack"))
    assert sum(p.stat().st_size for p in packs) > 3 * gitobjects.PACK_MAPPED_LIMIT

    files = dict(mirror.list_files(head, suffixes=(".bin",)))
    peak = 0
    for path, digest in sorted(digests.items()):
        assert hashlib.sha256(mirror.read_blob(files[path])).hexdigest() == digest
        peak = max(peak, _resident_packs(mirror.path))
    # A window in use is never unmapped, so one may stand beyond the bound.
    bound = (gitobjects.PACK_MAPPED_LIMIT + gitobjects.PACK_WINDOW) >> 10
    assert 0 < peak <= bound, f"{peak} KiB of the pack resident, bound {bound} KiB"
