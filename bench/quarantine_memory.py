"""What a failed release leaves in the daemon's memory for ever, in bytes.

A quarantine lasts for ever (DESIGN.md: a failed release is never picked again on
its own), so whatever the daemon's bounded audit trail keeps of a failure beyond its
windows (``core/auditindex``: the newest ``depth`` records and verdicts of each
rollout) grows with every failure for as long as the daemon runs. This measures it:
an index of a fleet whose windows are full, then the same fleet ``--failures``
failures later (every fifth release failed, reverted, its Failed verdict in the
notes; each rollout with tags of its own, ``7.12.0`` for ``apps/app7``), each built
as the daemon builds it (records and verdicts with their own
strings, as parsed from git; the records bounded, indexed per environment and per
rollout as a snapshot does; the verdicts bounded), and traced with tracemalloc once
what the index did not keep is freed. The difference over the failures is the
figure. Baseline in the same run: ``core/auditindex`` as it is at ``--baseline``
(a git revision of this repository), loaded from ``git show``.

Run: ``.venv/bin/python bench/quarantine_memory.py [--rollouts 100] [--failures 3000]
[--baseline main]``.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tracemalloc
import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reconciler.core import auditindex, trailers, verdicts  # noqa: E402
from reconciler.engine.snapshot import Snapshot  # noqa: E402

DEPTH = auditindex.DEFAULT_DEPTH
ENVIRONMENT = "production"
START = 1_790_000_000


def fresh(text: str) -> str:
    """A string of its own, as each record parsed from git has."""
    return text.encode().decode()


def fleet(rollouts: int, releases: int) -> tuple[list[trailers.Record], list[verdicts.Verdict]]:
    """``releases`` releases of each rollout, newest first, every fifth failed: its
    release commit, its revert, and a verdict for each release (Failed with one check)."""
    records: list[trailers.Record] = []
    found: list[verdicts.Verdict] = []
    clock = START
    for j in range(releases):
        for i in range(rollouts):
            clock += 3
            rollout, tag, before = f"apps/app{i}", f"{i}.{j}.0", f"{i}.{j - 1}.0"
            sha = f"{clock:040x}"
            records.append(trailers.Record(
                commit=sha, time=datetime.fromtimestamp(clock, UTC),
                subject=f"{rollout}: {before} -> {tag}", trailers=trailers.Trailers(
                    rollout=fresh(rollout), action="release", release=fresh(tag),
                    previous_release=fresh(before), environment=fresh(ENVIRONMENT))))
            failed = j % 5 == 4
            found.append(verdicts.Verdict(
                commit=sha, rollout=fresh(rollout), release=fresh(tag),
                environment=fresh(ENVIRONMENT), result="Failed" if failed else "Succeeded",
                started=datetime.fromtimestamp(clock + 1, UTC),
                ended=datetime.fromtimestamp(clock + 2, UTC),
                failed=(verdicts.FailedCheck(name=fresh(f"{rollout}-errors"),
                                             message=fresh("error rate 7.1 % > 5 %")),)
                if failed else ()))
            if failed:
                records.append(trailers.Record(
                    commit=f"{clock + 1:040x}", time=datetime.fromtimestamp(clock + 2, UTC),
                    subject=f'Revert "{rollout}: {before} -> {tag}"',
                    trailers=trailers.Trailers(
                        rollout=fresh(rollout), action="revert", release=fresh(before),
                        previous_release=fresh(tag), reverts=sha,
                        reason=fresh("bake failed: apps/app-errors Unhealthy"),
                        environment=fresh(ENVIRONMENT))))
    records.reverse()
    found.reverse()
    return records, found


def held(index: Any, rollouts: int, releases: int) -> int:
    """Bytes the index holds of a fleet of ``releases`` releases a rollout."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    records, found = fleet(rollouts, releases)
    trail = index.bounded(records, depth=DEPTH)
    mine = trail.only(list(trail), environment=ENVIRONMENT)
    snap = Snapshot(commit="0" * 40, inventory=None, history=mine,  # type: ignore[arg-type]
                    fleet_history=trail)
    for i in range(rollouts):
        snap.records(f"apps/app{i}")
    kept = index.bounded_verdicts(found, depth=DEPTH)
    del records, found
    gc.collect()
    size = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del snap, kept
    return int(size)


def baseline(revision: str) -> types.ModuleType:
    source = subprocess.run(["git", "show", f"{revision}:reconciler/core/auditindex.py"],
                            cwd=ROOT, check=True, capture_output=True, text=True).stdout
    module = types.ModuleType(f"auditindex_at_{revision}")
    exec(compile(source, f"{revision}:auditindex.py", "exec"), module.__dict__)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rollouts", type=int, default=100)
    parser.add_argument("--failures", type=int, default=3_000)
    parser.add_argument("--baseline", default="main")
    args = parser.parse_args()
    full = 2 * DEPTH  # releases a rollout: both windows full, and some failures beyond
    more = full + 5 * args.failures // args.rollouts
    failures = args.rollouts * (more // 5 - full // 5)
    print(f"{args.rollouts} rollouts, windows of {DEPTH}, {failures} failures beyond them")
    print(f"{'index':>24} | {'full windows':>12} | {'+ failures':>10} | {'B / failure':>11}")
    for name, index in ((f"baseline ({args.baseline})", baseline(args.baseline)),
                        ("this tree", auditindex)):
        small, big = held(index, args.rollouts, full), held(index, args.rollouts, more)
        print(f"{name:>24} | {small / 1024:9.0f} KiB | {(big - small) / 1024:6.0f} KiB | "
              f"{(big - small) / failures:11.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
