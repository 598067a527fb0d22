"""``engine.heap.Heap``: objects built before the first idle moment (the first reconcile
of the fleet) are frozen out of the collector's walks, once; later ones are not."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from reconciler.engine.heap import Heap


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_first_idle_moment_freezes_what_was_built_and_later_ones_do_not() -> None:
    heap = Heap()
    first_reconcile = [{"status": {"history": [i]}} for i in range(1000)]
    heap.idle()
    frozen = gc.get_freeze_count()
    assert frozen >= len(first_reconcile)
    later = [{"status": {"history": [i]}} for i in range(1000)]
    heap.idle()
    assert gc.get_freeze_count() == frozen  # only once
    assert later and all(gc.is_tracked(o) for o in later)


def test_idle_moments_hand_the_free_pages_back_at_most_every_thirty_seconds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Between resyncs the free pages of each release's transient allocations stay in
    glibc's heap; an idle worker trims, but not more often than ``trim_every``."""
    from reconciler.adapters import malloc

    trims: list[float] = []
    now = [100.0]
    monkeypatch.setattr(malloc, "trim", lambda: trims.append(now[0]) or True)
    heap = Heap(trim_every=30.0, clock=lambda: now[0])
    heap.idle()  # the first: a freeze, which trims
    assert trims == [100.0]
    for step in (10.0, 19.0, 1.5, 10.0, 0.5, 29.0, 1.0):
        now[0] += step
        heap.idle()
    assert trims == [100.0, 130.5, 170.0]  # 30.5 s after the freeze, then 39.5 s
    heap.trim()  # a resync trims whatever the clock says
    assert trims[-1] == 171.0 and len(trims) == 4
