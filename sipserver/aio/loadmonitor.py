"""Is the server saturated? The signal for refusing new work before the server collapses.

Every `interval` the monitor compares the CPU time the event-loop thread used with the wall time that passed.
UDP requests queue in the kernel's socket buffer, not in the loop, so the loop's own lateness says little;
a loop thread busy nearly all the time does: requests then wait longer and longer until their senders
retransmit, and the retransmissions add load (the collapse past the knee). While the smoothed busy fraction is
above `threshold`, `overloaded` is True and the application answers new out-of-dialog requests that cost more
than a refusal (INVITE, REGISTER, SUBSCRIBE) with 503 and Retry-After (RFC 3261 §21.5.4); dialogs already up
keep being served. This module knows nothing of SIP: it only measures the process.
"""

from __future__ import annotations

import asyncio
import time


class LoadMonitor:
    # Smoothing 0.2 per 0.1 s sample: a time constant of about 0.5 s. A 100 ms sample swings by +-10 % around
    # the mean (the scheduler, bursts), and 0.3 let such swings alone refuse calls at 80 % load; 0.1 reacted so
    # late that at 2.3x capacity requests waited past T1 and were retransmitted (BENCHMARKS.md).
    def __init__(self, *, interval: float = 0.1, threshold: float = 0.95, smoothing: float = 0.2) -> None:
        self.interval = interval
        self.threshold = threshold
        self.smoothing = smoothing
        self.busy = 0.0  # smoothed fraction of wall time the loop thread spent on the CPU
        self._wall = 0.0
        self._cpu = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def overloaded(self) -> bool:
        return self.busy > self.threshold

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wall, self._cpu = time.monotonic(), time.thread_time()
        self._handle = self._loop.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        wall, cpu = time.monotonic(), time.thread_time()
        elapsed = wall - self._wall
        if elapsed > 0:
            sample = min(1.0, (cpu - self._cpu) / elapsed)
            self.busy += self.smoothing * (sample - self.busy)
        self._wall, self._cpu = wall, cpu
        self._handle = self._loop.call_later(self.interval, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
