"""A release's write while verdicts are being pushed, through the daemon's own
``Repository.write`` and ``Verdicts``, when the remote holds many notes: this tree,
which pushes a verdict under the notes' own lock (``Mirror.update_note``), beside
``--baseline-rev``, which held the repository's lock (every release's) over it.

Why: a verdict's push walks every note (libgit2 marks the whole notes tree of the
remote's ref as uninteresting, ``adapters/gitnotesrepo``): 30 ms at 10,000 notes, 88
at 100,000, ~2 s at 1,000,000 (bench/notes_apart.py). Under the repository's lock a
release that came meanwhile waited for it.

For each ``--notes`` count: the remote of bench/notes_apart.py (a branch of
``--files`` files and that many notes in one pack), served by git http-backend over
smart HTTP. For each tree (this one; ``--baseline-rev`` unpacked with ``git
archive``), a child process with that tree on its path opens a mirror in an empty
cache directory and loads a ``Repository`` (the daemon's first fetch and snapshot).
Then ``--rounds`` releases alone (a commit of one file, pushed by
``Repository.write``: ``alone``), and ``--rounds`` more while a thread records one
decision after another on the branch's first commit through ``Verdicts.decide`` (the
path of every bake verdict: a note written and pushed), a release every 20 ms
(``during``). Release times in ms (p50, p99 and the longest), the verdict's push
(``verdict p50``) and how many verdicts the thread pushed meanwhile. Last, a burst:
four threads (the daemon's default workers) record four verdicts each at once, as
when many bakes end together (``burst/s``: verdicts a second until the last is
pushed; notes waiting for a push go out together in the next since ``Mirror``'s
batching).

Run: ``.venv/bin/python bench/verdict_contention.py --notes 10000 100000``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATH = "apps/app0.yaml"
WRITERS, EACH = 4, 4  # the burst: the daemon's default four workers


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def child(url: str, rounds: int, cache: Path) -> None:
    """In a process with the tree under test first on its path: the figures, as JSON."""
    from reconciler.adapters.git import Credentials, Mirror
    from reconciler.core import declines
    from reconciler.engine.repository import Repository
    from reconciler.engine.verdicts import Verdicts

    creds = Credentials(username=os.environ["BENCH_GIT_USER"],
                        password=os.environ["BENCH_GIT_PASSWORD"])
    with Mirror.open(url, cache_dir=cache, credentials=creds) as mirror:
        repository = Repository(mirror=mirror)
        first = head = repository.load().commit
        entries = {e.path: e for e in mirror.list_entries(head)}
        text = mirror.read_blob(str(entries[PATH].blob))
        recorder = Verdicts(repository=repository, environment="bench")

        def release(n: int) -> float:
            nonlocal head, text
            text += f"# release {n}\n".encode()
            commit = mirror.commit(parent=head, files={PATH: text}, message=f"Release {n}")
            started = time.perf_counter()
            repository.write(lambda releaser: releaser.mirror.push(commit))
            head = commit
            return (time.perf_counter() - started) * 1000

        alone = [release(n) for n in range(rounds)]
        stop = threading.Event()
        pushed: list[float] = []

        def verdicts() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                decision = declines.Decline(
                    commit=first, rollout="bench/app", release=f"1.0.{n}",
                    environment="bench", number=n, at=datetime.now(UTC))
                started = time.perf_counter()
                recorder.decide(decision)
                pushed.append((time.perf_counter() - started) * 1000)

        thread = threading.Thread(target=verdicts)
        thread.start()
        while not pushed:  # the first verdict's push has begun and ended once
            time.sleep(0.005)
        during = []
        for n in range(rounds, 2 * rounds):
            during.append(release(n))
            time.sleep(0.02)
        stop.set()
        thread.join()

        # A burst: ``WRITERS`` threads recording ``EACH`` verdicts each, as workers do
        # when many bakes end at once; verdicts a second until the last is pushed.
        def burst(w: int) -> None:
            for k in range(EACH):
                recorder.decide(declines.Decline(
                    commit=first, rollout=f"bench/burst{w}", release=f"2.0.{k}",
                    environment="bench", number=10_000 + w * EACH + k,
                    at=datetime.now(UTC)))

        writers = [threading.Thread(target=burst, args=(w,)) for w in range(WRITERS)]
        started = time.perf_counter()
        for t in writers:
            t.start()
        for t in writers:
            t.join()
        burst_s = time.perf_counter() - started
    print(json.dumps({
        "alone p50": statistics.median(alone), "alone p99": _p(alone, 0.99),
        "during p50": statistics.median(during), "during p99": _p(during, 0.99),
        "during max": max(during), "verdict p50": statistics.median(pushed),
        "verdicts": len(pushed), "burst per s": WRITERS * EACH / burst_s}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--baseline-rev", default="4f2db80",
                        help="the revision that pushed a verdict under the repository's lock")
    parser.add_argument("--child", nargs=2, metavar=("URL", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.rounds, Path(args.child[1]))
        return
    sys.path.insert(0, str(ROOT / "bench"))
    import notes_apart

    print(f"{'notes':>9}  {'tree':<10} {'alone p50':>9} {'alone p99':>9} "
          f"{'during p50':>10} {'during p99':>10} {'during max':>10} "
          f"{'verdict p50':>11} {'verdicts':>8} {'burst/s':>8}   (ms)")
    # The baseline first: a child run second has been the slower (an A/A run of
    # bench/daemon_latency.py), which here weighs against this tree.
    trees = {args.baseline_rev: None, "this tree": ROOT}
    for count, label, got in notes_apart.each_child(
            __file__, trees, args.baseline_rev, args.notes, files=args.files,
            rounds=args.rounds):
        print(f"{count:>9,}  {label:<10} {got['alone p50']:>9.1f} "
              f"{got['alone p99']:>9.1f} {got['during p50']:>10.1f} "
              f"{got['during p99']:>10.1f} {got['during max']:>10.1f} "
              f"{got['verdict p50']:>11.1f} {got['verdicts']:>8} "
              f"{got['burst per s']:>8.2f}", flush=True)

if __name__ == "__main__":
    main()
