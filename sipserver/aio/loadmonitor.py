"""How late is the event loop? The signal for refusing new work before the server collapses.

A callback re-arms itself every `interval`; how late it runs is the queueing delay every message currently
sees. While the smoothed lag is above `threshold`, `overloaded` is True and the application answers new
out-of-dialog requests 503 with Retry-After (RFC 3261 §21.5.4) instead of queueing them until their senders
retransmit, which is what turns a peak into a collapse; dialogs already up keep being served.
This module knows nothing of SIP: it only measures the loop.
"""

from __future__ import annotations

import asyncio


class LoadMonitor:
    def __init__(self, *, interval: float = 0.01, threshold: float = 0.1, smoothing: float = 0.3) -> None:
        self.interval = interval
        self.threshold = threshold
        self.smoothing = smoothing
        self.lag = 0.0
        self.max_lag = 0.0
        self._expected = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def overloaded(self) -> bool:
        return self.lag > self.threshold

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._arm()

    def _arm(self) -> None:
        assert self._loop is not None
        self._expected = self._loop.time() + self.interval
        self._handle = self._loop.call_at(self._expected, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        late = max(0.0, self._loop.time() - self._expected)
        self.max_lag = max(self.max_lag, late)
        self.lag += self.smoothing * (late - self.lag)
        self._arm()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
