"""SIPp (a real, independent SIP implementation) against the real server on loopback: registration with digest
authentication, a wrong password, a stale nonce, removal of bindings and OPTIONS, over UDP and TCP.

Each test starts a fresh server, runs one scenario of `sipp_scenarios/` and checks SIPp's exit status (0:
every call went as the scenario says) and then the server's state on disk (the SQLite `registrations` table,
opened read-only).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.server import (
    DEMO_USERS,
    ServerProcess,
    header_values,
    options_ok,
    options_request,
    read_bindings,
    status_code,
    tcp_exchange,
    udp_exchange,
)
from tests.integration.conftest import ServerFactory
from tests.integration.sipp import run_sipp

pytestmark = pytest.mark.integration

TRANSPORTS = ["udp", "tcp"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_register_auth(sipp: str, server: ServerProcess, tmp_path: Path, transport: str) -> None:
    """REGISTER -> 401 -> REGISTER with digest -> 200 listing our Contact; the binding is on disk."""
    result = run_sipp("register_auth", server.host, server.port, tmp_path / "sipp", transport=transport,
                      service="201", username="201", password=DEMO_USERS["201"], local_port=None)
    assert result.returncode == 0, result.explain()

    local_port = result.args[result.args.index("-p") + 1]
    bindings = read_bindings(server.data_dir, "201")
    assert len(bindings) == 1, f"expected one binding for 201, got {bindings}\n{server.describe()}"
    binding = bindings[0]
    assert f"@127.0.0.1:{local_port}" in binding.contact, binding
    assert 250 < binding.remaining() <= 300, binding  # Expires: 300 asked, nothing shortened
    assert binding.source.startswith(transport), binding


def test_register_bad_password(sipp: str, server: ServerProcess, tmp_path: Path) -> None:
    """A digest made with a wrong password gets 401 (or 403) again, never 200, and no binding is created."""
    result = run_sipp("register_bad_password", server.host, server.port, tmp_path / "sipp",
                      service="202", username="202", password="not-demo202")
    assert result.returncode == 0, result.explain()
    assert read_bindings(server.data_dir, "202") == []
    assert "auth_failed" in server.stderr_text(), "a failed authentication must be logged for fail2ban"


def test_register_unknown_user_is_refused(sipp: str, server: ServerProcess, tmp_path: Path) -> None:
    """A user that does not exist is refused exactly like a wrong password (no user enumeration)."""
    result = run_sipp("register_bad_password", server.host, server.port, tmp_path / "sipp",
                      service="299", username="299", password="whatever")
    assert result.returncode == 0, result.explain()
    assert read_bindings(server.data_dir, "299") == []


def test_register_expired_nonce(sipp: str, server_factory: ServerFactory, tmp_path: Path) -> None:
    """An answer to a challenge older than --nonce-lifetime gets 401 with stale=true; the re-auth gets 200."""
    server = server_factory(nonce_lifetime=1)
    result = run_sipp("register_expired_nonce", server.host, server.port, tmp_path / "sipp",
                      service="203", username="203", password=DEMO_USERS["203"], pause_ms=1600)
    assert result.returncode == 0, result.explain()
    assert any("stale challenge" in line and "true" in line for line in result.log_lines()), result.explain()
    assert len(read_bindings(server.data_dir, "203")) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unregister(sipp: str, server: ServerProcess, tmp_path: Path, transport: str) -> None:
    """Register, then `Contact: *` + `Expires: 0`: 200 without Contact, and the binding is gone from disk."""
    result = run_sipp("unregister", server.host, server.port, tmp_path / "sipp", transport=transport,
                      service="204", username="204", password=DEMO_USERS["204"])
    assert result.returncode == 0, result.explain()
    assert read_bindings(server.data_dir, "204") == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_options(sipp: str, server: ServerProcess, tmp_path: Path, transport: str) -> None:
    """OPTIONS without credentials gets 200 with an Allow header listing REGISTER and OPTIONS."""
    result = run_sipp("options", server.host, server.port, tmp_path / "sipp", transport=transport, calls=3)
    assert result.returncode == 0, result.explain()


def test_options_has_allow_accept_supported(server: ServerProcess) -> None:
    """The same, checked field by field on the raw answer (RFC 3261 §11.2)."""
    for reply in (
        udp_exchange(server.host, server.port, options_request(server.host, server.port)),
        tcp_exchange(server.host, server.port, options_request(server.host, server.port, transport="TCP")),
    ):
        assert status_code(reply) == 200, reply
        assert reply is not None
        allow = ",".join(header_values(reply, "Allow"))
        assert "REGISTER" in allow and "OPTIONS" in allow, reply
        assert header_values(reply, "Accept"), reply
        assert header_values(reply, "Supported") or b"Supported" in reply or b"k:" in reply, reply


def test_unknown_method_gets_501(server: ServerProcess) -> None:
    """A method the server does not know gets 501 Not Implemented (RFC 3261 §8.2.1)."""
    request = options_request(server.host, server.port).replace(b"OPTIONS", b"FROBNICATE")
    reply = udp_exchange(server.host, server.port, request)
    assert status_code(reply) == 501, f"{reply!r}\n{server.describe()}"


def test_register_many_sequential_users(sipp: str, server: ServerProcess, tmp_path: Path) -> None:
    """All four demo users register one after the other from one SIPp each; four bindings on disk."""
    for user, password in DEMO_USERS.items():
        result = run_sipp("register_auth", server.host, server.port, tmp_path / f"sipp-{user}",
                          service=user, username=user, password=password)
        assert result.returncode == 0, result.explain()
    for user in DEMO_USERS:
        assert len(read_bindings(server.data_dir, user)) == 1, read_bindings(server.data_dir)
    aors = {b.aor for b in read_bindings(server.data_dir)}
    assert len(aors) == len(DEMO_USERS), aors


def test_status_counts_registrations(sipp: str, server_factory: ServerFactory, tmp_path: Path) -> None:
    """`GET /status` (with --http-listen) reports the registrations and the requests handled."""
    server = server_factory(http=True)
    result = run_sipp("register_auth", server.host, server.port, tmp_path / "sipp", service="201",
                      username="201", password=DEMO_USERS["201"])
    assert result.returncode == 0, result.explain()
    with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/status", timeout=5) as answer:
        status = json.loads(answer.read())
    assert status["registrations"] == 1, status
    assert status["requests"] >= 2, status  # at least the REGISTER and its authenticated retry


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ipv6_register_and_options(sipp: str, server_factory: ServerFactory, tmp_path: Path,
                                   transport: str) -> None:
    """`--sip-listen [::1]:PORT`: OPTIONS answered, SIPp registers over IPv6, the binding has a [::1] Contact."""
    server = server_factory(host="::1")
    assert options_ok(server.host, server.port, transport=transport, timeout=2), server.describe()
    result = run_sipp("register_auth", server.host, server.port, tmp_path / "sipp", transport=transport,
                      service="202", username="202", password=DEMO_USERS["202"])
    assert result.returncode == 0, result.explain()
    bindings = read_bindings(server.data_dir, "202")
    assert len(bindings) == 1 and "[::1]" in bindings[0].contact, bindings
