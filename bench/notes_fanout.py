"""What a bake verdict costs when the notes ref holds many notes, in the writer's one
fan-out level (``ab/cdef...``) beside git's deeper fan-out (``ab/cd/ef...`` once a
level is full: ``determine_fanout`` in git's ``notes.c``), and why the writer keeps
one level.

A verdict is a note written (a notes commit whose tree is rewritten along the note's
path) and then pushed; every release is a push of the branch too. libgit2's push
hides every ref the remote advertises and marks the whole tree of each as
uninteresting (``queue_objects`` and ``mark_edges_uninteresting`` in its
``push.c``/``pack-objects.c``: no sparse walk, unlike git's), so each push, of the
branch or of the notes, visits every note and every notes tree. With one level that
is 257 trees however many notes there are; with git's fan-out, past ~16,000-25,000
notes, up to 65,792.

For each ``--notes`` count: ``git fast-import`` writes that many distinct note blobs
into a bare remote; the notes tree is built over them in each layout, with a branch
of one file, and mirrored (``git clone --mirror``). Then ``--writes`` rounds, each
timed: a verdict written by that layout's writer (one level: this tree's
``adapters/gitnotes``; git's fan-out: the writer of ``--fanout-rev``, the one commit
that wrote it, loaded from git), the notes ref pushed, and a commit of the branch
pushed, all by pygit2 over ``file://``. Medians, ms; the bytes of the trees the
verdict wrote (the root and the subtrees on its path, uncompressed); and what
libgit2's object cache holds after the rounds (KiB, raw object bytes as libgit2
counts them): the trees the pushes walked, which a daemon keeps until its next pack
cycle reopens the mirror. A third row, "notes apart", pushes the branch from a clone
of the branch alone (the notes on the remote as they are): what the mirror pays now
that it keeps the notes in a repository of their own (``adapters/gitnotesrepo``;
bench/notes_apart.py measures the real mirror).

Run: ``.venv/bin/python bench/notes_fanout.py --notes 10000 100000``
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
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pygit2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.adapters import gitnotes
from reconciler.adapters.gitobjects import Author

REF = "refs/notes/reconciler"
AUTHOR = Author(name="reconciler", email="reconciler@example.com")
ROOT = Path(__file__).resolve().parent.parent
SIG = pygit2.Signature(AUTHOR.name, AUTHOR.email)
Entries = list[tuple[str, pygit2.Oid, int]]


def _module_at(rev: str, scratch: Path) -> ModuleType:
    """``reconciler/adapters/gitnotes.py`` as it was at ``rev``, imported."""
    source = subprocess.run(["git", "-C", str(ROOT), "show",
                             f"{rev}:reconciler/adapters/gitnotes.py"],
                            check=True, capture_output=True, text=True).stdout
    path = scratch / f"gitnotes_{rev}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"gitnotes_{rev}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _blobs(bare: Path, count: int, rng: random.Random) -> dict[str, pygit2.Oid]:
    """``count`` distinct note blobs in one pack (``git fast-import``), by made-up
    annotated commit id."""
    names = [f"{rng.getrandbits(160):040x}" for _ in range(count)]
    texts = [f"Bake: Succeeded {n}\n" for n in names]
    stream = "".join(f"blob\nmark :{i + 1}\ndata {len(t)}\n{t}\n" for i, t in enumerate(texts))
    marks = bare / "marks"
    subprocess.run(["git", "--git-dir", str(bare), "fast-import", "--quiet",
                    f"--export-marks={marks}"], input=stream.encode(), check=True)
    ids = dict(line.split() for line in marks.read_text().splitlines())
    return {n: pygit2.Oid(hex=ids[f":{i + 1}"]) for i, n in enumerate(names)}


def _tree(repo: pygit2.Repository, blobs: dict[str, pygit2.Oid],
          fanned: ModuleType | None) -> pygit2.Oid:
    """The notes tree of ``blobs``: fanned out at the root, and below it as git fans
    out a full level when ``fanned`` (the writer that does) is given."""
    groups: dict[str, Entries] = {}
    for name, blob in blobs.items():
        groups.setdefault(name[:2], []).append((name[2:], blob, int(pygit2.GIT_FILEMODE_BLOB)))
    root = repo.TreeBuilder()
    for prefix, entries in groups.items():
        if fanned is not None and fanned._full(e[0] for e in entries):
            oid = fanned._fanned_out(repo, entries)
        else:
            sub = repo.TreeBuilder()
            for entry in entries:
                sub.insert(*entry)
            oid = sub.write()
        root.insert(prefix, oid, pygit2.GIT_FILEMODE_TREE)
    return root.write()


def _children(raw: bytes) -> dict[str, pygit2.Oid]:
    """A raw tree's entries by name (``<mode> <name>\\0<20-byte id>`` each)."""
    out, at = {}, 0
    while at < len(raw):
        nul = raw.index(b"\0", at)
        out[raw[raw.index(b" ", at) + 1:nul].decode()] = pygit2.Oid(raw=raw[nul + 1:nul + 21])
        at = nul + 21
    return out


def _path_bytes(repo: pygit2.Repository, commit: str, name: str) -> int:
    """Bytes of the trees on ``name``'s path in the notes commit ``commit``."""
    node: pygit2.Oid | None = pygit2.Oid(hex=repo.odb.read(commit)[1][5:45].decode())
    total = 0
    while node is not None:
        kind, data = repo.odb.read(node)[:2]
        if kind != pygit2.enums.ObjectType.TREE:
            break
        total += len(data)
        node = _children(data).get(name[:2])
        name = name[2:]
    return total


def _timed(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return (time.perf_counter() - started) * 1000


def _run(work: Path, blobs: dict[str, pygit2.Oid], writer: ModuleType,
         fanned: ModuleType | None, writes: list[str]) -> dict[str, float]:
    remote = pygit2.Repository(str(work / "remote.git"))
    remote.create_commit(REF, SIG, SIG, "notes", _tree(remote, blobs, fanned), [])
    files = remote.TreeBuilder()
    files.insert("release.yaml", remote.create_blob(b"tag: 0\n"), pygit2.GIT_FILEMODE_BLOB)
    remote.create_commit("refs/heads/main", SIG, SIG, "c0", files.write(), [])
    subprocess.run(["git", "clone", "-q", "--mirror", str(work / "remote.git"),
                    str(work / "local.git")], check=True)
    local = pygit2.Repository(str(work / "local.git"))
    origin = local.remotes["origin"]
    write_ms, notes_ms, branch_ms, sizes = [], [], [], []
    for n, sha in enumerate(writes):
        started = time.perf_counter()
        head = writer.write(local, REF, commit=sha, text=f"Bake: Succeeded {sha}\n",
                            author=AUTHOR)
        write_ms.append((time.perf_counter() - started) * 1000)
        notes_ms.append(_timed(lambda: origin.push([f"{REF}:{REF}"])))
        sizes.append(_path_bytes(local, head, sha))
        branch_ms.append(_branch_push(local, f"tag: {n + 1}\n"))
    return {"write": statistics.median(write_ms), "notes push": statistics.median(notes_ms),
            "branch push": statistics.median(branch_ms),
            "tree bytes": statistics.median(sizes),
            "cache": pygit2.settings.cached_memory[0] / 1024}


def _branch_apart(work: Path, rounds: int) -> float:
    """The median branch push from a clone of the branch alone, the remote's notes
    as they are: libgit2 skips a hidden ref whose commit it lacks (``queue_objects``
    tolerates ``GIT_ENOTFOUND``), so the push does not walk the notes tree."""
    subprocess.run(["git", "clone", "-q", "--bare", "--single-branch", "--branch", "main",
                    "--no-local", str(work / "remote.git"), str(work / "apart.git")],
                   check=True, capture_output=True)
    local = pygit2.Repository(str(work / "apart.git"))
    return statistics.median(_branch_push(local, f"apart: {n}\n") for n in range(rounds))


def _branch_push(local: pygit2.Repository, text: str) -> float:
    """A commit of ``main`` whose one file holds ``text``, and the time its push
    took (ms)."""
    parent = local.references["refs/heads/main"].peel(pygit2.Commit)
    files = local.TreeBuilder()
    files.insert("release.yaml", local.create_blob(text.encode()), pygit2.GIT_FILEMODE_BLOB)
    local.create_commit("refs/heads/main", SIG, SIG, text.strip(), files.write(), [parent.id])
    origin = local.remotes["origin"]
    return _timed(lambda: origin.push(["refs/heads/main:refs/heads/main"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--writes", type=int, default=30)
    parser.add_argument("--fanout-rev", default="d43d991",
                        help="the git revision whose writer fans out as git does")
    args = parser.parse_args()
    rng = random.Random(31)
    print(f"{'notes':>9}  {'layout':<14} {'write ms':>9} {'notes push ms':>14} "
          f"{'branch push ms':>15} {'tree bytes':>11} {'cache KiB':>10}")
    with tempfile.TemporaryDirectory() as scratch:
        fanning = _module_at(args.fanout_rev, Path(scratch))
        for run, count in enumerate(args.notes):
            writes = [f"{rng.getrandbits(160):040x}" for _ in range(args.writes)]
            for label, writer, fanned in (("one level", gitnotes, None),
                                          ("git's fan-out", fanning, fanning)):
                work = Path(scratch) / f"{run}-{label[:3]}"
                pygit2.init_repository(str(work / "remote.git"), bare=True)
                blobs = _blobs(work / "remote.git", count, random.Random(run))
                got = _run(work, blobs, writer, fanned, writes)
                print(f"{count:>9,}  {label:<14} {got['write']:>9.2f} "
                      f"{got['notes push']:>14.2f} {got['branch push']:>15.2f} "
                      f"{got['tree bytes']:>11,.0f} {got['cache']:>10,.0f}", flush=True)
                gc.collect()  # the row's repositories, and their object caches, go
                if fanned is None:
                    apart = _branch_apart(work, len(writes))
                    print(f"{count:>9,}  {'notes apart':<14} {'':>9} {'':>14} {apart:>15.2f}",
                          flush=True)


if __name__ == "__main__":
    main()
