"""A release's push, a verdict's push and a fetch through the real ``git.Mirror`` when
the remote holds many notes: this tree, which keeps the notes in a repository of their
own inside the mirror (``adapters/gitnotesrepo``), beside ``--baseline-rev``, which
kept them in the mirror.

Why: libgit2's push marks the whole tree of every ref the remote advertises, and the
pushing repository holds, as uninteresting (``queue_objects``,
``mark_edges_uninteresting``), so with the notes in the mirror every release's push
walked every note ever written (bench/notes_fanout.py).

For each ``--notes`` count: a bare remote with a branch of ``--files`` files
(bench/daemon_latency.py's fleet) and that many notes on made-up commits, in one pack
(``git fast-import``), served by git http-backend over smart HTTP (the tests'
server). Then, for each tree (this one; ``--baseline-rev`` unpacked with
``git archive``), a child process with that tree on its path opens a mirror in an
empty cache directory, fetches (the first fetch: ``first s``), and runs ``--rounds``
rounds of what the daemon does for one release: a commit of one file pushed
(``release push``), a verdict on it pushed (``verdict push``: ``add_note``'s write
and push), a fetch (``fetch``; nothing new). Medians, ms. After the rounds: what
libgit2's object cache holds (``cache KiB``, raw bytes as libgit2 counts them) and
the child's resident memory (``RSS MiB``, ``VmRSS``). The two trees' rows of a count
run one after the other on the same remote, which grows by their rounds' notes.

Run: ``.venv/bin/python bench/notes_apart.py --notes 10000 100000``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The child imports ``reconciler`` from its PYTHONPATH (the tree under test); only the
# parent puts this tree on the path (main), for the tests' HTTP server and the helpers.

REF = "refs/notes/reconciler"
PATH = "apps/app0.yaml"


def _timed(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return (time.perf_counter() - started) * 1000


def child(url: str, rounds: int, cache: Path) -> None:
    """In a process with the tree under test first on its path: the rounds, as JSON."""
    import pygit2

    from reconciler.adapters.git import Credentials, Mirror

    creds = Credentials(username=os.environ["BENCH_GIT_USER"],
                        password=os.environ["BENCH_GIT_PASSWORD"])
    release, verdict, fetch = [], [], []
    with Mirror.open(url, cache_dir=cache, credentials=creds) as mirror:
        started = time.perf_counter()
        head = mirror.fetch()
        first = time.perf_counter() - started
        entries = {e.path: e for e in mirror.list_entries(head)}
        text = mirror.read_blob(str(entries[PATH].blob))
        for n in range(rounds):
            text += f"# release {n}\n".encode()
            commit = mirror.commit(parent=head, files={PATH: text}, message=f"Release {n}")
            release.append(_timed(lambda c=commit: mirror.push(c)))
            head = commit
            verdict.append(_timed(lambda c=commit, i=n: mirror.add_note(
                c, f"Bake: Succeeded {i}\n", REF)))
            fetch.append(_timed(mirror.fetch))
        cache_kib = pygit2.settings.cached_memory[0] / 1024
    rss = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text()
               .splitlines() if line.startswith("VmRSS:"))
    print(json.dumps({"first s": first, "release push": statistics.median(release),
                      "verdict push": statistics.median(verdict),
                      "fetch": statistics.median(fetch), "cache KiB": cache_kib,
                      "RSS MiB": rss / 1024}))


def _remote(work: Path, files: int, notes: int, rng: random.Random) -> Path:
    import daemon_latency
    import notes_fanout
    import pygit2

    bare = daemon_latency.make_repo(work, files)
    repo = pygit2.Repository(str(bare))
    blobs = notes_fanout._blobs(bare, notes, rng)
    sig = pygit2.Signature("reconciler", "reconciler@example.com")
    repo.create_commit(REF, sig, sig, "Notes added by 'git notes add'\n",
                       notes_fanout._tree(repo, blobs, None), [])
    subprocess.run(["git", "--git-dir", str(bare), "repack", "-a", "-d", "-q"], check=True)
    return bare


def _tree_at(rev: str, into: Path) -> Path:
    """The ``reconciler`` package as it was at ``rev``, unpacked under ``into``."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "reconciler"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--baseline-rev", default="8c5e87f",
                        help="the revision that kept the notes in the mirror")
    parser.add_argument("--child", nargs=2, metavar=("URL", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.rounds, Path(args.child[1]))
        return
    print(f"{'notes':>9}  {'tree':<16} {'first s':>8} {'release push ms':>16} "
          f"{'verdict push ms':>16} {'fetch ms':>9} {'cache KiB':>10} {'RSS MiB':>8}")
    trees = {"this tree": ROOT, args.baseline_rev: None}
    for count, label, got in each_child(__file__, trees, args.baseline_rev, args.notes,
                                        files=args.files, rounds=args.rounds):
        print(f"{count:>9,}  {label:<16} {got['first s']:>8.2f} "
              f"{got['release push']:>16.2f} {got['verdict push']:>16.2f} "
              f"{got['fetch']:>9.2f} {got['cache KiB']:>10,.0f} "
              f"{got['RSS MiB']:>8.1f}", flush=True)


def each_child(script: str, trees: dict[str, Path | None], baseline_rev: str,
               counts: list[int], *, files: int, rounds: int) -> Iterator[
                   tuple[int, str, dict[str, Any]]]:
    """For each notes count, a remote served over smart HTTP and ``script --child``
    run once per tree (None: ``baseline_rev`` unpacked), in ``trees``' order: the
    count, the tree's label and the JSON the child printed last."""
    sys.path.insert(0, str(ROOT))
    from tests.support import githttp

    with tempfile.TemporaryDirectory() as scratch:
        paths = {label: tree or _tree_at(baseline_rev, Path(scratch) / "baseline")
                 for label, tree in trees.items()}
        for run, count in enumerate(counts):
            work = Path(scratch) / f"n{run}"
            bare = _remote(work, files, count, random.Random(run))
            with githttp.serve_git_http(work, home=work / "home") as server:
                env = {**os.environ, "BENCH_GIT_USER": server.username,
                       "BENCH_GIT_PASSWORD": server.password}
                for label, tree in paths.items():
                    env["PYTHONPATH"] = str(tree)
                    done = subprocess.run(
                        [sys.executable, script, "--rounds", str(rounds), "--child",
                         server.url_for(bare), str(work / f"cache-{label[:4]}")],
                        env=env, check=True, capture_output=True, text=True)
                    yield count, label, json.loads(done.stdout.strip().splitlines()[-1])

if __name__ == "__main__":
    main()
