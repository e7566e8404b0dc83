"""Group commit: many writers, one database transaction per burst (bindings, call-log rows).

Each `submit(items)` returns a future that resolves once the items are durable. While one batch is being
written, new submissions queue up and go out together in the next one, so a burst of thousands of REGISTERs or
ended calls per second costs a handful of commits instead of thousands — and writes to one SQLite connection
never overlap (concurrent statements on one aiosqlite connection lose rows under load, BENCHMARKS.md).
A writer whose items nobody waits for (call-log rows) may also wait `window` seconds before each batch, so
that at 1,000 calls/s it commits some 20 times a second instead of after every few calls: each commit costs
thread hand-offs, loop wake-ups and the same B-tree pages written again to the WAL.
This module knows nothing of SIP or SQL: it batches calls to one `save(items)` coroutine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Final, Generic, TypeVar

import structlog

from sipserver.b2bua.location import BindingChange, LocationStore

log: Final = structlog.get_logger("callconnect.storage")

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(self, save: Callable[[list[T]], Awaitable[None]], name: str, *, window: float = 0.0) -> None:
        self._save = save
        self._name = name
        self._window = window  # seconds to gather submissions before each batch
        self._queue: list[T] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None

    def submit(self, items: Iterable[T]) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.extend(items)
        self._waiters.append(future)
        if self._task is None:
            self._task = loop.create_task(self._drain())
        return future

    async def _drain(self) -> None:
        try:
            while self._waiters:
                if self._window > 0:
                    await asyncio.sleep(self._window)
                batch, waiters = self._queue, self._waiters
                self._queue, self._waiters = [], []
                try:
                    await self._save(batch)
                except Exception as exc:  # reported to every waiter (the registrar answers 500)
                    log.exception("batch_write_failed", what=self._name, count=len(batch))
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                    continue
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
        finally:
            self._task = None

    async def flush(self) -> None:
        """Wait until everything submitted so far is written (used at shutdown)."""
        while self._task is not None:
            await asyncio.shield(self._task)


def ignore_failure(future: asyncio.Future[None]) -> None:
    """Done-callback for a `submit()` nobody awaits: the writer has logged a failure; mark it retrieved."""
    if not future.cancelled():
        future.exception()


class BindingWriter(GroupCommit[BindingChange]):
    """Binding changes of the registrar; the 200 to a REGISTER is sent when its future resolves."""

    def __init__(self, store: LocationStore) -> None:
        super().__init__(store.save_changes, "bindings")
