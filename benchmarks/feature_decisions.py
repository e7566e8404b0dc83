"""Decision time of the feature engine per call, in process (no sockets): how long the terminating side takes to
decide what a call does, for callees with the benchmark's feature set.

    python benchmarks/feature_decisions.py              # 20,000 decisions per case, 5 rounds
    python benchmarks/feature_decisions.py --count 100000 --rounds 7

Cases, each for Marie (202) called by an outside number:
- `engine, plain`: `features.engine.on_arrival()` for a user with default settings;
- `engine, featured`: the same for the call-load benchmark's `--features` settings (forward on busy and on no
  answer active, simultaneous ring to two numbers with a schedule criterion and a blacklisted criterion, a
  user schedule): the schedule is evaluated in the group's time zone and both criteria are matched;
- `terminator, featured`: `Terminator.arrive()`, everything the B2BUA does to decide before it sends the first
  INVITE: context (registered devices, live calls, schedules), decision and the stage of `Target`s built from
  the user's binding.
It prints the median and the best round in microseconds per decision, and asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from features.engine import CallContext, Presence, on_arrival  # noqa: E402
from features.model import ServiceSettings  # noqa: E402
from features.schedules import ScheduleBook  # noqa: E402
from provisioning.demo import demo_group_description  # noqa: E402
from provisioning.model import Directory  # noqa: E402
from provisioning.store import InMemorySubscriberStore  # noqa: E402
from sipserver.address import Endpoint  # noqa: E402
from sipserver.b2bua import identity  # noqa: E402
from sipserver.b2bua.live import LiveCalls  # noqa: E402
from sipserver.b2bua.location import Binding, BindingChange, LocationService  # noqa: E402
from sipserver.b2bua.termination import CallerInfo, Termination, Terminator  # noqa: E402

# The settings the call-load benchmark gives its callee with --features (benchmarks/call_load.py).
FEATURED: dict[str, object] = {
    "forward_busy": {"active": True, "number": "203"},
    "forward_no_answer": {"active": True, "number": "203", "rings": 4},
    "schedules": [{"name": "always", **{day: {"start": "00:00", "end": "24:00"} for day in (
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}}],
    "simultaneous_ring": {
        "active": True, "numbers": [{"number": "0470000001"}, {"number": "0470000002"}],
        "criteria": [
            {"name": "mobiles", "time_schedule": "always", "calls_from": "specific", "numbers": ["+32470*"]},
            {"name": "not the boss", "calls_from": "specific", "numbers": ["+3225550000"], "blacklisted": True},
        ],
    },
}


def featured_settings() -> ServiceSettings:
    return ServiceSettings.from_dict(FEATURED)


def time_per_call(fn: Callable[[], object], count: int, rounds: int) -> tuple[float, float]:
    results = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(count):
            fn()
        results.append((time.perf_counter() - started) / count * 1e6)
    return statistics.median(results), min(results)


def contexts() -> tuple[CallContext, CallContext]:
    caller = CallerInfo.of(identity.CallerId(number="+3226660000", name=""), internal=False, user=None,
                           group=demo_group_description("callconnect.local").group).numbers

    def context(services: ServiceSettings) -> CallContext:
        return CallContext(user_id="marie.martin", services=services,
                           schedules=ScheduleBook(services.schedules, services.holiday_schedules),
                           time_zone="Europe/Brussels", seconds_per_ring=5, presence=Presence(1, 0),
                           caller=caller, now=time.time(), voicemail_available=True)

    return context(ServiceSettings()), context(featured_settings())


async def featured_directory() -> Directory:
    store = InMemorySubscriberStore()
    await store.apply_group(demo_group_description("callconnect.local"))
    await store.update_services("marie.martin", featured_settings())
    return await store.load_directory()


def terminator_case(directory: Directory) -> Callable[[], object]:
    aor = "sip:marie.martin@callconnect.local"
    location = LocationService()
    location.apply([BindingChange(aor, "sip:202@127.0.0.1:7002", Binding(
        aor=aor, contact="sip:202@127.0.0.1:7002", call_id="r", cseq=1, expires_at=time.time() + 3600,
        source=Endpoint("udp", "127.0.0.1", 7002)))])
    terminator = Terminator(location=location, live=LiveCalls(), voicemail=(), wall_clock=time.time)
    group = directory.default_group
    marie = directory.user_by_id("marie.martin")
    assert marie is not None
    caller = CallerInfo.of(identity.CallerId(number="+3226660000", name=""), internal=False, user=None, group=group)

    def arrive() -> object:
        return terminator.arrive(Termination(caller=caller), marie, group, directory)

    plan = arrive()
    assert isinstance(plan, tuple) and len(plan[0].targets) == 1, plan  # rings Marie's phone only
    return arrive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    plain, featured = contexts()
    directory = asyncio.run(featured_directory())
    cases: list[tuple[str, Callable[[], object]]] = [
        ("engine, plain", lambda: on_arrival(plain)),
        ("engine, featured", lambda: on_arrival(featured)),
        ("terminator, featured", terminator_case(directory)),
    ]
    print(f"{'case':<24} {'median µs':>10} {'best µs':>9}   ({args.count} decisions x {args.rounds} rounds)")
    for name, fn in cases:
        median, best = time_per_call(fn, args.count, args.rounds)
        print(f"{name:<24} {median:>10.1f} {best:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
