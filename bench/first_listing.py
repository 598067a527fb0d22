"""A 100,000-file repository's first snapshot, its tree listed by ``git ls-tree`` (a
mirror whose first clone checked the commit: ``git.Mirror.checked``) beside the same
snapshot listed by pygit2's walk, in the same run.

The repository is ``bench/big_fleet.py``'s (``git fast-import``, one commit, packed);
its mirror is filled once (``file://``), then each snapshot runs in a fresh process on
a copy of it, with ``Mirror.checked`` set to the head or not, alternating, so that
noise lands on both. Each process prints when git's listing was in hand (git only),
when the ignore rules and the scope were done, when ``git grep`` ended and when the
snapshot did (seconds from its start). Both must find the same 600 files to parse
and the same rollouts.

Run: ``.venv/bin/python bench/first_listing.py [--files 100000] [--pairs 6]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child(source: Path, url: str, listing: str) -> int:
    """One first snapshot on a copy of ``source`` (a filled cache directory)."""
    import reconciler.interfaces.daemon_main  # noqa: F401  (what `reconciler run` loads)
    from reconciler.adapters import git, gitlisting, gitscreen
    from reconciler.core import auditindex
    from reconciler.engine import scanstore, snapshot
    from reconciler.engine.releaser import Releaser

    marks: dict[str, float] = {}
    origin = [0.0]

    def mark(name: str, fn):  # type: ignore[no-untyped-def]
        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            result = fn(*args, **kwargs)
            marks[name] = round(time.perf_counter() - origin[0], 3)
            return result
        return timed

    gitlisting.Listing.whole = mark("listed", gitlisting.Listing.whole)  # type: ignore[method-assign]
    gitscreen.Screen._finish = mark("grep_ended", gitscreen.Screen._finish)  # type: ignore[method-assign]
    snapshot.Scanner._rescope = mark("scoped", snapshot.Scanner._rescope)  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="reconciler-firstlisting-") as tmp:
        cache = Path(tmp) / "cache"
        shutil.copytree(source, cache)
        mirror = git.Mirror.open(url, cache_dir=cache)
        head = mirror.head()
        mirror.last_fetch_objects = 1 << 20  # as after the first fetch: screened at once
        mirror.checked = head if listing == "git" else None
        releaser = Releaser(mirror, audit_depth=auditindex.DEFAULT_DEPTH)
        origin[0] = time.perf_counter()
        snap = releaser.snapshot(fetch=False, store=scanstore.beside(mirror))
        print(json.dumps({"listing": listing, "snapshot": round(snap.stats.seconds, 3),
                          "parsed": snap.stats.parsed, "files": snap.stats.files,
                          "rollouts": len(snap.inventory.rollouts), **marks}), flush=True)
        mirror.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--rollouts", type=int, default=300)
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(Path(args.child[0]), args.child[1], args.child[2])
    from bench import big_fleet
    from reconciler.adapters import git

    with tempfile.TemporaryDirectory(prefix="reconciler-firstlisting-") as tmp:
        work = Path(tmp)
        big_fleet.make_repo(work / "fleet.git", files=args.files, rollouts=args.rollouts)
        url = f"file://{work / 'fleet.git'}"
        git.Mirror.open(url, cache_dir=work / "cache").fetch()
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        results: dict[str, list[dict[str, float]]] = {"git": [], "walk": []}
        for n in range(args.pairs):
            for listing in ("git", "walk") if n % 2 == 0 else ("walk", "git"):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(work / "cache"), url, listing],
                    env=env, check=True, capture_output=True, text=True).stdout
                answer = json.loads(out.splitlines()[-1])
                results[listing].append(answer)
                print(json.dumps(answer), file=sys.stderr)
    git_side, walk_side = results["git"], results["walk"]
    assert {(a["parsed"], a["files"], a["rollouts"]) for a in git_side + walk_side} == \
        {(git_side[0]["parsed"], git_side[0]["files"], git_side[0]["rollouts"])}
    print(f"\n{args.files} files; first snapshot, s, {args.pairs} fresh processes each, "
          f"alternating")
    for name, side in (("git ls-tree", git_side), ("pygit2 walk", walk_side)):
        seconds = sorted(a["snapshot"] for a in side)
        print(f"  {name:12} median {statistics.median(seconds):.3f}  "
              f"({', '.join(f'{s:.2f}' for s in seconds)})")
    for key in ("listed", "scoped", "grep_ended"):
        for name, side in (("git ls-tree", git_side), ("pygit2 walk", walk_side)):
            found = sorted(a[key] for a in side if key in a)
            if found:
                print(f"  {key:10} {name:12} {found[0]:.2f}-{found[-1]:.2f} s after the start")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
