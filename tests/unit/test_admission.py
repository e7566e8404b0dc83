"""Admission control for new calls: a token bucket below the knee and a ceiling on calls in progress."""

from __future__ import annotations

from sipserver.b2bua.admission import Admission, AdmissionPolicy


def test_burst_then_steady_rate() -> None:
    admission = Admission(AdmissionPolicy(max_calls_per_second=100, burst=10, max_concurrent_calls=1000))
    admitted = sum(admission.admit(0.0, 0) for _ in range(50))
    assert admitted == 10 and admission.refused == 40
    # one second later, 100 more tokens (capped at the burst size of 10)
    assert sum(admission.admit(1.0, 0) for _ in range(50)) == 10
    # a steady 100/s is admitted in full
    assert all(admission.admit(2.0 + i / 100, 0) for i in range(200))


def test_ceiling_on_calls_in_progress() -> None:
    admission = Admission(AdmissionPolicy(max_calls_per_second=1e6, burst=1e6, max_concurrent_calls=3))
    assert admission.admit(0.0, 2)
    assert not admission.admit(0.0, 3)
