"""The call path frees everything by reference counting: no call leaves cyclic garbage behind.

The server collects only the young generation automatically (`sipserver/aio/gcpolicy.py`); a call whose objects
formed a cycle would stay in memory until the next full collection, which runs only when the server is quiet.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator

import pytest

from sipserver.aio.gcpolicy import FullCollectionSchedule
from tests.helpers.inprocess import CARRIER, build, carrier_invite, deliver, establish, in_dialog, one_call, run_timers


@pytest.fixture
def no_automatic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def cyclic_garbage() -> Counter[str]:
    gc.collect()
    found = Counter(type(o).__name__ for o in gc.garbage)
    gc.garbage.clear()
    return found


async def test_answered_and_hung_up_calls_leave_no_cycles(no_automatic_gc: None) -> None:
    stack, app = await build()
    cyclic_garbage()
    for n in range(20):
        one_call(stack, app, n, n * 0.01)
        run_timers(stack, app, n * 0.01)
    run_timers(stack, app, 1000.0)  # past every transaction timer
    assert len(app.calls) == 0 and len(stack.transactions) == 0
    assert cyclic_garbage() == Counter()


async def test_cancelled_and_established_calls_leave_no_cycles(no_automatic_gc: None) -> None:
    stack, app = await build()
    cyclic_garbage()
    for n in range(10):  # the carrier gives up while the phone rings
        deliver(stack, app, carrier_invite(n), CARRIER, n * 0.01)
        cancel = in_dialog("CANCEL", n, 1, b"").replace(b";tag=\r\n", b"\r\n").replace(b"-CANCEL", b"")
        cancel = cancel.replace(b"sip:b2bua@127.0.0.1:5060", b"sip:+3222211202@127.0.0.1:5060")
        out = deliver(stack, app, cancel, CARRIER, n * 0.01)
        assert any(m.startswith(b"SIP/2.0 487") for m in out), out
    for n in range(10, 20):  # established, then hung up by the carrier
        to_tag = establish(stack, app, n, n * 0.01)
        deliver(stack, app, in_dialog("BYE", n, 2, to_tag), CARRIER, n * 0.01)
    run_timers(stack, app, 1000.0)
    assert cyclic_garbage() == Counter()


def test_full_collection_waits_for_a_quiet_loop_but_not_forever() -> None:
    schedule = FullCollectionSchedule(quiet_interval=300, max_interval=3600, quiet_busy=0.3, last=0.0)
    assert not schedule.due(299, busy=0.0)
    assert schedule.due(300, busy=0.1)
    assert not schedule.due(3599, busy=0.9)
    assert schedule.due(3600, busy=0.99)
    schedule.collected(3600)
    assert not schedule.due(3700, busy=0.0)
