"""The dashboard's charts, drawn on the server as inline SVG.

Part of the dashboard (``interfaces/ui``). The figures come from ``core/stats`` (the
same as ``reconciler stats`` and ``/metrics``); this module only draws them. Inline
SVG needs no script, no chart library and no CDN, prints, scales with the page
(``viewBox``), takes its colours from the stylesheet (classes, no inline styles, so
the Content-Security-Policy needs no ``unsafe-inline``), and carries a ``<title>``
on every bar for a tooltip and for screen readers. Pure: figures in, markup out
(``markupsafe.Markup``, every text escaped).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, timedelta

from markupsafe import Markup, escape

from reconciler.core import stats
from reconciler.interfaces.ui.states import duration

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 26


@dataclass(frozen=True)
class Bar:
    label: str  # under the bar (every few bars)
    parts: tuple[tuple[float, str], ...]  # stacked from the bottom: (value, css class)
    title: str  # the tooltip


def _ticks(top: float) -> list[float]:
    """Up to four round gridline values from 0 to at least ``top``."""
    if top <= 0:
        return [0.0, 1.0]
    step = 1.0
    for candidate in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000):
        step = float(candidate)
        if top / step <= 4:
            break
    count = int(-(-top // step))
    return [i * step for i in range(count + 1)]


def _time_ticks(top: float) -> list[float]:
    """Gridlines for durations: round seconds, minutes, hours or days."""
    units = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400,
             2 * 86400, 7 * 86400)
    step = next((float(u) for u in units if top / u <= 4), 14 * 86400.0)
    count = max(1, int(-(-top // step)))
    return [i * step for i in range(count + 1)]


def bars(data: Sequence[Bar], *, caption: str, time_axis: bool = False,
         empty: str = "nothing in this window yet") -> Markup:
    """A bar chart (stacked when a bar has several parts) as an ``<svg>`` element."""
    top = max((sum(v for v, _ in b.parts) for b in data), default=0.0)
    ticks = _time_ticks(top) if time_axis else _ticks(top)
    ceiling = ticks[-1] or 1.0
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-label="{escape(caption)}">', f"<title>{escape(caption)}</title>"]
    for t in ticks:
        y = TOP + inner_h - inner_h * t / ceiling
        text = duration(t) if time_axis else f"{t:g}"
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" '
                   f'y2="{y:.1f}"/><text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{escape(text)}</text>')
    if not data or top <= 0:
        out.append(f'<text class="empty" x="{LEFT + inner_w / 2:.0f}" y="{TOP + inner_h / 2:.0f}" '
                   f'text-anchor="middle">{escape(empty)}</text>')
    slot = inner_w / max(1, len(data))
    width = max(1.0, min(36.0, slot * 0.7))
    every = max(1, int(-(-len(data) // 8)))  # at most about eight labels
    for i, bar in enumerate(data):
        x = LEFT + slot * i + (slot - width) / 2
        base = float(TOP + inner_h)
        out.append(f"<g><title>{escape(bar.title)}</title>")
        for value, css in bar.parts:
            if value <= 0:
                continue
            h = inner_h * value / ceiling
            base -= h
            out.append(f'<rect class="{escape(css)}" x="{x:.1f}" y="{base:.1f}" '
                       f'width="{width:.1f}" height="{h:.1f}"/>')
        out.append("</g>")
        if i % every == 0:
            out.append(f'<text class="axis" x="{x + width / 2:.1f}" y="{HEIGHT - 8}" '
                       f'text-anchor="middle">{escape(bar.label)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def weekly(weeks: Sequence[stats.Week], *, caption: str) -> Markup:
    """Releases per ISO week, the failed ones stacked on top in the failure colour."""
    data = [Bar(label=_day(w.start), title=f"week of {w.start:%Y-%m-%d}: {w.releases} "
                f"release{'s' if w.releases != 1 else ''}, {w.failures} failed",
                parts=((w.releases - w.failures, "ok"), (w.failures, "bad")))
            for w in weeks]
    return bars(data, caption=caption)


def verdict_times(judged: Sequence[stats.Judged], *, caption: str, per_week: bool,
                  weeks: Sequence[stats.Week] = ()) -> Markup:
    """Time from the release commit to its bake verdict: one bar per release
    (``per_week`` False: a rollout's page) or the median of each week's releases
    (the overview, over ``weeks``)."""
    if not per_week:
        data = [Bar(label=j.release, parts=((j.seconds, "ok" if j.result == "Succeeded"
                                             else "bad"),),
                    title=f"{j.release} ({j.commit[:12]}): {j.result} "
                          f"{duration(j.seconds)} after its release commit")
                for j in judged[-40:]]
        return bars(data, caption=caption, time_axis=True)
    by_week: dict[date, list[float]] = {}
    for j in judged:
        utc = j.released.astimezone(UTC).date()
        day = utc - timedelta(days=utc.weekday())
        by_week.setdefault(day, []).append(j.seconds)
    data = []
    for w in weeks:
        samples = by_week.get(w.start, [])
        median = statistics.median(samples) if samples else 0.0
        data.append(Bar(label=_day(w.start), parts=((median, "ok"),),
                        title=f"week of {w.start:%Y-%m-%d}: median {duration(median)} over "
                              f"{len(samples)} verdict{'s' if len(samples) != 1 else ''}"
                        if samples else f"week of {w.start:%Y-%m-%d}: no verdicts"))
    return bars(data, caption=caption, time_axis=True)


def _day(day: date) -> str:
    return f"{day:%b} {day.day}"
