"""The soak's probes and its report (bench/soak.py): what is read from the daemon's
``/proc`` entry, its ``/metrics`` and the remote every sample, and the table printed
at the end (or again from a file written with ``--out``: ``soak.py --report``).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import re
import statistics
import types
import urllib.request
from pathlib import Path
from typing import Any

# bench/ is not a package: bench/soak.py put this directory on sys.path.
import daemon_latency
import heapowners
import soaktrend

SAMPLE_EVERY = 10.0  # seconds
SETTLE_TIMEOUT = 60.0  # seconds from the offer to a settled bake


def proc_figures(pid: int) -> dict[str, float]:
    """Memory (KiB), threads, fds by kind and CPU seconds of a live process."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = float(value.split()[0])
        elif key == "Threads":
            out["threads"] = float(value)
    out.update(mirror_mapped(pid))
    if "mirror_idx" in out:
        out["rss_less_mirror"] = out["VmRSS"] - out["mirror_idx"] - out["mirror_pack"]
    out["tasks"] = float(len(os.listdir(f"/proc/{pid}/task")))
    kinds = {"socket": 0, "pipe": 0, "anon": 0, "file": 0}
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except FileNotFoundError:
            continue
        kind = target.split(":", 1)[0] if target.startswith(("socket:", "pipe:")) else (
            "anon" if target.startswith("anon_inode:") else "file")
        kinds[kind] += 1
    out["fds"] = float(sum(kinds.values()))
    out.update({f"fd_{k}": float(v) for k, v in kinds.items()})
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    out["cpu_s"] = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return out


def mirror_mapped(pid: int) -> dict[str, float]:
    """KiB of the mirror's pack files resident in the process (``/proc/<pid>/smaps``):
    libgit2 maps each pack's index whole and the pack in windows (``gitobjects``), so
    these pages are the repository's, and grow with its history, not the daemon's
    own memory; ``VmRSS`` counts them (in ``RssFile``). ``mirror_idx``, ``mirror_pack``
    and ``rss_less_mirror`` (``VmRSS`` less both)."""
    idx = pack = 0
    try:
        for path, kib, _ in heapowners.resident(pid):
            if "/objects/pack/" in path:
                if path.endswith(".idx"):
                    idx += kib
                else:
                    pack += kib
    except OSError:
        return {}
    return {"mirror_idx": float(idx), "mirror_pack": float(pack)}


def disk_usage(path: Path) -> tuple[int, int]:
    """(bytes allocated, number of files) under ``path``."""
    size = files = 0
    for root, _, names in os.walk(path):
        for name in names:
            try:
                size += os.lstat(os.path.join(root, name)).st_blocks * 512
                files += 1
            except FileNotFoundError:
                continue
    return size, files


METRIC = re.compile(r'^reconciler_(\w+?)_total(?:\{(\w+)="([^"]*)"\})? ([0-9.e+]+)$', re.M)


def scrape(port: int) -> dict[str, float]:
    """The daemon's counters from /metrics, e.g. ``releases``, ``bake_outcomes.Succeeded``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for name, _, value, number in METRIC.findall(text):
        key = f"{name}.{value}" if value else name
        out[key] = out.get(key, 0.0) + float(number)
    return out


def commits(bare: Path) -> int:
    return int(daemon_latency.sh("git", "--git-dir", str(bare), "rev-list", "--count",
                                 "main").strip())


def slope(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope of (t, y) and its 95% half-width, every sample read as
    independent (``soaktrend.fit``; the trend by windows is ``soaktrend.lines``)."""
    return soaktrend.fit(points)


def fmt_kib(v: float) -> str:
    return f"{v / 1024:.1f}"


def report(soak: Any, args: argparse.Namespace) -> int:
    samples = soak.samples
    synced = samples[0]
    after = [s for s in samples if s["phase"] in ("soak", "end")]
    if len(after) < 2:
        print("too few samples after the warm-up for a verdict")
        return 1
    start, last = after[0], after[-1]
    half = [s for s in after if s["t"] >= (start["t"] + last["t"]) / 2]
    print(f"\nsoak: {args.rollouts} rollouts over {args.transport}, {args.warmup:g} min warm-up"
          f" + {args.minutes:g} min,"
          f" a tag every {args.interval:g} s (±20%){_warmup_rate(args)},"
          f" 1 release in {args.fail_every} fails;"
          f" {len(after)} samples every {SAMPLE_EVERY:.0f} s after the warm-up\n")
    head = (f"{'':16} | {'synced':>8} | {'start':>8} | {'peak':>8} | {'end':>8} | "
            f"{'end-start':>9} | {'slope /min (95%)':>18} | {'2nd half /min':>13}")
    print(head)
    print("-" * len(head))
    # (label, key, scale of the levels, scale of the slope, unit of the slope)
    rows = [("RSS MiB", "VmRSS", 1 / 1024, 1.0, "KiB"),
            ("RssAnon MiB", "RssAnon", 1 / 1024, 1.0, "KiB"),
            ("RssFile MiB", "RssFile", 1 / 1024, 1.0, "KiB"),
            ("mirror idx MiB", "mirror_idx", 1 / 1024, 1.0, "KiB"),
            ("mirror pack MiB", "mirror_pack", 1 / 1024, 1.0, "KiB"),
            ("RSS-mirror MiB", "rss_less_mirror", 1 / 1024, 1.0, "KiB"),
            ("open fds", "fds", 1.0, 1.0, ""), ("threads", "threads", 1.0, 1.0, ""),
            ("mirror MiB", "mirror_bytes", 1 / 2**20, 1 / 1024, "KiB")]
    for label, key, scale, per_min, unit in rows:
        if not all(key in s for s in samples):
            continue  # samples of an older soak
        rate, ci = slope([(s["t"] / 60, s[key]) for s in after])
        rate2, _ = slope([(s["t"] / 60, s[key]) for s in half])
        peak = max(s[key] for s in after)
        print(f"{label:16} | {synced[key] * scale:8.1f} | {start[key] * scale:8.1f} | "
              f"{peak * scale:8.1f} | {last[key] * scale:8.1f} | "
              f"{(last[key] - start[key]) * scale:+9.1f} | "
              f"{rate * per_min:+8.1f} ±{ci * per_min:5.1f} {unit:3} | "
              f"{rate2 * per_min:+9.1f} {unit:3}")
    # The slopes above read every sample as independent; by windows, what the run resolves.
    print("\n" + "\n".join(soaktrend.lines(samples)))
    cpu = [(b["cpu_s"] - a["cpu_s"]) / (b["t"] - a["t"]) * 100
           for a, b in itertools.pairwise(after)]
    third = max(1, len(cpu) // 3)
    m = last
    settle = sorted(soak.settled, key=lambda x: x[0])
    early = [d for t, d, _ in settle if t >= (start["t"])][:100]
    late = [d for _, d, _ in settle][-100:]
    stall = 0.0
    run = 0.0
    for a, b in itertools.pairwise(samples[1:]):
        run = run + (b["t"] - a["t"]) if b["commits"] == a["commits"] else 0.0
        stall = max(stall, run)
    print()
    print(f"peak RSS (kernel high-water mark VmHWM): {m['VmHWM'] / 1024:.1f} MiB")
    print(f"fds at the end by kind: socket {m['fd_socket']:.0f}, pipe {m['fd_pipe']:.0f}, "
          f"file {m['fd_file']:.0f}, anon {m['fd_anon']:.0f}; watches open "
          f"{synced['watches']} → {m['watches']}")
    print(f"daemon CPU: {statistics.mean(cpu[:third]):.1f}% (first third) → "
          f"{statistics.mean(cpu[-third:]):.1f}% (last third)")
    print(f"tags offered {soak.offered}; settled {len(soak.settled)} "
          f"({sum(1 for *_, o in soak.settled if o == 'Succeeded')} Succeeded, "
          f"{sum(1 for *_, o in soak.settled if o == 'Failed')} Failed, "
          f"{sum(1 for *_, o in soak.settled if o == 'Cancelled')} Cancelled); "
          f"not settled within {SETTLE_TIMEOUT:.0f} s: {len(soak.stuck)}")
    print(f"daemon counters: releases {m.get('m_releases', 0):.0f}, reverts "
          f"{sum(v for k, v in m.items() if k.startswith('m_reverts')):.0f}, bakes succeeded "
          f"{m.get('m_bake_outcomes.Succeeded', 0):.0f} / failed "
          f"{m.get('m_bake_outcomes.Failed', 0):.0f} / cancelled "
          f"{m.get('m_bake_outcomes.Cancelled', 0):.0f}; reconciles "
          + ", ".join(f"{r} {m.get(f'm_reconciles.{r}', 0):.0f}"
                      for r in ("ok", "retry", "stalled", "error")))
    print(f"commits on the remote: {synced['commits']} synced → {start['commits']} start → "
          f"{m['commits']} end; longest run of samples without a new commit: {stall:.0f} s")
    print(f"mirror files: {synced['mirror_files']} synced → {start['mirror_files']} start → "
          f"{m['mirror_files']} end")
    if early and late:
        print(f"offer → bake settled, s: p50 {statistics.median(early):.2f} / max "
              f"{max(early):.2f} (first 100 after warm-up) vs p50 {statistics.median(late):.2f}"
              f" / max {max(late):.2f} (last 100)")
    api = [s["api_requests"] / SAMPLE_EVERY for s in after[:-1]]
    print(f"API requests from the daemon per s: {statistics.mean(api[:third]):.1f} (first third)"
          f" → {statistics.mean(api[-third:]):.1f} (last third)")
    if soak.flux.errors:
        print(f"Flux player errors: {soak.flux.errors}")
    if soak.stuck:
        print("not settled: " + "; ".join(soak.stuck[:10]))
    if soak.stuck or stall >= args.stall:
        print("LIVENESS: releases stopped landing")
        return 2
    return 0


def _warmup_rate(args: argparse.Namespace) -> str:
    """The warm-up's own rate where --warmup-interval set one (absent from older files)."""
    faster = getattr(args, "warmup_interval", None)
    return "" if faster in (None, args.interval) else f" ({faster:g} s in the warm-up)"


def write_samples(path: Path, soak: Any, args: argparse.Namespace) -> None:
    """The samples so far, written whole to a file beside ``path`` and renamed over
    it: a reader (or a soak killed mid-write) never sees half a file."""
    partial = path.with_name(path.name + ".partial")
    if path.suffix == ".csv":
        keys = sorted({k for s in soak.samples for k in s},
                      key=lambda k: (k not in ("t", "phase"), k))
        with partial.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(soak.samples)
    else:
        partial.write_text(json.dumps({
            "args": vars(args), "samples": soak.samples,
            "settled": [{"offered_at": round(t, 2), "seconds": round(d, 3), "outcome": o}
                        for t, d, o in soak.settled],
            "stuck": soak.stuck, "offered": soak.offered, "flux_errors": soak.flux.errors},
            indent=1, default=str) + "\n")
    os.replace(partial, path)


def report_file(path: Path) -> int:
    """The report of a soak whose samples were written with ``--out`` (a run stopped
    by a signal, or one to read again)."""
    data = json.loads(path.read_text())
    args = argparse.Namespace(**data["args"])
    settled = [(s["offered_at"], s["seconds"], s["outcome"]) for s in data["settled"]]
    soak = types.SimpleNamespace(
        samples=data["samples"], settled=settled, stuck=data["stuck"],
        offered=data.get("offered", len(settled) + len(data["stuck"])),
        flux=types.SimpleNamespace(errors=data.get("flux_errors", 0)))
    return report(soak, args)
