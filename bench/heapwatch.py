"""Run a Python program under ``tracemalloc`` and dump heap snapshots while it runs.

A wrapper for ``BENCH_DAEMON_PREFIX`` (bench/soak.py, bench/daemon_latency.py): it
runs the daemon in its own process (so the /proc figures the bench reads are the
daemon's) with tracemalloc on, and writes ``snapshot-<n>.pickle`` into the
directory ``HEAPWATCH_DIR`` every ``HEAPWATCH_EVERY`` seconds (default 120) and on
SIGUSR1, tracing from ``HEAPWATCH_START`` seconds on (default 0). Compare two of
them with ``--diff``: the top growing allocation sites, by traceback.

``HEAPWATCH_MODE=types`` counts live objects by type instead (``gc.get_objects``,
about half a second per count at 800,000 objects, against tracemalloc's slowing of
every allocation, which stalled a daemon holding a fleet's history): each count is
``types-<n>.json``; ``--types OLD NEW`` lists the types that grew.

Run: ``HEAPWATCH_DIR=/tmp/heap BENCH_DAEMON_PREFIX="python bench/heapwatch.py --"
python bench/soak.py --interval 1 --warmup 2 --minutes 10``, then
``python bench/heapwatch.py --diff /tmp/heap/snapshot-2.pickle /tmp/heap/snapshot-6.pickle``.
"""

from __future__ import annotations

import gc
import json
import os
import runpy
import signal
import sys
import threading
import time
import tracemalloc
from pathlib import Path

FRAMES = 12


def diff(old: str, new: str, top: int = 25) -> None:
    before = tracemalloc.Snapshot.load(old)
    after = tracemalloc.Snapshot.load(new)
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__),
              tracemalloc.Filter(False, "<frozen importlib._bootstrap*>")]
    before, after = before.filter_traces(ignore), after.filter_traces(ignore)
    stats = after.compare_to(before, "traceback")
    total = sum(s.size_diff for s in stats)
    print(f"total growth {total / 1024:.1f} KiB over {len(stats)} sites")
    for stat in stats[:top]:
        print(f"\n{stat.size_diff / 1024:+.1f} KiB ({stat.count_diff:+d} blocks), "
              f"now {stat.size / 1024:.1f} KiB")
        for line in stat.traceback.format()[-2 * FRAMES:]:
            print("   ", line)


def count_types() -> dict[str, int]:
    counts: dict[str, int] = {}
    for obj in gc.get_objects():
        name = type(obj).__qualname__
        module = type(obj).__module__
        key = name if module == "builtins" else f"{module}.{name}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def diff_types(old: str, new: str, top: int = 30) -> None:
    before = json.loads(Path(old).read_text())
    after = json.loads(Path(new).read_text())
    hours = (after.pop("t") - before.pop("t")) / 3600
    print(f"{hours * 60:.0f} minutes apart")
    grew = sorted(((after.get(k, 0) - before.get(k, 0), k) for k in {*before, *after}),
                  reverse=True)
    total = sum(after.values()) - sum(before.values())
    print(f"objects tracked by gc: {sum(before.values())} -> {sum(after.values())} "
          f"({total:+d})")
    for n, name in grew[:top]:
        print(f"{n:+9d}  {name}  (now {after.get(name, 0)})")


def main() -> None:
    if sys.argv[1:2] == ["--types"]:
        diff_types(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 30)
        return
    if sys.argv[1:2] == ["--diff"]:
        diff(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 25)
        return
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    # What follows is "<python> -m <module> args..." as the bench would run it.
    if len(args) >= 3 and args[1] == "-m":
        module, argv = args[2], [args[2], *args[3:]]
    else:
        raise SystemExit("usage: heapwatch.py -- <python> -m <module> [args...]")
    where = Path(os.environ.get("HEAPWATCH_DIR", "heapwatch"))
    where.mkdir(parents=True, exist_ok=True)
    every = float(os.environ.get("HEAPWATCH_EVERY", "120"))
    # Tracing from the start makes the imports (the kubernetes client) take minutes:
    # start after HEAPWATCH_START seconds, once the daemon runs (allocations made
    # before are not traced, which a diff of later snapshots does not need).
    start = float(os.environ.get("HEAPWATCH_START", "0"))
    count = [0]
    lock = threading.Lock()

    types = os.environ.get("HEAPWATCH_MODE") == "types"

    def dump(*_: object) -> None:
        if types:
            with lock:
                count[0] += 1
                counts = count_types()
                (where / f"types-{count[0]}.json").write_text(json.dumps(
                    {"t": time.monotonic(), **counts}, sort_keys=True))
            return
        if not tracemalloc.is_tracing():
            return
        with lock:
            count[0] += 1
            tracemalloc.take_snapshot().dump(str(where / f"snapshot-{count[0]}.pickle"))

    def loop() -> None:
        stop = threading.Event()
        stop.wait(start)
        if types:
            dump()
        else:
            tracemalloc.start(FRAMES)
        while not stop.wait(every):
            dump()

    signal.signal(signal.SIGUSR1, dump)
    threading.Thread(target=loop, name="heapwatch", daemon=True).start()
    sys.argv = argv
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
