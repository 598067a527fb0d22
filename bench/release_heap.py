"""Python's heap over many releases in one process: what a release keeps.

The daemon's path without a cluster: ``Releaser.release(..., push=True)`` and the
snapshot after it, with the daemon's bounded audit trail (``auditindex.DEFAULT_DEPTH``),
on a copy of bench/release_cost.py's 1,000-file fleet over ``file://``. After
``--warmup`` releases (caches and bounded windows full), every ``--every`` releases it
prints how many more blocks Python's allocator holds (``sys.getallocatedblocks`` after
a collection), how many more 1 MiB arenas pymalloc holds them in, and the resident
memory, all against the end of the warm-up. A flat
block count is a release that keeps nothing; the strings pygit2 keeps
(adapters/gitnames) showed as ~11 blocks a release, the scan cache bounded by the tree
instead of its own paths as ~8 more until it held 1,100 scans.

Beside them, after a trim (``adapters/malloc``), glibc's figures against the same
point: what its arenas hold in use (``mallinfo2``), what they hold in all (in use and
free), and the process's anonymous resident memory (``RssAnon``). Python's blocks flat
and glibc's in-use flat while its arenas and ``RssAnon`` grow is native memory
fragmented, not kept: the soak's per-release growth (docs/performance.md, "Soak")
reproduced in minutes. ``--transport http`` pushes over smart HTTP
(``tests/support/githttp`` in a process of its own), as the daemon does in production
and in the soak.

``--trace`` also runs tracemalloc from the end of the warm-up and prints the sites that
grew, by traceback (slower).

Run: ``.venv/bin/python bench/release_heap.py [--releases 1500] [--warmup 300]
[--every 200] [--transport file|http] [--trace]``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package

import heapowners  # noqa: E402
from release_cost import make_repo  # noqa: E402

from reconciler.adapters import git, malloc  # noqa: E402
from reconciler.adapters.gitauth import Credentials  # noqa: E402
from reconciler.core import auditindex  # noqa: E402
from reconciler.engine.releaser import Releaser  # noqa: E402


def figures() -> tuple[int, ...]:
    """Python's blocks and arenas, VmRSS, glibc's in use and arenas, RssAnon (KiB but
    the first two)."""
    gc.collect()
    malloc.trim()
    usage = malloc.usage()
    in_use, arena = (usage.in_use, usage.arena) if usage else (0, 0)
    proc = heapowners.status()
    return (sys.getallocatedblocks(), heapowners.pymalloc().get("pymalloc_arenas", 0),
            proc["VmRSS"], in_use, arena, proc["RssAnon"])


SERVE = """
import sys
from pathlib import Path
from tests.support import githttp
with githttp.serve_git_http(Path(sys.argv[1]), home=Path(sys.argv[2])) as server:
    print(server.url_for(Path(sys.argv[3])), server.username, server.password, flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def remote(bare: Path, tmp: Path, transport: str) -> Iterator[tuple[str, Credentials | None]]:
    """The remote's URL and credentials; over HTTP, the server (``git http-backend``
    behind a threaded Python server) runs in a process of its own, as in the soak, so
    that its threads and request log are not counted here."""
    if transport == "file":
        yield f"file://{bare}", None
        return
    # Under heaptrack (LD_PRELOAD) the server would be traced into the same output too.
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "DUMP_HEAPTRACK_OUTPUT")}
    child = subprocess.Popen([sys.executable, "-c", SERVE, str(bare.parent), str(tmp / "http"),
                              str(bare)], cwd=ROOT, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        url, user, password = child.stdout.readline().split()
        yield url, Credentials(username=user, password=password)
    finally:
        child.kill()
        child.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=1500)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--transport", choices=("file", "http"), default="file")
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reconciler-releaseheap-") as tmp:
        bare = make_repo(Path(tmp) / "base", 1000)
        with remote(bare, Path(tmp), args.transport) as (url, credentials):
            mirror = git.Mirror.open(url, cache_dir=Path(tmp) / "cache", branch="main",
                                     credentials=credentials)
            releaser = Releaser(mirror, audit_depth=auditindex.DEFAULT_DEPTH)
            releaser.snapshot()
            base: tuple[int, ...] = ()
            first = None
            print(f"{'releases':>8} | {'Python blocks':>13} | {'arenas':>6} | {'RSS KiB':>8} | "
                  f"{'glibc in use KiB':>16} | {'glibc arenas KiB':>16} | {'RssAnon KiB':>11}")
            for n in range(1, args.releases + 1):
                result = releaser.release("apps/app0", f"1.1.{n}", push=True)
                assert result.outcome == "pushed", result
                releaser.snapshot()
                if n == args.warmup:
                    if args.trace:
                        tracemalloc.start(15)
                        first = tracemalloc.take_snapshot()
                    base = figures()
                elif n > args.warmup and (n - args.warmup) % args.every == 0:
                    now = figures()
                    delta = [b - a for a, b in zip(base, now, strict=True)]
                    print(f"{n:>8} | {delta[0]:>+13} | {delta[1]:>+6} | {delta[2]:>+8} | "
                          f"{delta[3]:>+16} | {delta[4]:>+16} | {delta[5]:>+11}", flush=True)
            if first is not None:
                gc.collect()
                for stat in tracemalloc.take_snapshot().compare_to(first, "traceback")[:8]:
                    print(stat)
                    print("\n".join(stat.traceback.format()[-8:]))
            mirror.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
