"""``bench/soaktrend``: a soak's memory trend by windows, whose interval a sawtooth
does not fool (the per-sample fit's does)."""

from __future__ import annotations

import importlib.util
import math
import random
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("soaktrend", BENCH / "soaktrend.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


soaktrend = _module()


def _samples(*, hours: float, kib_per_hour: float, seed: int) -> list[dict[str, Any]]:
    """A sample every 10 s after a warm-up: a sawtooth of 8 MiB over 7 minutes (the
    object cache filling between packs), noise, and a steady ``kib_per_hour``."""
    rng = random.Random(seed)
    out = []
    for i in range(int(hours * 360)):
        t = 1800 + i * 10
        tooth = 8192 * ((t % 420) / 420)
        rss = 120_000 + tooth + kib_per_hour * t / 3600 + rng.gauss(0, 300)
        out.append({"t": t, "phase": "soak", "VmRSS": rss, "RssAnon": rss - 30_000})
    return [{"t": 0, "phase": "warmup", "VmRSS": 1.0, "RssAnon": 1.0}, *out]


def _contains(line: str, value: float, which: str) -> bool:
    part = line.split(f"{which} ")[1].split(" KiB/h")[0]
    slope, half = (float(x) for x in part.split(" ± "))
    return slope - half <= value <= slope + half


def test_a_steady_growth_under_a_sawtooth_is_inside_the_interval() -> None:
    rss = soaktrend.lines(_samples(hours=2, kib_per_hour=300, seed=1))[0]
    assert rss.startswith("RSS by 11 windows of 10 min")  # the last, 10 s short, left out
    assert _contains(rss, 300, "means")
    assert not _contains(rss, -3000, "means")


def test_a_flat_heap_is_told_from_a_leak_only_as_far_as_the_run_allows() -> None:
    flat = soaktrend.lines(_samples(hours=2, kib_per_hour=0, seed=2))[0]
    assert _contains(flat, 0, "means")
    leak = soaktrend.lines(_samples(hours=2, kib_per_hour=4000, seed=3))[0]
    assert not _contains(leak, 0, "means") and not _contains(leak, 0, "floors")


def test_the_windows_interval_is_wider_than_the_per_sample_fits() -> None:
    """The per-sample fit reads neighbouring samples of one tooth as independent."""
    samples = _samples(hours=2, kib_per_hour=0, seed=4)[1:]
    per_sample = soaktrend.fit([(s["t"] / 3600, s["VmRSS"]) for s in samples])[1]
    found = soaktrend.windows(samples, "VmRSS", minutes=10)
    by_windows = soaktrend.fit([(t, m) for t, m, _ in found])[1]
    assert by_windows > per_sample


def test_too_short_a_run_says_so() -> None:
    line = soaktrend.lines(_samples(hours=0.4, kib_per_hour=0, seed=5))[0]
    assert "fewer than three whole 10-minute windows" in line
    assert math.isnan(soaktrend.fit([(0.0, 1.0), (1.0, 2.0)])[0])


def _packed(*, hours: float, kib_per_hour: float, seed: int) -> list[dict[str, Any]]:
    """Teeth that restart at each pack (every 5.3 minutes, the mirror's file count
    falling from ~1,000 to ~60), each of its own height (2-6 MiB), and a steady
    ``kib_per_hour``."""
    rng = random.Random(seed)
    out, height, files = [], 4096.0, 60
    for i in range(int(hours * 360)):
        t = 1800 + i * 10
        phase = t % 320
        if phase < 10:
            height, files = rng.uniform(2048, 6144), 60
        files += 30
        rss = 120_000 + height * phase / 320 + kib_per_hour * t / 3600 + rng.gauss(0, 100)
        out.append({"t": t, "phase": "soak", "VmRSS": rss, "RssAnon": rss - 30_000,
                    "mirror_files": files})
    return out


def test_pack_cycles_hold_a_steady_growth_inside_their_interval() -> None:
    found = soaktrend.cycles(_packed(hours=2, kib_per_hour=500, seed=6), "VmRSS")
    assert 20 <= len(found) <= 23  # 2 h of 5.3-minute cycles, the partial ones left out
    slope, half = soaktrend.fit([(t, first) for t, _, first in found])
    assert slope - half <= 500 <= slope + half
    assert half < 500  # the first sample after each pack skips the teeth's heights
    lines = soaktrend.lines(_packed(hours=2, kib_per_hour=500, seed=6))
    assert lines[1].startswith("RSS by ") and "pack cycles" in lines[1]


def test_no_pack_cycles_without_the_mirror_counts() -> None:
    lines = soaktrend.lines(_samples(hours=2, kib_per_hour=0, seed=7))
    assert not any("pack cycles" in line for line in lines)


def test_the_mirror_s_mapped_packs_are_told_apart_from_the_daemon_s_memory() -> None:
    """RSS that grows only by the mirror's packs mapped (the repository's history)
    shows as growth in RSS and as none once they are taken out."""
    samples = _samples(hours=2, kib_per_hour=0, seed=8)
    for s in samples:
        packs = 1_000 * s["t"] / 3600  # +1,000 KiB/h of pack pages
        s["VmRSS"] += packs
        s["rss_less_mirror"] = s["VmRSS"] - packs
    lines = soaktrend.lines(samples)
    rss = next(line for line in lines if line.startswith("RSS by"))
    less = next(line for line in lines if line.startswith("RSS less the mirror"))
    assert _contains(rss, 1_000, "means") and not _contains(rss, 0, "means")
    assert _contains(less, 0, "means") and not _contains(less, 1_000, "means")
    assert not any("mirror" in line for line in soaktrend.lines(_samples(
        hours=2, kib_per_hour=0, seed=8)))
