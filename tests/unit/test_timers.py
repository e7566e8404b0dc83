"""TimerConfig values (RFC 3261 Table 4, RFC 6026) and the TimerQueue heap with lazy cancellation."""

from __future__ import annotations

import random
import time

import pytest

from sipserver.timers import TimerConfig, TimerQueue


def test_default_timer_values() -> None:
    cfg = TimerConfig()
    assert (cfg.t1, cfg.t2, cfg.t4) == (0.5, 4.0, 5.0)
    assert cfg.timer_b == cfg.timer_f == cfg.timer_h == 32.0
    assert cfg.timer_l == cfg.timer_m == 32.0  # RFC 6026: 64*T1
    assert cfg.timer_d(False) == 32.0 and cfg.timer_d(True) == 0.0
    assert cfg.timer_i(False) == 5.0 and cfg.timer_i(True) == 0.0
    assert cfg.timer_j(False) == 32.0 and cfg.timer_j(True) == 0.0
    assert cfg.timer_k(False) == 5.0 and cfg.timer_k(True) == 0.0


def test_derived_values_follow_t1() -> None:
    cfg = TimerConfig(t1=0.1)
    assert cfg.timer_b == pytest.approx(6.4)
    assert cfg.timer_j(False) == pytest.approx(6.4)
    assert cfg.timer_d(False) == 32.0  # ">32s for UDP", not derived from T1


def test_config_is_frozen() -> None:
    cfg = TimerConfig()
    with pytest.raises(AttributeError):
        cfg.t1 = 1.0  # type: ignore[misc]


def test_pop_due_in_deadline_order_then_schedule_order() -> None:
    q: TimerQueue[str] = TimerQueue()
    q.schedule(3.0, "c")
    q.schedule(1.0, "a1")
    q.schedule(2.0, "b")
    q.schedule(1.0, "a2")
    assert q.next_deadline() == 1.0
    assert q.pop_due(0.5) == []
    assert q.pop_due(2.0) == ["a1", "a2", "b"]
    assert len(q) == 1
    assert q.pop_due(10.0) == ["c"]
    assert q.next_deadline() is None
    assert len(q) == 0


def test_keys_need_not_be_orderable() -> None:
    q: TimerQueue[object] = TimerQueue()
    a, b = object(), object()
    q.schedule(1.0, a)
    q.schedule(1.0, b)
    assert q.pop_due(1.0) == [a, b]


def test_cancel_is_lazy_and_idempotent() -> None:
    q: TimerQueue[str] = TimerQueue()
    h1 = q.schedule(1.0, "x")
    h2 = q.schedule(2.0, "y")
    q.cancel(h1)
    q.cancel(h1)
    assert len(q) == 1
    assert q.deadline_of(h1) is None
    assert q.deadline_of(h2) == 2.0
    assert q.next_deadline() == 2.0  # the dead head is skipped
    assert q.pop_due(5.0) == ["y"]
    q.cancel(h2)  # already fired: a no-op
    assert len(q) == 0


def test_cancelled_keys_are_released_and_heap_compacted() -> None:
    q: TimerQueue[int] = TimerQueue()
    handles = [q.schedule(float(i), i) for i in range(10_000)]
    for h in handles[:9_000]:
        q.cancel(h)
    assert len(q) == 1_000
    assert len(q._heap) < 5_000  # compaction kept memory proportional to the live timers
    assert q.pop_due(20_000.0) == list(range(9_000, 10_000))


def test_hundred_thousand_timers_are_cheap() -> None:
    rng = random.Random(1)
    q: TimerQueue[int] = TimerQueue()
    start = time.perf_counter()
    handles = [q.schedule(rng.uniform(0, 100), i) for i in range(100_000)]
    for h in handles[::2]:
        q.cancel(h)
    fired: list[int] = []
    now = 0.0
    while (deadline := q.next_deadline()) is not None:
        now = deadline
        fired.extend(q.pop_due(now + 1.0))
    elapsed = time.perf_counter() - start
    assert sorted(fired) == list(range(1, 100_000, 2))
    assert elapsed < 2.0  # typically ~0.3 s
