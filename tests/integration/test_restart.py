"""Registrations survive a restart of the server with their remaining lifetime: after a clean stop (SIGTERM)
and after a crash (SIGKILL right after the 200 was received): a 200 means "on disk".

The binding is checked twice: in the SQLite file (read-only), and by asking the restarted server itself with a
REGISTER query without Contact (RFC 3261 §10.2.3), whose 200 lists the Contacts with their `expires`.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers.server import DEMO_USERS, ServerProcess, read_bindings
from tests.integration.conftest import ServerFactory
from tests.integration.sip_client import register
from tests.integration.sipp import run_sipp

pytestmark = pytest.mark.integration

EXPIRES = 300


def register_with_sipp(server: ServerProcess, workdir: Path, user: str) -> str:
    """Register `user` with SIPp (Expires 300); returns the Contact's host:port fragment."""
    result = run_sipp("register_auth", server.host, server.port, workdir, service=user, username=user,
                      password=DEMO_USERS[user])
    assert result.returncode == 0, result.explain()
    local_port = result.args[result.args.index("-p") + 1]
    return f"@127.0.0.1:{local_port}"


def assert_binding_survived(server: ServerProcess, user: str, fragment: str, registered_at: float) -> None:
    rows = [b for b in read_bindings(server.data_dir, user) if fragment in b.contact]
    assert len(rows) == 1, f"binding lost on disk: {read_bindings(server.data_dir)}\n{server.describe()}"
    elapsed = time.time() - registered_at
    remaining = rows[0].remaining()
    assert EXPIRES - elapsed - 5 <= remaining <= EXPIRES - elapsed + 1, (remaining, elapsed)

    # The restarted server knows it too: a REGISTER query (no Contact) lists it with its remaining expiry.
    query = register(server.host, server.port, user, DEMO_USERS[user])
    assert query.status == 200, f"{query.response!r}\n{server.describe()}"
    expires = query.expires_of(fragment)
    assert expires is not None, f"binding missing from the query's 200: {query.contacts()}"
    assert EXPIRES - elapsed - 5 <= expires <= EXPIRES, (expires, elapsed)


def test_binding_survives_sigterm(sipp: str, server_factory: ServerFactory, tmp_path: Path) -> None:
    server = server_factory()
    registered_at = time.time()
    fragment = register_with_sipp(server, tmp_path / "sipp", "201")
    assert server.stop() == 0, f"SIGTERM should give a clean exit\n{server.describe()}"
    assert "Traceback" not in server.stderr_text(), server.describe()
    server.restart()
    assert_binding_survived(server, "201", fragment, registered_at)


def test_binding_survives_sigkill_right_after_the_200(sipp: str, server_factory: ServerFactory,
                                                      tmp_path: Path) -> None:
    server = server_factory()
    registered_at = time.time()
    fragment = register_with_sipp(server, tmp_path / "sipp", "202")
    server.kill()  # no chance to flush anything: the 200 must only have been sent once on disk
    server.restart()
    assert_binding_survived(server, "202", fragment, registered_at)


def test_many_bindings_survive_sigkill(server_factory: ServerFactory) -> None:
    """Each 200 is durable, also in a quick burst from several users (group commit), then kill -9."""
    server = server_factory()
    registered_at = time.time()
    fragments: dict[str, list[str]] = {}
    for n, (user, password) in enumerate(DEMO_USERS.items()):
        for k in range(3):
            contact = f"sip:{user}@127.0.0.1:{20000 + n * 10 + k}"
            result = register(server.host, server.port, user, password, contact=contact, expires=EXPIRES)
            assert result.status == 200, f"{result.response!r}\n{server.describe()}"
            fragments.setdefault(user, []).append(contact.split("@", 1)[1])
    server.kill()
    server.restart()
    for user, contacts in fragments.items():
        for fragment in contacts:
            assert_binding_survived(server, user, "@" + fragment, registered_at)


def test_unregister_survives_sigkill(server_factory: ServerFactory) -> None:
    """A removal acknowledged with 200 is durable too."""
    server = server_factory()
    contact = "sip:203@127.0.0.1:20999"
    added = register(server.host, server.port, "203", DEMO_USERS["203"], contact=contact, expires=EXPIRES)
    assert added.status == 200, added.response
    removed = register(server.host, server.port, "203", DEMO_USERS["203"], contact="*", expires=0)
    assert removed.status == 200, removed.response
    server.kill()
    server.restart()
    assert [b for b in read_bindings(server.data_dir, "203") if "20999" in b.contact] == []
    query = register(server.host, server.port, "203", DEMO_USERS["203"])
    assert query.status == 200 and query.expires_of("20999") is None, query.response
