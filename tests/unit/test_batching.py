"""Group commit: submissions made while a batch is being written go out together in the next one, and two
saves never overlap (one SQLite connection must never run two writes at once)."""

from __future__ import annotations

import asyncio

import pytest

from sipserver.aio.batching import GroupCommit


async def test_bursts_are_batched_and_saves_never_overlap() -> None:
    batches: list[list[int]] = []
    running = 0

    async def save(items: list[int]) -> None:
        nonlocal running
        running += 1
        assert running == 1, "two saves at once"
        await asyncio.sleep(0.001)
        batches.append(list(items))
        running -= 1

    writer: GroupCommit[int] = GroupCommit(save, "test")
    futures = [writer.submit([n]) for n in range(100)]
    await asyncio.gather(*futures)
    assert sorted(n for batch in batches for n in batch) == list(range(100))
    assert len(batches) < 10
    more = [writer.submit([n]) for n in range(100, 110)]
    await writer.flush()
    assert all(f.done() for f in more)


async def test_a_failed_save_fails_its_waiters_only() -> None:
    calls = 0

    async def save(items: list[int]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("disk full")

    writer: GroupCommit[int] = GroupCommit(save, "test")
    first = writer.submit([1])
    with pytest.raises(RuntimeError):
        await first
    await writer.submit([2])


async def test_a_window_gathers_submissions_spread_in_time_into_one_batch() -> None:
    batches: list[list[int]] = []

    async def save(items: list[int]) -> None:
        batches.append(list(items))

    writer: GroupCommit[int] = GroupCommit(save, "test", window=0.05)
    futures = []
    for n in range(5):
        futures.append(writer.submit([n]))
        await asyncio.sleep(0)  # let the writer start: without a window it would save [0] alone now
    await asyncio.gather(*futures)
    assert batches == [[0, 1, 2, 3, 4]]
    await writer.flush()
