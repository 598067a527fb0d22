"""The first ``Snapshot.records`` of a snapshot: indexing the audit trail by rollout,
once every rollout has more reconciler commits than the daemon keeps in memory (so the
bounded trail counts what it left out of each one, ``core/auditindex``).

The daemon takes a new snapshot after every commit it writes, and its first reconcile
on that snapshot indexes the trail. Baseline in the same run: the index as it was
built before, asking ``auditindex.omitted`` rollout by rollout (each ask reads every
rollout's count). The trail is synthetic: three kept records and 60 left out per
rollout.

Run: ``.venv/bin/python bench/records_index.py [--sizes 1000,10000]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconciler.core import auditindex, trailers
from reconciler.engine.snapshot import Snapshot


def trail(n: int) -> auditindex.Trail:
    now = datetime.now(UTC)
    records = [trailers.Record(
        commit=f"{i:040x}", time=now, subject="release", trailers=trailers.Trailers(
            rollout=f"apps/app{i % n}", action="release", release="1.0.1",
            previous_release="1.0.0", reverts=None, reason=None, environment="prod",
            requested_by=None, step=None, weight=None)) for i in range(3 * n)]
    return auditindex.Trail(records, omitted={("prod", f"apps/app{i}"): 60 for i in range(n)})


def before(history: auditindex.Trail) -> dict[str, auditindex.Trail]:
    """The index as ``Snapshot.records`` built it before (the baseline)."""
    index: dict[str, list[trailers.Record]] = {}
    for record in history:
        index.setdefault(record.trailers.rollout, []).append(record)
    return {k: auditindex.Trail(v, omitted={(None, k): auditindex.omitted(history, k)})
            for k, v in index.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
    print(f"{'rollouts':>8} | {'before ms':>9} | {'now ms':>7}")
    for n in (int(s) for s in args.sizes.split(",")):
        history = trail(n)
        started = time.perf_counter()
        old = before(history)
        old_ms = (time.perf_counter() - started) * 1000
        snap = Snapshot(commit="0" * 40, inventory=None, history=history)  # type: ignore[arg-type]
        started = time.perf_counter()
        snap.records("apps/app0")
        new_ms = (time.perf_counter() - started) * 1000
        assert all(snap.records(k).omitted == v.omitted and list(snap.records(k)) == list(v)
                   for k, v in old.items())
        print(f"{n:>8} | {old_ms:9.1f} | {new_ms:7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
