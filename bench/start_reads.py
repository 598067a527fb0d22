"""What a daemon starting on a long history allocates to read it: the audit records
(every reconciler commit, ``Scanner.history``) and the bake verdicts (every git note,
``engine/verdicts``), read whole then bounded, against bounded as they are read.

A daemon keeps, per rollout and environment, what its decisions need
(``core/auditindex``, depth 50). Until stop 29 it read the whole history first and
bounded it after: the peak grew with the history, and pymalloc kept the arenas of
that peak for the daemon's life (docs/performance.md, "A start on a long history").
Now the commits come through a lazy walk straight into the bound
(``arrivals.each``), and the notes a chunk at a time. The baseline of the same run is
the whole read, which the CLI still does (it keeps every record).

For each ``--rounds N``: a fleet of ``--apps`` rollouts with N earlier releases each
and their verdicts (bench/soak_history.py), mirrored over ``file://``; each read is
timed (median of 3) and traced once (tracemalloc: the peak of Python's allocations,
and what is still held after).

Run: ``.venv/bin/python bench/start_reads.py --rounds 50 150``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import daemon_latency  # also puts the project on sys.path
import soak_history
from notes_reads import DEPTH, _timed

from reconciler.adapters.git import Mirror
from reconciler.core import auditindex
from reconciler.engine import arrivals, snapshot
from reconciler.engine import verdicts as verdict_notes
from tests.support import shardworld


def _held(read: Callable[[], object]) -> tuple[float, float]:
    """The peak of Python's allocations while ``read`` ran and what it held after, KiB
    (what it returned is kept alive until measured)."""
    tracemalloc.start()
    kept = read()
    now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    return peak / 1024, now / 1024


def one(work: Path, *, apps: int, rounds: int) -> dict[str, tuple[float, float, float]]:
    bare = daemon_latency.make_repo(work, apps)
    soak_history.seed_history(bare, apps=apps, rounds=rounds, fail_every=5,
                              template=shardworld.APP.replace("{labels}", ""))
    mirror = Mirror.open(f"file://{bare}", cache_dir=work / "cache")
    out = {}
    with mirror:
        head = mirror.fetch()
        reads: dict[str, Callable[[], object]] = {
            "records, whole": lambda: auditindex.bounded(
                arrivals.records(mirror, list(mirror.log(head))), depth=DEPTH),
            "records, bounded": lambda: snapshot.Scanner(mirror, audit_depth=DEPTH)
            .history(head),
            "verdicts, whole": lambda: auditindex.bounded_verdicts(
                verdict_notes.read_all(mirror)[0], depth=DEPTH),
            "verdicts, bounded": lambda: verdict_notes.read_all(mirror, depth=DEPTH)[0],
        }
        for name, read in reads.items():
            ms = statistics.median(_timed(read)[0] for _ in range(3))
            out[name] = (ms, *_held(read))
        out["commits"] = (float(len(list(mirror.log(head)))), 0.0, 0.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, nargs="+", default=[50, 150])
    parser.add_argument("--apps", type=int, default=100)
    args = parser.parse_args()
    print(f"{'commits':>8} {'read':<18} {'time':>9} {'peak':>11} {'held after':>11}")
    for rounds in args.rounds:
        with tempfile.TemporaryDirectory(prefix="start-reads-") as tmp:
            r = one(Path(tmp), apps=args.apps, rounds=rounds)
        commits = r.pop("commits")[0]
        for name, (ms, peak, held) in r.items():
            print(f"{commits:>8.0f} {name:<18} {ms:>6.0f} ms {peak:>7.0f} KiB {held:>7.0f} KiB",
                  flush=True)


if __name__ == "__main__":
    main()
