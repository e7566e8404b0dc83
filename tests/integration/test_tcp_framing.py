"""TCP framing against the real server (security.md: framing by Content-Length only; pipelined and partial
messages both work; CRLF keep-alives get a pong; an abrupt close leaks nothing)."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest

from tests.helpers.server import ServerProcess, options_request, status_code, wait_for
from tests.integration.conftest import ServerFactory

pytestmark = pytest.mark.integration


def read_messages(sock: socket.socket, count: int, timeout: float = 3.0) -> list[bytes]:
    """`count` whole messages (Content-Length framed) from `sock`; fewer on timeout or close."""
    deadline = time.monotonic() + timeout
    buffer = b""
    out: list[bytes] = []
    while len(out) < count and time.monotonic() < deadline:
        while buffer.startswith(b"\r\n"):
            buffer = buffer[2:]
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            length = 0
            for line in buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() in (b"content-length", b"l"):
                    length = int(value.strip())
            if len(buffer) >= end + 4 + length:
                out.append(buffer[: end + 4 + length])
                buffer = buffer[end + 4 + length:]
                continue
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        buffer += chunk
    return out


def test_pipelined_requests_in_one_write(server: ServerProcess) -> None:
    requests = [options_request(server.host, server.port, transport="TCP") for _ in range(3)]
    with socket.create_connection((server.host, server.port), timeout=3) as sock:
        sock.sendall(b"".join(requests))
        answers = read_messages(sock, 3)
    assert [status_code(a) for a in answers] == [200, 200, 200], answers


def test_request_split_into_single_bytes(server: ServerProcess) -> None:
    request = options_request(server.host, server.port, transport="TCP")
    with socket.create_connection((server.host, server.port), timeout=3) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(request)):
            sock.sendall(request[i:i + 1])
        answers = read_messages(sock, 1)
    assert [status_code(a) for a in answers] == [200], answers


def test_crlf_keepalive_gets_a_pong(server: ServerProcess) -> None:
    """RFC 5626 §3.5.1: a CRLFCRLF ping on a connection is answered with CRLF; the connection stays usable."""
    with socket.create_connection((server.host, server.port), timeout=3) as sock:
        sock.sendall(b"\r\n\r\n")
        sock.settimeout(3)
        assert sock.recv(16) == b"\r\n"
        sock.sendall(options_request(server.host, server.port, transport="TCP"))
        answers = read_messages(sock, 1)
    assert [status_code(a) for a in answers] == [200], answers


def test_abrupt_closes_leak_no_connection(server_factory: ServerFactory) -> None:
    """Connections closed mid-message (or reset) are forgotten: /status shows no TCP connection left, and
    nothing went wrong in the server (no Traceback in its log)."""
    server = server_factory(http=True)
    half = options_request(server.host, server.port, transport="TCP")[:60]
    for n in range(20):
        sock = socket.create_connection((server.host, server.port), timeout=3)
        sock.sendall(half)
        if n % 2:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
        sock.close()

    def connections() -> int:
        assert server.alive(), server.describe()
        with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/status", timeout=5) as answer:
            return int(json.loads(answer.read())["tcp_connections"])

    wait_for(lambda: connections() == 0, 5, what="every closed TCP connection to be forgotten")
    assert server.alive()
    assert "Traceback" not in server.stderr_text(), server.stderr_tail(30)
