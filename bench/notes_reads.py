"""What reading the bake verdicts costs the daemon: every note against one new note.

``engine/verdicts.Verdicts`` reads every note of ``refs/notes/reconciler`` once, then
only the notes a move of the ref changed. When a worker stepped back from a newer
commit to the one it had read before waiting (two workers asking at once), every note
was read again (fixed in stop 28; docs/performance.md, "Soak"). This prints what
each costs as the history grows: the time, and the peak of Python's allocations
(tracemalloc) that the daemon's allocators then keep room for.

For each ``--rounds N``: a fleet of ``--apps`` rollouts with N earlier releases each
and their verdicts (bench/soak_history.py), mirrored over ``file://``; then the
full read (``read_all`` and the audit bound) and, as the baseline of the same run,
one step (another environment's verdict appended to a note on the remote by git,
fetched, read by ``Verdicts``).

Run: ``.venv/bin/python bench/notes_reads.py --rounds 10 50 150``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# bench/ is not a package; importing daemon_latency also puts the project on sys.path.
import daemon_latency
import soak_history

from reconciler.adapters.git import Mirror
from reconciler.core import auditindex, verdicts
from reconciler.engine import verdicts as verdict_notes
from reconciler.engine.repository import Repository
from tests.support import shardworld

DEPTH = 50  # the daemon's audit depth


def _timed(read: Callable[[], object], *, trace: bool = False) -> tuple[float, float]:
    """How long ``read`` took (ms) and, traced, its peak of Python's allocations (KiB)."""
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    read()
    ms = (time.perf_counter() - started) * 1000
    peak = tracemalloc.get_traced_memory()[1] / 1024 if trace else 0.0
    if trace:
        tracemalloc.stop()
    return ms, peak


def _note(bare: Path, commit: str, n: int) -> None:
    now = datetime.now(UTC)
    text = verdicts.Verdict(commit=commit, rollout="apps/app0", release=f"9.{n}.0",
                            environment=f"env{n}", result="Succeeded",
                            started=now, ended=now).render()
    subprocess.run(["git", "--git-dir", str(bare), "notes", "--ref", "reconciler",
                    "append", "-m", text, commit], check=True, capture_output=True)


def one(work: Path, *, apps: int, rounds: int) -> dict[str, float]:
    bare = daemon_latency.make_repo(work, apps)
    soak_history.seed_history(bare, apps=apps, rounds=rounds, fail_every=5,
                              template=shardworld.APP.replace("{labels}", ""))
    commits = subprocess.run(["git", "--git-dir", str(bare), "rev-list", "main"], check=True,
                             capture_output=True, text=True).stdout.split()
    mirror = Mirror.open(f"file://{bare}", cache_dir=work / "cache")
    with mirror:
        mirror.fetch()
        held = verdict_notes.Verdicts(repository=Repository(mirror=mirror),
                                      environment="default", depth=DEPTH)
        count = len(held.all())

        def full() -> object:
            found, _ = verdict_notes.read_all(mirror)
            return auditindex.bounded_verdicts(found, depth=DEPTH)

        full_ms = statistics.median(_timed(full)[0] for _ in range(3))
        full_kib = _timed(full, trace=True)[1]

        def step(n: int, *, trace: bool = False) -> tuple[float, float]:
            _note(bare, commits[n % len(commits)], n)
            mirror.fetch()
            return _timed(held.all, trace=trace)

        step_ms = statistics.median(step(n)[0] for n in range(3))
        step_kib = step(3, trace=True)[1]
        assert held.full_reads == 1, held.full_reads
    return {"commits": len(commits), "verdicts": count, "full_ms": full_ms,
            "full_kib": full_kib, "step_ms": step_ms, "step_kib": step_kib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, nargs="+", default=[10, 50, 150])
    parser.add_argument("--apps", type=int, default=100)
    args = parser.parse_args()
    print(f"{'rounds':>6} {'commits':>8} {'verdicts':>9} | {'every note':>11} {'peak':>10} | "
          f"{'one step':>9} {'peak':>9}")
    for rounds in args.rounds:
        with tempfile.TemporaryDirectory(prefix="notes-reads-") as tmp:
            r = one(Path(tmp), apps=args.apps, rounds=rounds)
        print(f"{rounds:>6} {r['commits']:>8.0f} {r['verdicts']:>9.0f} | "
              f"{r['full_ms']:>8.1f} ms {r['full_kib']:>6.0f} KiB | "
              f"{r['step_ms']:>6.1f} ms {r['step_kib']:>5.0f} KiB", flush=True)


if __name__ == "__main__":
    main()
