"""Where the daemon's resident memory is: a report from inside the daemon process.

A wrapper for ``BENCH_DAEMON_PREFIX`` (bench/daemon_latency.py, bench/soak.py), like
``heapwatch.py``: it runs the daemon in its own process and, on SIGUSR2 and at exit,
writes ``<PROBE_OUT>-<n>.txt``: ``/proc/self/status`` and ``smaps_rollup``, the
resident KiB of each mapping (the Python and malloc heaps, each shared library),
glibc's ``mallinfo2`` (what its arenas hold in use and free), the number of modules,
threads and objects the collector tracks (and has frozen), libgit2's object cache;
and ``<PROBE_OUT>-<n>.modules``, the modules loaded. With ``PROBE_TRACE=<frames>``
it also starts tracemalloc at the first report (so the imports are not traced) and
dumps a snapshot at each later one: ``heapwatch.py --diff`` compares two.

``--attach PID`` is the other half, for ``BENCH_ATTACH``: it signals the daemon once
when started (after the first reconcile of every rollout) and once when stopped
(after the last event), so the reports bracket the events.

Run::

    BENCH_DAEMON_PREFIX="python bench/memprobe.py --" PROBE_OUT=/tmp/probe/daemon \\
    BENCH_ATTACH="python bench/memprobe.py --attach {pid}" \\
    python bench/daemon_latency.py --sizes 1000 --events 200
"""

from __future__ import annotations

import atexit
import collections
import ctypes
import gc
import os
import runpy
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


def mappings() -> collections.Counter[str]:
    """Resident KiB by mapping: a file's base name, or [heap], [anon], [stack]."""
    rss: collections.Counter[str] = collections.Counter()
    name = "[anon]"
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            parts = line.split()
            if "-" in parts[0] and not parts[0].endswith(":"):
                path = parts[5] if len(parts) > 5 else "[anon]"
                name = os.path.basename(path) if path.startswith("/") else path
            elif parts[0] == "Rss:":
                rss[name] += int(parts[1])
    return rss


class Probe:
    def __init__(self, out: str, trace: int) -> None:
        self.out, self.trace, self.count = out, trace, 0
        self.lock = threading.Lock()
        try:
            self.libc: ctypes.CDLL | None = ctypes.CDLL("libc.so.6")
            self.libc.mallinfo2.restype = _MallInfo2
        except (OSError, AttributeError):
            self.libc = None

    def report(self, *_: object) -> None:
        with self.lock:
            self.count += 1
            stem = f"{self.out}-{self.count}"
            lines = [Path("/proc/self/status").read_text(),
                     Path("/proc/self/smaps_rollup").read_text()]
            if self.libc is not None:
                info = self.libc.mallinfo2()
                lines.append(f"mallinfo2 KiB: arena {info.arena >> 10} in use "
                             f"{info.uordblks >> 10} free {info.fordblks >> 10} "
                             f"mmapped {info.hblkhd >> 10}")
            lines.append(f"modules {len(sys.modules)} threads {threading.active_count()} "
                         f"gc-tracked {len(gc.get_objects())} frozen {gc.get_freeze_count()}")
            pygit2 = sys.modules.get("pygit2")
            if pygit2 is not None:
                lines.append(f"libgit2 object cache (used, max) {pygit2.settings.cached_memory}")
            lines += [f"{kib:8d} KiB {name}" for name, kib in mappings().most_common(40)]
            with open(f"{stem}.txt", "w") as f:
                f.write("\n".join(lines) + "\n")
            with open(f"{stem}.modules", "w") as f:
                f.write("\n".join(sorted(sys.modules)) + "\n")
            if self.trace:
                import tracemalloc

                if tracemalloc.is_tracing():
                    tracemalloc.take_snapshot().dump(f"{stem}.pickle")
                else:
                    tracemalloc.start(self.trace)


def attach(pid: int) -> None:
    os.kill(pid, signal.SIGUSR2)

    def stop(*_: object) -> None:
        os.kill(pid, signal.SIGUSR2)
        time.sleep(2)  # the report is written by the daemon's main thread
        raise SystemExit(0)

    # Set explicitly: a process started in the background of a script ignores SIGINT.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while True:
        time.sleep(1)


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--attach"]:
        attach(int(args[1]))
        return
    if args[:1] == ["--"]:
        args = args[1:]
    # What follows is "<python> -m <module> args..." as the bench would run it.
    if len(args) < 3 or args[1] != "-m":
        raise SystemExit("usage: memprobe.py -- <python> -m <module> [args...] | "
                         "memprobe.py --attach PID")
    probe = Probe(os.environ.get("PROBE_OUT", "memprobe"),
                  int(os.environ.get("PROBE_TRACE", "0")))

    def on_signal(signum: int, frame: FrameType | None) -> None:
        probe.report()

    signal.signal(signal.SIGUSR2, on_signal)
    atexit.register(probe.report)
    sys.argv = [args[2], *args[3:]]
    runpy.run_module(args[2], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
