"""TimerConfig values (RFC 3261 Table 4, RFC 6026) and the TimerQueue heap with lazy cancellation."""

from __future__ import annotations

import random

import pytest

from sipserver import timers
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
    if str(timers.__file__).endswith(".so"):  # Final fields: mypy rejects the write, compiled code too
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
    assert q.next_deadline() == 1.0  # a cancellation leaves the wake-up time early...
    assert q.pop_due(1.0) == []
    assert q.next_deadline() == 2.0  # ...until a pop_due() skips the dead head
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


def test_hundred_thousand_timers_fire_once_each_in_order() -> None:
    rng = random.Random(1)
    q: TimerQueue[int] = TimerQueue()
    handles = [q.schedule(rng.uniform(0, 100), i) for i in range(100_000)]
    for h in handles[::2]:
        q.cancel(h)
    fired: list[int] = []
    now = 0.0
    while (deadline := q.next_deadline()) is not None:
        assert deadline >= now
        now = deadline
        fired.extend(q.pop_due(now + 1.0))
    assert sorted(fired) == list(range(1, 100_000, 2))


def test_fixed_delay_lanes_and_heap_pop_in_one_order() -> None:
    q: TimerQueue[str] = TimerQueue()
    q.schedule_after(0.0, 32.0, "L of the first call")
    q.schedule_after(0.0, 0.5, "A")
    q.schedule(1.0, "call timer")
    q.schedule_after(0.5, 0.5, "A again")  # due at 1.0 too, scheduled after the heap entry
    q.schedule_after(1.0, 32.0, "L of the second call")
    assert q.next_deadline() == 0.5
    assert q.pop_due(1.0) == ["A", "call timer", "A again"]
    assert q.next_deadline() == 32.0
    assert q.pop_due(100.0) == ["L of the first call", "L of the second call"]
    assert len(q) == 0 and q.next_deadline() is None


def test_a_clock_that_goes_back_falls_back_to_the_heap() -> None:
    q: TimerQueue[str] = TimerQueue()
    q.schedule_after(10.0, 5.0, "late")
    q.schedule_after(2.0, 5.0, "early")  # before the lane's last entry: cannot be appended
    assert q.pop_due(20.0) == ["early", "late"]


def test_cancelled_lane_entries_are_skipped_and_fired_ones_cannot_be_cancelled_twice() -> None:
    q: TimerQueue[int] = TimerQueue()
    handles = [q.schedule_after(float(i), 4.0, i) for i in range(5)]
    q.cancel(handles[0])
    q.cancel(handles[0])
    assert len(q) == 4
    assert q.next_deadline() == 4.0  # early: the cancelled entry's
    assert q.pop_due(4.5) == []
    assert q.next_deadline() == 5.0
    assert q.pop_due(6.0) == [1, 2]
    q.cancel(handles[1])  # already fired: no effect
    assert len(q) == 2
    assert q.pop_due(100.0) == [3, 4]


def test_lanes_and_heap_behave_like_one_sorted_list() -> None:
    rng = random.Random(7)
    q: TimerQueue[int] = TimerQueue()
    model: dict[int, tuple[float, int]] = {}  # key -> (deadline, schedule order)
    handles = {}
    now = 0.0
    for key in range(5_000):
        action = rng.random()
        if action < 0.45:
            delay = rng.choice((0.5, 1.0, 2.0, 4.0, 5.0, 32.0))
            handles[key] = q.schedule_after(now, delay, key)
            model[key] = (now + delay, key)
        elif action < 0.6:
            deadline = now + rng.uniform(0, 40)
            handles[key] = q.schedule(deadline, key)
            model[key] = (deadline, key)
        elif action < 0.8 and model:
            victim = rng.choice(list(model))
            q.cancel(handles[victim])
            del model[victim]
        else:
            now += rng.uniform(0, 3)
            expected = sorted((k for k, (d, _) in model.items() if d <= now), key=lambda k: model[k])
            assert q.pop_due(now) == expected
            for k in expected:
                del model[k]
        assert len(q) == len(model)
        earliest = min(d for d, _ in model.values()) if model else None
        wake_up = q.next_deadline()
        if earliest is None or wake_up is None:
            assert wake_up == earliest
        else:
            assert wake_up <= earliest  # early only after a cancellation: then pop_due() finds it out
            q.pop_due(wake_up - 1e-9)  # nothing due before it
            assert q.next_deadline() == earliest
