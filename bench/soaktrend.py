"""A soak's memory trend, by windows: the slope of each window's mean and of each
window's floor (its lowest sample), with a 95 % interval that does not pretend the
samples are independent.

Why: a soak samples resident memory every 10 s, and the daemon's memory is a
sawtooth (libgit2's object cache filling between the mirror's packs, glibc's free
space between trims: a few MiB over 5-10 minutes, docs/performance.md "Soak"). A
least-squares line through every sample (``soak.slope``) reads 700 neighbouring
samples as 700 independent ones, so its interval is far too narrow: in one
three-hour soak the slope so far went from +1.5 to -1.7 MiB/h within 20 minutes,
each time with a "95 %" half-width of about 0.7 MiB/h. Averaging each window of
``minutes`` (longer than a tooth) first and fitting the window means, with
Student's t for the few points that leaves, gives an interval that says what the
run can resolve. The floors follow what stays resident after each trim, the part a
leak would raise.

By pack cycles (when the samples hold the mirror's file count): the same fit over
each whole cycle between two packs of the mirror, whose reopen empties libgit2's
object cache and trims the allocator. A cycle's mean holds one whole tooth; its
first sample, the one closest after the trim, holds almost none of it.

Run on a soak's samples: ``.venv/bin/python bench/soaktrend.py soak.json [--minutes 10]``;
``bench/soak.py`` prints the same lines at the end of its report.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
from collections.abc import Sequence
from typing import Any

# Student's t, two-sided 95 %, by degrees of freedom (beyond 30: the normal's 1.96).
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201,
        2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074,
        2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t95(dof: int) -> float:
    return _T95[dof - 1] if 1 <= dof <= len(_T95) else 1.96


def fit(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope of (x, y) and its 95 % half-width (Student's t, n - 2
    degrees of freedom); NaNs with fewer than three points."""
    n = len(points)
    if n < 3:
        return math.nan, math.nan
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    resid = sum((y - my - b * (x - mx)) ** 2 for x, y in points)
    return b, t95(n - 2) * math.sqrt(resid / (n - 2) / sxx)


def windows(samples: Sequence[dict[str, Any]], key: str, *,
            minutes: float) -> list[tuple[float, float, float]]:
    """``(mid-time in hours, mean, floor)`` of ``key`` in each whole window of
    ``minutes`` from the first sample (a last partial window is left out)."""
    if not samples:
        return []
    first = samples[0]["t"]
    span = minutes * 60
    groups: dict[int, list[dict[str, Any]]] = {}
    for sample in samples:
        groups.setdefault(int((sample["t"] - first) // span), []).append(sample)
    whole = int((samples[-1]["t"] - first) // span)
    return [((first + (k + 0.5) * span) / 3600,
             statistics.fmean(s[key] for s in group), min(s[key] for s in group))
            for k, group in sorted(groups.items()) if k < whole]


def cycles(samples: Sequence[dict[str, Any]], key: str) -> list[tuple[float, float, float]]:
    """``(mid-time in hours, mean, first)`` of ``key`` over each whole cycle of the
    mirror's packing: from a sample where the mirror's file count fell to under half
    of the one before (a pack, then the reopen's trim) to the next such sample. A
    cycle holds one whole tooth of the object cache's fill, so its mean does not
    depend on where a fixed window cuts the tooth; its first sample is the one
    closest after the trim."""
    starts = [i for i in range(1, len(samples))
              if samples[i]["mirror_files"] < samples[i - 1]["mirror_files"] / 2]
    out = []
    for a, b in itertools.pairwise(starts):
        group = samples[a:b]
        out.append(((group[0]["t"] + group[-1]["t"]) / 2 / 3600,
                    statistics.fmean(s[key] for s in group), group[0][key]))
    return out


def lines(samples: Sequence[dict[str, Any]], *, minutes: float = 10.0) -> list[str]:
    """The trend of resident memory (``VmRSS``, ``RssAnon``, and ``VmRSS`` less the
    mirror's mapped packs where the samples hold it; KiB in the samples) after the
    warm-up, in KiB per hour, as ``bench/soak.py`` prints it."""
    after = [s for s in samples if s["phase"] in ("soak", "end")]
    out = []
    for label, key in (("RSS", "VmRSS"), ("RssAnon", "RssAnon"),
                       ("RSS less the mirror's mapped packs", "rss_less_mirror")):
        if not all(key in s for s in after):
            continue  # samples of an older soak
        found = windows(after, key, minutes=minutes)
        if len(found) < 3:
            out.append(f"{label}: fewer than three whole {minutes:g}-minute windows")
            continue
        mean, mean_ci = fit([(t, m) for t, m, _ in found])
        floor, floor_ci = fit([(t, f) for t, _, f in found])
        out.append(f"{label} by {len(found)} windows of {minutes:g} min: means "
                   f"{mean:+.0f} ± {mean_ci:.0f} KiB/h, floors {floor:+.0f} ± "
                   f"{floor_ci:.0f} KiB/h (95 %, Student's t)")
        packed = cycles(after, key) if all("mirror_files" in s for s in after) else []
        if len(packed) >= 3:
            mean, mean_ci = fit([(t, m) for t, m, _ in packed])
            first, first_ci = fit([(t, f) for t, _, f in packed])
            out.append(f"{label} by {len(packed)} pack cycles: means {mean:+.0f} ± "
                       f"{mean_ci:.0f} KiB/h, first after each pack {first:+.0f} ± "
                       f"{first_ci:.0f} KiB/h (95 %, Student's t)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("samples", help="a soak's --out JSON")
    parser.add_argument("--minutes", type=float, default=10.0, help="window length")
    args = parser.parse_args(argv)
    with open(args.samples) as f:
        data = json.load(f)
    for line in lines(data["samples"], minutes=args.minutes):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
