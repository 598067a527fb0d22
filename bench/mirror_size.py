"""The mirror on disk over many releases, packed on a schedule (``adapters/gitpack``)
and, in the same run, not packed at all (what every version before it did).

Each configuration gets its own copy of a 1,000-file fleet repository (the one of
bench/release_cost.py) over ``file://`` and writes ``--releases`` releases through
``Releaser.release(..., push=True)``, the daemon's path, with a person's commit
fetched every tenth release. Every ``--every`` releases it prints the mirror's size
on disk (``du``: allocated blocks), its loose objects and its packs.

Run: ``.venv/bin/python bench/mirror_size.py [--releases 1000] [--every 100]``.
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

from release_cost import make_repo, sh  # noqa: E402

from reconciler.adapters import git, gitpack  # noqa: E402
from reconciler.engine.releaser import Releaser  # noqa: E402


def disk(path: Path) -> tuple[int, int, int]:
    """(bytes allocated, loose objects, packs) of a bare repository."""
    used = int(subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True,
                              check=True).stdout.split()[0]) * 1024
    packs = len(list((path / "objects" / "pack").glob("*.pack")))
    return used, gitpack.loose_count(path / "objects"), packs


def run(bare: Path, work: Path, *, packing: bool, releases: int,
        every: int) -> list[tuple[int, int, int, int, float]]:
    mirror = git.Mirror.open(f"file://{bare}", cache_dir=work, branch="main")
    if not packing:
        mirror.packer = gitpack.Packer(mirror.path, threshold=0)
    releaser = Releaser(mirror)
    clone = work / "person"
    sh("git", "clone", "-q", str(bare), str(clone))
    releaser.snapshot()
    rows = [(0, *disk(mirror.path), 0.0)]
    spent = 0.0
    for n in range(1, releases + 1):
        if n % 10 == 0:
            note = clone / "NOTES.md"
            note.write_text(f"edit {n}\n")
            sh("git", "add", "NOTES.md", cwd=clone)
            sh("git", "commit", "-q", "-m", f"person {n}", cwd=clone)
            sh("git", "pull", "-q", "--rebase", "origin", "main", cwd=clone)
            sh("git", "push", "-q", "origin", "main", cwd=clone)
        started = time.perf_counter()
        result = releaser.release("apps/app0", f"1.1.{n}", push=True)
        spent += time.perf_counter() - started
        assert result.outcome == "pushed", result
        if n % every == 0:
            rows.append((n, *disk(mirror.path), spent / n))
    mirror.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=1000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reconciler-mirror-") as tmp:
        base = make_repo(Path(tmp) / "base", args.files)
        results = {}
        for packing in (True, False):
            name = "packed" if packing else "never packed"
            work = Path(tmp) / name.replace(" ", "-")
            work.mkdir()
            bare = work / "remote.git"
            shutil.copytree(base, bare)
            results[name] = run(bare, work / "cache", packing=packing,
                                releases=args.releases, every=args.every)
    print(f"\nmirror of a {args.files}-file repository over {args.releases} releases "
          f"(a person's commit fetched every 10th)\n")
    print(f"{'releases':>8} | {'packed: MiB':>11} {'loose':>6} {'packs':>5} | "
          f"{'never packed: MiB':>17} {'loose':>6}")
    print("-" * 66)
    for a, b in zip(results["packed"], results["never packed"], strict=True):
        print(f"{a[0]:>8} | {a[1] / 2**20:11.2f} {a[2]:>6} {a[3]:>5} | "
              f"{b[1] / 2**20:17.2f} {b[2]:>6}")
    a, b = results["packed"][-1], results["never packed"][-1]
    print(f"\nmean release, ms: packed {a[4] * 1000:.1f}, never packed {b[4] * 1000:.1f} "
          "(the packing runs inside the releases that trigger it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
