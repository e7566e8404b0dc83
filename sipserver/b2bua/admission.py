"""Admission control for new calls: refuse early with 503 rather than collapse (RFC 7339 in spirit).

A token bucket caps the rate of new calls below the measured knee of the server, and a ceiling caps the calls
in progress; in-dialog requests (ACK, BYE, re-INVITE) are never subject to it, so calls already up keep their
priority. Pure: `now` comes in; nothing here knows SIP messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(init=False, unsafe_hash=True, slots=True)
class AdmissionPolicy:
    max_calls_per_second: Final[float]
    burst: Final[float]
    max_concurrent_calls: Final[int]
    retry_after: Final[int]

    def __init__(self, max_calls_per_second: float = 1500.0, burst: float = 300.0,
                 max_concurrent_calls: int = 50_000, retry_after: int = 2) -> None:
        self.max_calls_per_second = max_calls_per_second
        self.burst = burst
        self.max_concurrent_calls = max_concurrent_calls
        self.retry_after = retry_after


class Admission:
    __slots__ = ("_stamp", "_tokens", "policy", "refused")

    def __init__(self, policy: AdmissionPolicy) -> None:
        self.policy = policy
        self._tokens = policy.burst
        self._stamp: float | None = None
        self.refused = 0

    def admit(self, now: float, calls_in_progress: int) -> bool:
        policy = self.policy
        if self._stamp is not None:
            self._tokens = min(policy.burst, self._tokens + (now - self._stamp) * policy.max_calls_per_second)
        self._stamp = now
        if calls_in_progress >= policy.max_concurrent_calls or self._tokens < 1.0:
            self.refused += 1
            return False
        self._tokens -= 1.0
        return True
