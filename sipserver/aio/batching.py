"""Group commit for binding writes: many REGISTERs, one database transaction.

Each `submit(changes)` returns a future that resolves once the changes are durable. While one batch is being
written, new submissions queue up and go out together in the next one, so a burst of thousands of REGISTERs/s
costs a handful of commits instead of thousands, and no 200 is sent before its binding is on disk.
This module knows nothing of SIP; it only batches `LocationStore.save_changes` calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import structlog

from sipserver.b2bua.location import BindingChange, LocationStore

log = structlog.get_logger("callconnect.storage")


class BindingWriter:
    def __init__(self, store: LocationStore) -> None:
        self._store = store
        self._queue: list[BindingChange] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None

    def submit(self, changes: Iterable[BindingChange]) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.extend(changes)
        self._waiters.append(future)
        if self._task is None:
            self._task = loop.create_task(self._drain())
        return future

    async def _drain(self) -> None:
        try:
            while self._waiters:
                batch, waiters = self._queue, self._waiters
                self._queue, self._waiters = [], []
                try:
                    await self._store.save_changes(batch)
                except Exception as exc:  # report to every waiter; the registrar answers 500
                    log.exception("binding_write_failed", count=len(batch))
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
