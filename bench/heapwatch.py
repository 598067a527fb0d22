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

``HEAPWATCH_TRIM=1`` (stats mode) hands glibc's free pages back (``malloc_trim``)
before each dump and records how long that took (``trim_ms``): the resident figures
are then a floor, what is live and what pymalloc's arenas keep, instead of whatever
glibc has touched again since the daemon's own last trim.

``HEAPWATCH_MODE=stats`` writes only ``stats-<n>.json`` (bench/heapowners.py:
/proc figures, resident KiB by mapping, glibc's mallinfo2, pymalloc's arenas): it
does not touch the collector, so a soak under it runs as without it. In types mode
the same figures go beside the counts, and ``HEAPWATCH_OWNERS=set,dict`` labels
every live object of those types by who holds it (``heapowners.owners``; a few
seconds of the daemon's time per count). ``HEAPWATCH_UNTRACKED=1`` adds what the
collector does not track (strings, bytes, numbers, datetimes, dicts and tuples of
those), per type in bytes (``--untracked OLD NEW``), and lets ``HEAPWATCH_OWNERS``
name ``str``, ``bytes``, ``int``, ``float``, ``datetime`` too (any other name is a
type's, as ``--types`` prints it). ``--series DIR [MINUTES]``
prints the figures of every dump with their slope per hour from MINUTES on (and what
is live apart from the allocators: ``live_kib``, Python's bytes in use plus the C
allocator's less libgit2's bounded object cache); ``--owners OLD NEW``
the owners that grew.

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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import heapowners
import soaktrend

FRAMES = 12
WINDOW = 10.0  # minutes, for the slope of --series by windows


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


def count_types(owner_kinds: tuple[type | str, ...] = ()) -> dict[str, Any]:
    """Live objects the collector tracks, by type. The daemon freezes what its first
    reconcile built (``engine/heap``), and frozen objects are not listed: with
    ``HEAPWATCH_UNFREEZE=1`` they are unfrozen for the count and everything is frozen
    again after it (else a record replacing a frozen one counts as growth)."""
    counts: dict[str, int] = {"(frozen, not counted)": gc.get_freeze_count()}
    extra: dict[str, Any] = {}
    unfreeze = os.environ.get("HEAPWATCH_UNFREEZE") == "1"
    if unfreeze:
        gc.unfreeze()
        counts["(frozen, not counted)"] = 0
        # Collect before freezing again: else the young generation's cyclic garbage
        # of this instant would be frozen, never to be collected (a leak of the probe's
        # own making). What it finds among the unfrozen is reported.
        extra["collected_after_unfreeze"] = gc.collect()
    found = gc.get_objects()
    for obj in found:
        name = type(obj).__qualname__
        module = type(obj).__module__
        key = name if module == "builtins" else f"{module}.{name}"
        counts[key] = counts.get(key, 0) + 1
    loose: list[object] = []
    if os.environ.get("HEAPWATCH_UNTRACKED") == "1":
        started = time.monotonic()
        extra["untracked"], loose = heapowners.untracked(found)
        extra["untracked_seconds"] = round(time.monotonic() - started, 1)
    if owner_kinds:
        started = time.monotonic()
        extra["owners"] = heapowners.owners(found, owner_kinds, loose)
        extra["owners_seconds"] = round(time.monotonic() - started, 1)
    del found, loose
    if unfreeze:
        gc.freeze()
    return {**counts, "_extra": extra}


def diff_types(old: str, new: str, top: int = 30) -> None:
    before = json.loads(Path(old).read_text())
    after = json.loads(Path(new).read_text())
    for d in (before, after):
        d.pop("_extra", None)
        d.pop("stats", None)
    hours = (after.pop("t") - before.pop("t")) / 3600
    print(f"{hours * 60:.0f} minutes apart")
    grew = sorted(((after.get(k, 0) - before.get(k, 0), k) for k in {*before, *after}),
                  reverse=True)
    total = sum(after.values()) - sum(before.values())
    print(f"objects tracked by gc: {sum(before.values())} -> {sum(after.values())} "
          f"({total:+d})")
    for n, name in grew[:top]:
        print(f"{n:+9d}  {name}  (now {after.get(name, 0)})")


def diff_untracked(old: str, new: str, top: int = 20) -> None:
    """The untracked objects (``HEAPWATCH_UNTRACKED=1``) by type: what grew, in bytes."""
    before = json.loads(Path(old).read_text())["_extra"]["untracked"]
    after = json.loads(Path(new).read_text())["_extra"]["untracked"]
    rows = sorted(((after.get(k, [0, 0])[0] - before.get(k, [0, 0])[0],
                    after.get(k, [0, 0])[1] - before.get(k, [0, 0])[1], k)
                   for k in {*before, *after}), key=lambda r: -abs(r[1]))
    print("objects      bytes  type (now: objects, bytes)")
    for n, size, kind in rows[:top]:
        print(f"{n:+7d} {size:+10d}  {kind}  (now {after.get(kind, [0, 0])})")


def diff_owners(old: str, new: str, top: int = 30) -> None:
    before = json.loads(Path(old).read_text())["_extra"]["owners"]
    after = json.loads(Path(new).read_text())["_extra"]["owners"]
    rows = sorted(((after.get(k, [0, 0])[0] - before.get(k, [0, 0])[0],
                    after.get(k, [0, 0])[1] - before.get(k, [0, 0])[1], k)
                   for k in {*before, *after}), key=lambda r: -(abs(r[0]) + abs(r[1])))
    print("objects  total len  holder (now: objects, len)")
    for n, size, label in rows[:top]:
        print(f"{n:+7d} {size:+10d}  {label}  (now {after.get(label, [0, 0])})")


def _derived(figures: dict[str, Any]) -> dict[str, int]:
    """What the daemon holds live, apart from how its allocators keep it: Python's
    bytes in use (pymalloc's allocated blocks) and the C allocator's bytes in use
    less libgit2's object cache (bounded at 32 MiB and emptied at every reopen)."""
    if "malloc_in_use_kib" not in figures or "libgit2_cache_kib" not in figures:
        return {}
    c_live = figures["malloc_in_use_kib"] - figures["libgit2_cache_kib"]
    out = {"live_c_less_cache_kib": c_live}
    if "pymalloc_allocated_kib" in figures:
        out["live_kib"] = figures["pymalloc_allocated_kib"] + c_live
    return out


def series(where: str, after: float = 0.0) -> None:
    """Every figure of the dumps in ``where``, and its least-squares slope per hour
    over the dumps from ``after`` seconds on."""
    dumps = []
    for path in Path(where).glob("*.json"):
        data = json.loads(path.read_text())
        figures = data.get("stats") or {}
        if figures:
            dumps.append((data["t"], {**figures, **_derived(figures)}))
    dumps.sort(key=lambda d: d[0])
    t0 = dumps[0][0]
    keys = sorted({k for _, f in dumps for k in f})
    print(f"{'minute':>26} " + " ".join(f"{(t - t0) / 60:8.1f}" for t, _ in dumps))
    for k in keys:
        print(f"{k:>26} " + " ".join(f"{f.get(k, 0):8}" for _, f in dumps))
    used = [(t - t0, f) for t, f in dumps if t - t0 >= after]
    if len(used) < 3:
        return
    print(f"slope per hour over {len(used)} dumps from {after / 60:.0f} min (95 %: every dump"
          f" read as independent; then by the means of {WINDOW:g}-minute windows and by their"
          " lowest dumps, Student's t):")
    for k in keys:
        points = [(t / 3600, float(f[k])) for t, f in used if k in f]
        slope, half = soaktrend.fit(points)
        found = soaktrend.windows([{"t": t, k: f[k]} for t, f in used if k in f], k,
                                  minutes=WINDOW)
        by, by_half = soaktrend.fit([(h, m) for h, m, _ in found])
        low, low_half = soaktrend.fit([(h, f) for h, _, f in found])
        print(f"  {k:24} {slope:+12.1f} ± {half:9.1f}/h  by windows {by:+12.1f} ± "
              f"{by_half:9.1f}/h  floors {low:+10.1f} ± {low_half:8.1f}/h  "
              f"({points[0][1]:.0f} -> {points[-1][1]:.0f})")


def main() -> None:
    if sys.argv[1:2] == ["--series"]:
        series(sys.argv[2], float(sys.argv[3]) * 60 if len(sys.argv) > 3 else 0.0)
        return
    if sys.argv[1:2] == ["--owners"]:
        diff_owners(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 30)
        return
    if sys.argv[1:2] == ["--untracked"]:
        diff_untracked(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 20)
        return
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

    mode = os.environ.get("HEAPWATCH_MODE", "")
    trim = os.environ.get("HEAPWATCH_TRIM", "") == "1"
    if trim:
        from reconciler.adapters import malloc
    types = mode in ("types", "stats")
    kinds = {"set": set, "dict": dict, "list": list, "tuple": tuple, "frozenset": frozenset,
             **{k.__name__: k for k in heapowners.ATOMS}}
    # Any other name is a type's, matched by name (``urllib3.exceptions.ProtocolError``).
    owner_kinds = tuple(kinds.get(k, k) for k in os.environ.get("HEAPWATCH_OWNERS", "").split(",")
                        if k)

    def dump(*_: object) -> None:
        if types:
            with lock:
                count[0] += 1
                started = time.perf_counter()
                if trim:
                    malloc.trim()
                trimmed_ms = (time.perf_counter() - started) * 1000
                figures = heapowners.stats()
                if trim:
                    figures["trim_ms"] = round(trimmed_ms, 2)
                if mode == "stats":
                    (where / f"stats-{count[0]}.json").write_text(json.dumps(
                        {"t": time.monotonic(), "stats": figures}, sort_keys=True))
                    return
                counts = count_types(owner_kinds)
                (where / f"types-{count[0]}.json").write_text(json.dumps(
                    {"t": time.monotonic(), "stats": figures, **counts}, sort_keys=True))
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
