"""The git work of one release and one revert in a fleet kept in one directory (1,000
and 10,000 manifests side by side), in-process: the snapshot's tree diff after a
commit, and the revert's changes.

Each figure beside its baseline, measured in the same run on the same trees:

* **diff**: ``gitobjects.changed_entries`` between a commit and the next (one file
  changed), as the daemon's snapshot does after every push, the new tree of one diff
  being the old tree of the next; baseline: the raw records of both trees read by the
  loop used before (``before_records``), not kept between diffs.
* **revert**: ``gitobjects.revert_changes`` of a release commit onto a later head that
  changed another file; baseline: git's three-way revert (``Repository.revert_commit``,
  an index of the whole tree, ``write_tree``, a diff), which it used every time before.

Run: ``.venv/bin/python bench/large_tree.py [--sizes 1000,10000] [--rounds 30]``.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconciler.adapters import gitobjects, gittrees

SIG = pygit2.Signature("bench", "bench@example.com", 1_700_000_000, 0)


def before_records(repo: pygit2.Repository, tree: pygit2.Tree) -> set[bytes]:
    """The records loop as it was (the baseline of the diff)."""
    raw = repo.odb.read(tree.id)[1]
    records, pos, end = set(), 0, len(raw)
    while pos < end:
        cut = raw.index(b"\0", pos) + 21
        records.add(raw[pos:cut])
        pos = cut
    return records


def fleet(repo: pygit2.Repository, n: int) -> list[pygit2.Commit]:
    """Commits of a one-directory fleet: the first, then one file changed in each."""
    blobs = {f"app{i}.yaml": repo.create_blob(f"VERSION: '1.0.{i}'\n".encode())
             for i in range(n)}

    def commit(parents: list[pygit2.Oid]) -> pygit2.Commit:
        inner = repo.TreeBuilder()
        for name, oid in blobs.items():
            inner.insert(name, oid, FileMode.BLOB)
        outer = repo.TreeBuilder()
        outer.insert("apps", inner.write(), FileMode.TREE)
        found = repo[repo.create_commit(None, SIG, SIG, "c", outer.write(), parents)]
        assert isinstance(found, pygit2.Commit)
        return found

    out = [commit([])]
    for k in range(40):
        blobs[f"app{k * 7 % n}.yaml"] = repo.create_blob(f"VERSION: '2.0.{k}'\n".encode())
        out.append(commit([out[-1].id]))
    return out


def timed(first: Callable[[], object], second: Callable[[], object],
          rounds: int) -> tuple[float, float]:
    """Median ms of each, after one warm-up run of each, the two alternating."""
    times: tuple[list[float], list[float]] = ([], [])
    first(), second()
    for _ in range(rounds):
        for run, out in ((first, times[0]), (second, times[1])):
            started = time.perf_counter()
            run()
            out.append(time.perf_counter() - started)
    return statistics.median(times[0]) * 1000, statistics.median(times[1]) * 1000


def measure(n: int, rounds: int) -> str:
    repo = pygit2.init_repository(tempfile.mkdtemp(prefix="large-tree-"), bare=True)
    commits = fleet(repo, n)
    pairs = list(itertools.pairwise(commits))[:10]
    suffixes = (".yaml", ".yml")

    def diffs() -> None:
        for old, new in pairs:
            gitobjects.changed_entries(repo, old.tree, new.tree, suffixes)

    def diffs_before() -> None:
        kept = gittrees.records
        gittrees.records = before_records  # type: ignore[assignment]
        try:
            diffs()
        finally:
            gittrees.records = kept
    before, now = (ms / len(pairs) for ms in timed(diffs_before, diffs, rounds))
    release, head = commits[1], commits[-1]  # the head changed other files since

    def three_way() -> dict[str, bytes]:
        index = repo.revert_commit(release, head)
        new = repo[index.write_tree(repo)]
        return {d.new_file.path: repo[d.new_file.id].data
                for d in head.tree.diff_to_tree(new).deltas}

    def revert() -> dict[str, bytes]:
        return gitobjects.revert_changes(repo, target=release, onto=head)
    assert three_way() == revert()
    revert_before, revert_now = timed(three_way, revert, rounds)
    return (f"{n:>6} | {before:11.2f} | {now:8.2f} | {revert_before:13.2f} | "
            f"{revert_now:10.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print(f"{'files':>6} | {'diff before':>11} | {'diff now':>8} | {'revert before':>13} | "
          f"{'revert now':>10}   (ms, median of {args.rounds})")
    for n in (int(s) for s in args.sizes.split(",")):
        print(measure(n, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
