"""A ``file://`` remote that nobody packs, against one packed as a git server packs it.

libgit2's local transport writes one pack into the remote for every push and never
packs it; git's receive-pack (every server: ``git http-backend``, sshd, the forges)
runs ``git gc --auto`` after a push, so a served repository holds few packs. Every
fetch and push through libgit2 then looks objects up in each of the remote's packs,
so over ``file://`` they slow down the longer a run goes. That was the daemon's CPU
"growth" in the soaks before ``bench/soak.py`` packed its remote (docs/performance.md
"Soak").

Two copies of one fleet repository (bench/release_cost.py's); releases through
``Releaser.release(..., push=True)`` and a fetch, the daemon's path, alternating
between the two copies so both see the same machine; after each push one copy gets
``git gc --auto`` (what receive-pack runs), the other nothing. Every ``--every``
releases: the packs in each remote and the mean ms of a fetch plus a release over
that block.

Run: ``.venv/bin/python bench/remote_packs.py [--releases 600] [--every 100]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package

from release_cost import make_repo  # noqa: E402

from reconciler.adapters import git  # noqa: E402
from reconciler.engine.releaser import Releaser  # noqa: E402


def packs(bare: Path) -> int:
    return len(list((bare / "objects" / "pack").glob("*.pack")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=600)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reconciler-remote-packs-") as tmp:
        base = make_repo(Path(tmp) / "base", args.files)
        sides = {}
        for name in ("gc --auto", "never packed"):
            work = Path(tmp) / name.replace(" ", "-")
            bare = work / "remote.git"
            shutil.copytree(base, bare)
            mirror = git.Mirror.open(f"file://{bare}", cache_dir=work / "cache", branch="main")
            releaser = Releaser(mirror)
            releaser.snapshot()
            sides[name] = (bare, mirror, releaser)
        spent = dict.fromkeys(sides, 0.0)
        print(f"{args.files}-file fleet, a fetch and a release per step, the two remotes "
              f"alternating\n")
        print(f"{'releases':>8} | {'gc --auto: packs':>16} {'ms':>7} | "
              f"{'never packed: packs':>19} {'ms':>7}")
        print("-" * 66)
        for n in range(1, args.releases + 1):
            for name, (bare, mirror, releaser) in sides.items():
                started = time.perf_counter()
                mirror.fetch()
                result = releaser.release("apps/app0", f"1.1.{n}", push=True)
                spent[name] += time.perf_counter() - started
                assert result.outcome == "pushed", result
                if name == "gc --auto":  # as receive-pack does after a push, not timed
                    subprocess.run(["git", "-C", str(bare), "gc", "--auto", "--quiet"],
                                   check=True)
            if n % args.every == 0:
                (a, *_), (b, *_) = sides.values()
                ms = {k: v / args.every * 1000 for k, v in spent.items()}
                print(f"{n:>8} | {packs(a):>16} {ms['gc --auto']:>7.1f} | "
                      f"{packs(b):>19} {ms['never packed']:>7.1f}", flush=True)
                spent = dict.fromkeys(sides, 0.0)
        for _, mirror, _ in sides.values():
            mirror.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
