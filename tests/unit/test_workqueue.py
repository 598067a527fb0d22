"""The per-rollout work queue (reconciler.engine.workqueue): client-go's semantics."""

from __future__ import annotations

import random
import threading
import time

from reconciler.engine.workqueue import WorkQueue

WAIT = 5.0  # upper bound for anything that should happen "at once"


def drain(q: WorkQueue) -> list[str]:
    out = []
    while (key := q.get(timeout=0.01)) is not None:
        out.append(key)
    return out


def test_keys_come_out_in_order_added() -> None:
    q = WorkQueue()
    for key in ("apps/a", "apps/b", "apps/c"):
        q.add(key)
    assert drain(q) == ["apps/a", "apps/b", "apps/c"]


def test_adding_a_waiting_key_again_is_a_no_op() -> None:
    q = WorkQueue()
    for key in ("apps/a", "apps/b", "apps/a", "apps/a", "apps/b"):
        q.add(key)
    assert len(q) == 2
    assert drain(q) == ["apps/a", "apps/b"]


def test_a_key_added_while_processing_is_queued_once_after_done() -> None:
    q = WorkQueue()
    q.add("apps/a")
    assert q.get(timeout=WAIT) == "apps/a"
    for _ in range(3):
        q.add("apps/a")
    assert len(q) == 0  # not handed to anyone while it is being processed
    assert q.get(timeout=0.05) is None
    q.done("apps/a")
    assert len(q) == 1
    assert q.get(timeout=WAIT) == "apps/a"
    q.done("apps/a")
    assert q.get(timeout=0.05) is None
    assert q.idle()


def test_done_without_a_new_add_does_not_requeue() -> None:
    q = WorkQueue()
    q.add("apps/a")
    assert q.get(timeout=WAIT) == "apps/a"
    assert not q.idle()
    q.done("apps/a")
    assert len(q) == 0 and q.idle()


def test_get_times_out_with_none() -> None:
    q = WorkQueue()
    started = time.monotonic()
    assert q.get(timeout=0.05) is None
    assert time.monotonic() - started >= 0.04


def test_a_blocked_get_wakes_on_add() -> None:
    q = WorkQueue()
    got: list[str | None] = []
    t = threading.Thread(target=lambda: got.append(q.get(timeout=WAIT)))
    t.start()
    time.sleep(0.02)
    q.add("apps/a")
    t.join(WAIT)
    assert not t.is_alive()
    assert got == ["apps/a"]


def test_close_wakes_every_getter() -> None:
    q = WorkQueue()
    got: list[str | None] = []
    lock = threading.Lock()
    waiting = threading.Barrier(4)

    def getter() -> None:
        waiting.wait(WAIT)
        key = q.get()  # no timeout: only close() can end this
        with lock:
            got.append(key)

    threads = [threading.Thread(target=getter, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    waiting.wait(WAIT)
    time.sleep(0.05)  # let the getters block in get()
    q.close()
    for t in threads:
        t.join(WAIT)
    assert not any(t.is_alive() for t in threads)
    assert got == [None, None, None]


def test_after_close_nothing_is_handed_out_or_queued() -> None:
    q = WorkQueue()
    q.add("apps/a")
    q.close()
    q.add("apps/b")
    assert q.get(timeout=0.01) is None
    assert len(q) == 1  # only apps/a, which was queued before


def test_done_after_close_does_not_requeue() -> None:
    q = WorkQueue()
    q.add("apps/a")
    assert q.get(timeout=WAIT) == "apps/a"
    q.add("apps/a")
    q.close()
    q.done("apps/a")
    assert len(q) == 0


def test_a_second_worker_cannot_take_a_key_being_processed() -> None:
    q = WorkQueue()
    q.add("apps/a")
    holding = threading.Event()
    finish = threading.Event()
    first: list[str | None] = []
    second: list[str | None] = []

    def worker_one() -> None:
        key = q.get(timeout=WAIT)
        first.append(key)
        holding.set()
        finish.wait(WAIT)
        if key is not None:
            q.done(key)

    one = threading.Thread(target=worker_one)
    one.start()
    assert holding.wait(WAIT)
    q.add("apps/a")  # a watch event arrives mid-reconcile
    second.append(q.get(timeout=0.1))  # worker two finds nothing to do
    assert second == [None]
    finish.set()
    one.join(WAIT)
    assert q.get(timeout=WAIT) == "apps/a"  # the dirty key comes back after done()
    assert first == ["apps/a"]


def test_many_workers_never_hold_the_same_key_at_once() -> None:
    q = WorkQueue()
    keys = [f"apps/r{i}" for i in range(4)]
    lock = threading.Lock()
    holding: set[str] = set()
    overlaps: list[str] = []
    last_add: dict[str, float] = {}
    last_start: dict[str, float] = {}
    rng = random.Random(7)
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            key = q.get(timeout=0.05)
            if key is None:
                continue
            with lock:
                if key in holding:
                    overlaps.append(key)
                holding.add(key)
                last_start[key] = time.monotonic()
            time.sleep(0.001)
            with lock:
                holding.discard(key)
            q.done(key)

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(6)]
    for t in workers:
        t.start()
    for _ in range(400):
        key = rng.choice(keys)
        with lock:
            last_add[key] = time.monotonic()
        q.add(key)
        if rng.random() < 0.2:
            time.sleep(0.0005)
    deadline = time.monotonic() + WAIT
    while not q.idle() and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    q.close()
    for t in workers:
        t.join(WAIT)

    assert q.idle()
    assert overlaps == []
    # Every key was reconciled after its last add: no event is lost.
    for key, added in last_add.items():
        assert last_start[key] >= added, key
