"""Throughput of sipserver.digest on one core: verifies per second, and parse + verify per second.

Run: ``python benchmarks/digest_bench.py [N]``. Each iteration is one authenticated REGISTER as a phone
sends it (reusing its nonce with an increasing nc), so the nonce-count table is exercised too. Not a test:
no assertions on timing, just figures to compare against the 5,000 REGISTER/s budget. Best of 5 runs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sipserver.digest import (
    ALGORITHMS,
    AuthResult,
    DigestAuthenticator,
    digest_response,
    ha1,
    parse_credentials,
)

REALM = "example.com"
URI = "sip:example.com"
T0 = 1_700_000_000.0
SECRET = b"benchmark-secret-benchmark-secret"


def prepare(auth: DigestAuthenticator, algorithm: str, n: int, clients: int = 1000) -> list[str]:
    """`n` Authorization values from `clients` phones, each with its own nonce and increasing nc."""
    values: list[str] = []
    nonces = [auth.make_nonce(REALM, T0 + c * 1e-6) for c in range(clients)]
    for i in range(n):
        c = i % clients
        user, nonce, nc, cnonce = f"user{c}", nonces[c], i // clients + 1, f"cn{c:08x}"
        key = ha1(user, REALM, "pw", algorithm)
        response = digest_response(algorithm, key, nonce, "REGISTER", URI, qop="auth", nc=nc, cnonce=cnonce)
        values.append(
            f'Digest username="{user}",realm="{REALM}",cnonce="{cnonce}",nc={nc:08x},qop=auth,'
            f'uri="{URI}",nonce="{nonce}",response="{response}",algorithm={algorithm}'
        )
    return values


def best_of(runs: int, fn: Callable[[], None]) -> float:
    """The shortest of `runs` timings of `fn` (the machine is shared: the minimum is the least disturbed)."""
    times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run(algorithm: str, n: int, runs: int = 5) -> None:
    auth = DigestAuthenticator(SECRET)
    values = prepare(auth, algorithm, n)
    users = {f"user{c}": {a: ha1(f"user{c}", REALM, "pw", a) for a in ALGORITHMS} for c in range(1000)}
    parsed = [parse_credentials(v) for v in values]
    creds = [c for c in parsed if c is not None]
    assert len(creds) == n
    now = T0 + 1.0

    def parse_all() -> None:
        for v in values:
            parse_credentials(v)

    def verify_all() -> None:
        fresh = DigestAuthenticator(SECRET)  # same secret, empty nonce-count table: every nc is new again
        for c in creds:
            if fresh.verify(c, "REGISTER", users[c.username], REALM, now) is not AuthResult.OK:
                raise SystemExit(f"unexpected result for {c}")

    def challenge_some() -> None:
        for i in range(n // 10):
            auth.challenge_headers(REALM, now + i * 1e-6)

    parse_s = best_of(runs, parse_all)
    verify_s = best_of(runs, verify_all)
    challenge_s = best_of(runs, challenge_some)
    print(
        f"{algorithm:8} verify {n / verify_s:>9,.0f}/s   parse {n / parse_s:>9,.0f}/s   "
        f"parse+verify {n / (parse_s + verify_s):>9,.0f}/s   challenge {n // 10 / challenge_s:>9,.0f}/s"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    for algorithm in ALGORITHMS:
        run(algorithm, n)


if __name__ == "__main__":
    main()
