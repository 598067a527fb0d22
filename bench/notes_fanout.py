"""Writing a bake verdict into a notes ref that already holds many notes: the notes
tree fanned out one level (``ab/cdef...``, as the writer did until stop 31) beside
the same notes fanned out as git fans them (``ab/cd/ef...`` once a level is full,
``gitnotes._full``).

Every verdict is a notes commit whose tree is rewritten along the note's path. With
one fan-out level the subtree on that path holds notes/256 entries: at 100,000 notes
~390, at 1,000,000 ~3,900 (~260 KB written, hashed, compressed and cached per
verdict). A fleet of 10,000 rollouts releasing once a day reaches 1,000,000 notes in
about three months.

For each ``--notes`` count the script builds the notes tree in both layouts (the
same made-up annotated ids, one shared note blob), then writes ``--writes`` new
verdicts on top of each with the writer of that layout. The baseline is the writer
of ``--baseline`` (a git revision, by default the last one before the change),
loaded from that revision's ``reconciler/adapters/gitnotes.py``; it never fans out
below the root, so it meets the tree it would have written. A third row is a daemon
upgraded on a fleet whose notes the baseline wrote: this writer on the one-level
tree, fanning out each full ``ab/`` the first time a verdict lands in it.

Figures per verdict: the median, p90 and slowest time (ms); the median of the
process's CPU time (it moves less than the wall time when other work shares the
machine); and the bytes of the trees it wrote (the root and the subtrees on the
note's path, uncompressed). And what libgit2's object cache holds after the
``--writes`` verdicts (KiB): the trees they read. A daemon keeps that cache until its
next pack cycle reopens the mirror (``git.Mirror``), so this is how its memory grows
with the number of notes.

Run: ``.venv/bin/python bench/notes_fanout.py --notes 10000 100000 1000000``
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import pygit2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.adapters import gitnotes
from reconciler.adapters.gitobjects import Author

REF = "refs/notes/reconciler"
AUTHOR = Author(name="reconciler", email="reconciler@example.com")
ROOT = Path(__file__).resolve().parent.parent


def _baseline_module(rev: str, scratch: Path) -> ModuleType:
    source = subprocess.run(["git", "-C", str(ROOT), "show",
                             f"{rev}:reconciler/adapters/gitnotes.py"],
                            check=True, capture_output=True, text=True).stdout
    path = scratch / "gitnotes_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("gitnotes_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tree(repo: pygit2.Repository, names: list[str], blob: pygit2.Oid, *,
          git_fanout: bool) -> pygit2.Oid:
    """A notes tree of ``names`` fanned out at the root, and below it as git fans
    out a full level when ``git_fanout`` (else flat below the root)."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name[:2], []).append(name[2:])
    root = repo.TreeBuilder()
    for prefix, rest in groups.items():
        entries = [(n, blob, int(pygit2.GIT_FILEMODE_BLOB)) for n in rest]
        if git_fanout and gitnotes._full(rest):
            oid = gitnotes._fanned_out(repo, entries)
        else:
            sub = repo.TreeBuilder()
            for n in rest:
                sub.insert(n, blob, pygit2.GIT_FILEMODE_BLOB)
            oid = sub.write()
        root.insert(prefix, oid, pygit2.GIT_FILEMODE_TREE)
    return root.write()


def _children(raw: bytes) -> dict[str, pygit2.Oid]:
    """A raw tree's entries by name (``<mode> <name>\\0<20-byte id>`` each)."""
    out, at = {}, 0
    while at < len(raw):
        nul = raw.index(b"\0", at)
        name = raw[raw.index(b" ", at) + 1:nul].decode()
        out[name] = pygit2.Oid(raw=raw[nul + 1:nul + 21])
        at = nul + 21
    return out


def _path_bytes(repo: pygit2.Repository, commit: pygit2.Oid, name: str) -> int:
    """Bytes of the trees on ``name``'s path in the notes commit ``commit``: what the
    verdict that wrote it wrote. Read from the object database, not as objects, so
    the object cache the writes left is what is reported."""
    raw = repo.odb.read(commit)[1]
    node: pygit2.Oid | None = pygit2.Oid(hex=raw[5:45].decode())  # "tree <id>"
    total = 0
    while node is not None:
        kind, data = repo.odb.read(node)[:2]
        if kind != pygit2.enums.ObjectType.TREE:
            break
        total += len(data)
        node = _children(data).get(name[:2])
        name = name[2:]
    return total


def _run(repo: pygit2.Repository, writer: ModuleType, names: list[str], *,
         git_fanout: bool, writes: list[str]) -> dict[str, float]:
    sig = pygit2.Signature(AUTHOR.name, AUTHOR.email)
    blob = repo.create_blob(b"Bake: Succeeded\n")
    tree = _tree(repo, names, blob, git_fanout=git_fanout)
    repo.create_commit(REF, sig, sig, "notes", tree, [])
    cached = pygit2.settings.cached_memory[0]
    times, cpu, heads = [], [], []
    for sha in writes:
        started, started_cpu = time.perf_counter(), time.process_time()
        heads.append(writer.write(repo, REF, commit=sha, text=f"Bake: Succeeded {sha}\n",
                                  author=AUTHOR))
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    cached = pygit2.settings.cached_memory[0] - cached
    sizes = [_path_bytes(repo, pygit2.Oid(hex=head), sha)
             for head, sha in zip(heads, writes, strict=True)]
    times.sort()
    return {"median_ms": statistics.median(times),
            "p90_ms": times[int(len(times) * 0.9)], "cpu_ms": statistics.median(cpu),
            "tree_bytes": statistics.median(sizes), "max_ms": times[-1],
            "cache_kib": cached / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--baseline", default="86de941",
                        help="git revision whose gitnotes writer is the baseline")
    args = parser.parse_args()
    rng = random.Random(31)
    with tempfile.TemporaryDirectory() as scratch:
        before = _baseline_module(args.baseline, Path(scratch))
        print(f"{'notes':>9}  {'layout':<22} {'median ms':>10} {'p90 ms':>8} "
              f"{'cpu ms':>7} {'tree bytes':>11} {'max ms':>8} {'cache KiB':>10}")
        for run, count in enumerate(args.notes):
            names = [f"{rng.getrandbits(160):040x}" for _ in range(count)]
            writes = [f"{rng.getrandbits(160):040x}" for _ in range(args.writes)]
            for row, (label, writer, fanned) in enumerate((
                    ("one level (baseline)", before, False),
                    ("git's fan-out", gitnotes, True),
                    ("one level, upgraded", gitnotes, False))):
                repo = pygit2.init_repository(
                    str(Path(scratch) / f"{run}-{row}.git"), bare=True)
                got = _run(repo, writer, names, git_fanout=fanned, writes=writes)
                print(f"{count:>9,}  {label:<22} {got['median_ms']:>10.2f} "
                      f"{got['p90_ms']:>8.2f} {got['cpu_ms']:>7.2f} "
                      f"{got['tree_bytes']:>11,.0f} {got['max_ms']:>8.2f} "
                      f"{got['cache_kib']:>10,.0f}", flush=True)
                del repo
                gc.collect()  # its object cache goes with it


if __name__ == "__main__":
    main()
