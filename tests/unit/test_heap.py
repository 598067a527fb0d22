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
