"""Python's heap over many releases in one process: what a release keeps.

The daemon's path without a cluster: ``Releaser.release(..., push=True)`` and the
snapshot after it, with the daemon's bounded audit trail (``auditindex.DEFAULT_DEPTH``),
on a copy of bench/release_cost.py's 1,000-file fleet over ``file://``. After
``--warmup`` releases (caches and bounded windows full), every ``--every`` releases it
prints how many more blocks Python's allocator holds (``sys.getallocatedblocks`` after
a collection) and the resident memory, both against the end of the warm-up. A flat
block count is a release that keeps nothing; the strings pygit2 keeps
(adapters/gitnames) showed as ~11 blocks a release, the scan cache bounded by the tree
instead of its own paths as ~8 more until it held 1,100 scans.

``--trace`` also runs tracemalloc from the end of the warm-up and prints the sites that
grew, by traceback (slower).

Run: ``.venv/bin/python bench/release_heap.py [--releases 1500] [--warmup 300]
[--every 200] [--trace]``.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package

from release_cost import make_repo  # noqa: E402

from reconciler.adapters import git  # noqa: E402
from reconciler.core import auditindex  # noqa: E402
from reconciler.engine.releaser import Releaser  # noqa: E402


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=1500)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reconciler-releaseheap-") as tmp:
        bare = make_repo(Path(tmp) / "base", 1000)
        mirror = git.Mirror.open(f"file://{bare}", cache_dir=Path(tmp) / "cache", branch="main")
        releaser = Releaser(mirror, audit_depth=auditindex.DEFAULT_DEPTH)
        releaser.snapshot()
        blocks = rss = 0
        first = None
        print(f"{'releases':>8} | {'Python blocks':>13} | {'RSS KiB':>8}")
        for n in range(1, args.releases + 1):
            result = releaser.release("apps/app0", f"1.1.{n}", push=True)
            assert result.outcome == "pushed", result
            releaser.snapshot()
            if n == args.warmup:
                gc.collect()
                if args.trace:
                    tracemalloc.start(15)
                    first = tracemalloc.take_snapshot()
                blocks, rss = sys.getallocatedblocks(), rss_kib()
            elif n > args.warmup and (n - args.warmup) % args.every == 0:
                gc.collect()
                print(f"{n:>8} | {sys.getallocatedblocks() - blocks:>+13} | "
                      f"{rss_kib() - rss:>+8}", flush=True)
        if first is not None:
            gc.collect()
            for stat in tracemalloc.take_snapshot().compare_to(first, "traceback")[:8]:
                print(stat)
                print("\n".join(stat.traceback.format()[-8:]))
        mirror.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
