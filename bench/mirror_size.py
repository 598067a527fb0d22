"""The mirror on disk over many releases, packed on a schedule (``adapters/gitpack``)
and, in the same run, packed the way it was before (a whole ``git gc`` under the
mirror's lock, inside the release that finds it due) and not packed at all; the
three take their releases in turn, so that the machine's load falls on each alike.

Each configuration gets its own copy of a 1,000-file fleet repository (the one of
bench/release_cost.py) over ``file://`` and writes ``--releases`` releases through
``Releaser.release(..., push=True)``, the daemon's path, with a person's commit
fetched every tenth release. Every ``--every`` releases it prints the mirror's size
on disk (``du``: allocated blocks), its loose objects and its packs; at the end, what
a release took (mean, p99 and the longest: a release that waits for a pack is the
longest).

Run: ``.venv/bin/python bench/mirror_size.py [--releases 1000] [--every 100]
[--files 1000]``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package

from release_cost import make_repo, sh  # noqa: E402

from reconciler.adapters import git, gitpack  # noqa: E402
from reconciler.engine.releaser import Releaser  # noqa: E402


def disk(path: Path) -> tuple[int, int, int]:
    """(bytes allocated, loose objects, packs) of a bare repository."""
    used = int(subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True,
                              check=True).stdout.split()[0]) * 1024
    packs = len(list((path / "objects" / "pack").glob("*.pack")))
    return used, gitpack.loose_count(path / "objects"), packs


MODES = ("packed", "under the lock", "never packed")


class Run:
    """One configuration: its own remote, mirror and person's clone."""

    def __init__(self, bare: Path, work: Path, mode: str) -> None:
        self.mirror = git.Mirror.open(f"file://{bare}", cache_dir=work / "cache",
                                      branch="main")
        if mode == "never packed":
            self.mirror.packer = gitpack.Packer(self.mirror.path, threshold=0)
        elif mode == "under the lock":  # as before: a whole git gc when loose ones pile up
            self.mirror.packer = gitpack.Packer(self.mirror.path, gc_every=1,
                                                max_packs=10**9, gc_share=10**9)
        self.releaser = Releaser(self.mirror)
        self.clone = work / "person"
        sh("git", "clone", "-q", str(bare), str(self.clone))
        self.releaser.snapshot()
        self.rows = [(0, *disk(self.mirror.path), 0.0)]
        self.took: list[float] = []

    def release(self, n: int, every: int) -> None:
        if n % 10 == 0:
            note = self.clone / "NOTES.md"
            note.write_text(f"edit {n}\n")
            sh("git", "add", "NOTES.md", cwd=self.clone)
            sh("git", "commit", "-q", "-m", f"person {n}", cwd=self.clone)
            sh("git", "pull", "-q", "--rebase", "origin", "main", cwd=self.clone)
            sh("git", "push", "-q", "origin", "main", cwd=self.clone)
        started = time.perf_counter()
        result = self.releaser.release("apps/app0", f"1.1.{n}", push=True)
        self.took.append(time.perf_counter() - started)
        assert result.outcome == "pushed", result
        if n % every == 0:
            self.rows.append((n, *disk(self.mirror.path), statistics.mean(self.took)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=1000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reconciler-mirror-") as tmp:
        base = make_repo(Path(tmp) / "base", args.files)
        runs = {}
        for mode in MODES:
            work = Path(tmp) / mode.replace(" ", "-")
            work.mkdir()
            bare = work / "remote.git"
            shutil.copytree(base, bare)
            runs[mode] = Run(bare, work, mode)
        for n in range(1, args.releases + 1):  # in turn: the same load on each
            for run in runs.values():
                run.release(n, args.every)
        for run in runs.values():
            run.mirror.close()
        results = {mode: run.rows for mode, run in runs.items()}
        times = {mode: run.took for mode, run in runs.items()}
    print(f"\nmirror of a {args.files}-file repository over {args.releases} releases "
          f"(a person's commit fetched every 10th)\n")
    print(f"{'releases':>8} | {'packed: MiB':>11} {'loose':>6} {'packs':>5} | "
          f"{'under the lock: MiB':>19} {'loose':>6} {'packs':>5} | "
          f"{'never packed: MiB':>17} {'loose':>6}")
    print("-" * 96)
    for a, u, b in zip(*(results[m] for m in MODES), strict=True):
        print(f"{a[0]:>8} | {a[1] / 2**20:11.2f} {a[2]:>6} {a[3]:>5} | "
              f"{u[1] / 2**20:19.2f} {u[2]:>6} {u[3]:>5} | {b[1] / 2**20:17.2f} {b[2]:>6}")
    print("\nwhat a release took, ms (Releaser.release with its push):\n")
    print(f"{'mirror':>16} | {'mean':>7} | {'p50':>7} | {'p99':>7} | {'longest':>8}")
    for mode in MODES:
        took = sorted(times[mode])
        print(f"{mode:>16} | {statistics.mean(took) * 1000:7.1f} | "
              f"{took[len(took) // 2] * 1000:7.1f} | "
              f"{took[min(len(took) - 1, round(0.99 * (len(took) - 1)))] * 1000:7.1f} | "
              f"{took[-1] * 1000:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
