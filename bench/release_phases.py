"""Where the time of one release goes, phase by phase, at 100 and 10,000 files.

Warm path (the daemon's): fetch, snapshot (incremental scan), build (rewrite and
message), commit (in memory), push. Cold path (what a fresh ``reconciler release``
process adds): interpreter start and imports, and the first snapshot of the tree
(every blob read for the substring screen, every screened file parsed).

Run: ``.venv/bin/python bench/release_phases.py [--runs 20]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import release_cost  # noqa: E402

from reconciler.adapters import git  # noqa: E402
from reconciler.core import planning, trailers  # noqa: E402
from reconciler.engine.releaser import Releaser, write  # noqa: E402
from reconciler.engine.snapshot import Scanner  # noqa: E402

PHASES = ("fetch", "snapshot", "build", "commit", "push")


def warm_phases(bare: Path, work: Path, runs: int) -> dict[str, float]:
    mirror = git.Mirror.open(f"file://{bare}", cache_dir=work / "warm", branch="main")
    releaser = Releaser(mirror)
    releaser.release("apps/app0", "1.1.0", push=True)
    spent: dict[str, list[float]] = {k: [] for k in PHASES}
    for i in range(runs):
        marks = [time.perf_counter()]
        head = mirror.fetch()
        marks.append(time.perf_counter())
        snap = releaser.scanner.snapshot(head)
        marks.append(time.perf_counter())
        changes = planning.changes_for("apps/app0", snap.inventory.targets["apps/app0"],
                                       f"1.2.{i}")
        files = write(snap, changes, mirror)
        message = trailers.release_message(changes, release=f"1.2.{i}", previous=None)
        marks.append(time.perf_counter())
        sha = mirror.commit(parent=head, files=files, message=message)
        marks.append(time.perf_counter())
        mirror.push(sha)
        marks.append(time.perf_counter())
        for name, a, b in zip(PHASES, marks, marks[1:], strict=False):
            spent[name].append((b - a) * 1000)
    return {k: statistics.median(v) for k, v in spent.items()}


def cold_snapshot(bare: Path, work: Path, runs: int) -> float:
    mirror = git.Mirror.open(f"file://{bare}", cache_dir=work / "cold", branch="main")
    head = mirror.fetch()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        Scanner(mirror).snapshot(head)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def startup(runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import reconciler.interfaces.cli"], check=True)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="reconciler-phases-") as tmp:
        for size in (100, 10000):
            work = Path(tmp) / str(size)
            work.mkdir()
            bare = release_cost.make_repo(work, size)
            rows[size] = (warm_phases(bare, work, args.runs),
                          cold_snapshot(bare, work, max(3, args.runs // 4)))
    print(f"\nmedian ms per phase, {args.runs} runs\n")
    print(f"{'phase':<22} | {'100 files':>10} | {'10,000 files':>12}")
    print("-" * 50)
    for phase in PHASES:
        print(f"{'warm: ' + phase:<22} | {rows[100][0][phase]:10.2f} | "
              f"{rows[10000][0][phase]:12.2f}")
    print(f"{'warm: total':<22} | {sum(rows[100][0].values()):10.2f} | "
          f"{sum(rows[10000][0].values()):12.2f}")
    print(f"{'cold: first snapshot':<22} | {rows[100][1]:10.2f} | {rows[10000][1]:12.2f}")
    print(f"{'cold: start + imports':<22} | {startup(5):10.2f} | {'(same)':>12}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
