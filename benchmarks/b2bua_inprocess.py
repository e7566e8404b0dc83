"""CPU cost of one B2BUA call through the whole server core, without sockets: prints µs/call and a profile.

A simulated carrier calls demo user 202's simulated phone through the real parser, transaction layer,
application, call controller and serializer (`tests/helpers/inprocess.py`); only the sockets are missing.

    python benchmarks/b2bua_inprocess.py [--calls 5000] [--profile]
    python benchmarks/b2bua_inprocess.py --memory 5000   # tracemalloc bytes per established call

With `--memory N`, N calls are set up and left established (no BYE), fake time is moved past every transaction
timer, and the growth of Python's heap (tracemalloc) divided by N is printed: the steady-state memory of an
established call, without allocator fragmentation or the transactions of the last 32 s.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import sys
import time
import tracemalloc
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.feature_decisions import featured_settings  # noqa: E402
from sipserver.aio import gcpolicy  # noqa: E402
from sipserver.aio.application import Application  # noqa: E402
from sipserver.b2bua.admission import Admission, AdmissionPolicy  # noqa: E402
from sipserver.stack import SipStack  # noqa: E402
from tests.helpers.inprocess import build, establish, one_call, run_timers  # noqa: E402


def memory_per_call(stack: SipStack, app: Application, count: int) -> float:
    app.calls.admission = Admission(AdmissionPolicy(max_calls_per_second=1e9, burst=1e9))
    for n in range(100):
        establish(stack, app, n, 0.0)
    stack.on_timer(1000.0)
    stack.pop_outgoing()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for n in range(1000, 1000 + count):
        establish(stack, app, n, 1000.0 + n * 0.0001)
    stack.on_timer(2000.0)  # past Timer L/M of every transaction
    stack.pop_outgoing()
    gc.collect()
    after = tracemalloc.take_snapshot()
    return sum(stat.size_diff for stat in after.compare_to(before, "filename")) / count


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--memory", type=int, metavar="N", help="measure memory per established call instead")
    parser.add_argument("--features", action="store_true",
                        help="the callee has the call-load benchmark's features (feature_decisions.FEATURED)")
    args = parser.parse_args()
    stack, app = await build(featured_settings() if args.features else None)
    if args.memory:
        per_call = memory_per_call(stack, app, args.memory)
        print(f"{args.memory} established calls: {per_call / 1024:.1f} KiB of Python heap per call "
              f"(transactions left: {len(stack.transactions)}, calls: {len(app.calls)})")
        return
    gcpolicy.install()  # as the server does at start-up
    # Fake time moves 10 ms per call, so transactions expire (Timer L/M: 32 s) and the heap reaches the steady
    # state of a server at 100 calls/s... of wall time; the CPU per call is what is measured.
    for n in range(200):  # warm-up
        one_call(stack, app, n, n * 0.01)
        run_timers(stack, app, n * 0.01)
    profiler = cProfile.Profile() if args.profile else None
    start = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    for n in range(1000, 1000 + args.calls):
        now = n * 0.01
        one_call(stack, app, n, now)
        run_timers(stack, app, now)
    if profiler is not None:
        profiler.disable()
    elapsed = time.perf_counter() - start
    per_call = elapsed / args.calls * 1e6
    print(f"{args.calls} calls, {per_call:.1f} µs CPU per call -> {1e6 / per_call:,.0f} calls/s on one core "
          f"(7 messages in, 7 out per call); transactions left: {len(stack.transactions)}, "
          f"calls left: {len(app.calls)}")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    asyncio.run(main())
