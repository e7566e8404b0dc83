"""asyncio transports for SIP: UDP datagrams and TCP streams (RFC 3261 §18, RFC 5626 §3.5.1 keep-alives).

Bytes in, bytes out, nothing else: each received message is handed to `on_message(data, source)` with an
`Endpoint` naming the transport, the peer address and (for TCP) the connection, and `TransportSet.send(data,
destination)` puts bytes on the wire, reusing a TCP connection when the destination names one or when a connection
to that address is open (responses and requests to a contact that registered over TCP). TLS will plug in as
another stream listener with an `ssl.SSLContext`: `StreamListener` takes the transport name for that reason.
This module knows nothing of SIP beyond stream framing; it must not parse headers or hold transactions.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

import structlog

from sipserver.address import Endpoint
from sipserver.errors import RemoteProtocolError
from sipserver.parser import MAX_UDP_MESSAGE, KeepAlive, StreamFramer

log: Final = structlog.get_logger("callconnect.transport")

MessageHandler = Callable[[bytes, Endpoint], None]
UnreachableHandler = Callable[[Endpoint], None]

# Socket buffers sized for bursts of a few thousand messages (the default drops above ~1,000 calls/s).
UDP_BUFFER_BYTES: Final = 4 * 1024 * 1024


@dataclass(init=False, unsafe_hash=True, slots=True)
class ListenAddress:
    host: Final[str]
    port: Final[int]

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen_address(text: str, default_port: int = 5060) -> ListenAddress:
    """`HOST:PORT`, `HOST`, `[V6]:PORT` or `[V6]` -> ListenAddress (ValueError with a clear message)."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"unterminated IPv6 reference in {text!r}")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"expected ':PORT' after ']' in {text!r}")
        port_text = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text:
        raise ValueError(f"write IPv6 addresses in brackets, e.g. [::1]:5060, not {text!r}")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"missing host in {text!r}")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ValueError(f"port must be a number in {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range in {text!r}")
    return ListenAddress(host, port)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, on_message: MessageHandler) -> None:
        self._on_message = on_message
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, option, UDP_BUFFER_BYTES)
                except OSError:
                    pass

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if len(data) > MAX_UDP_MESSAGE:
            return
        host, port = addr[0], addr[1]
        assert isinstance(host, str) and isinstance(port, int)
        try:
            self._on_message(data, Endpoint("udp", host, port))
        except Exception:  # the server must keep serving whatever one message does
            log.exception("udp_message_failed", peer=f"{host}:{port}")

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the transaction timers handle the consequences.
        log.debug("udp_error", error=str(exc))


class _StreamConnection(asyncio.Protocol):
    """One TCP connection: frames messages by Content-Length, answers CRLF keep-alives."""

    def __init__(self, owner: StreamListener, connection_id: int) -> None:
        self._owner = owner
        self.connection_id = connection_id
        self._framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer: Endpoint | None = None
        self._pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if not peer:  # reset before we got here: nothing to talk to
            self.transport.close()
            return
        self.peer = Endpoint(self._owner.transport_name, peer[0], peer[1], self.connection_id)
        self._owner._register(self)
        for data in self._pending:
            self.transport.write(data)
        self._pending.clear()

    def data_received(self, data: bytes) -> None:
        if self.peer is None or self.transport is None:
            return
        try:
            frames = self._framer.feed(data)
        except RemoteProtocolError as exc:
            # RFC 3261 §18.3: without a usable Content-Length the stream cannot be re-synchronised.
            log.info("stream_framing_error", peer=str(self.peer), reason=exc.reason)
            self.transport.close()
            return
        for frame in frames:
            if isinstance(frame, KeepAlive):
                self.transport.write(b"\r\n")  # RFC 5626 §3.5.1 pong
                continue
            try:
                self._owner.on_message(frame, self.peer)
            except Exception:
                log.exception("stream_message_failed", peer=str(self.peer))
        error = self._framer.pending_error
        if error is not None:
            # The good messages before the break were handled; the stream cannot be re-synchronised.
            log.info("stream_framing_error", peer=str(self.peer), reason=error.reason)
            self.transport.close()

    def write(self, data: bytes) -> None:
        if self.transport is None:
            self._pending.append(data)
        elif not self.transport.is_closing():
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._unregister(self)
        self._owner._lost(self)


class StreamListener:
    """Accepts and opens stream connections of one transport kind ("tcp"; "tls" with an SSL context)."""

    def __init__(self, on_message: MessageHandler, transport_name: str = "tcp",
                 on_unreachable: UnreachableHandler | None = None, on_lost: UnreachableHandler | None = None
                 ) -> None:
        self.on_message = on_message
        self.on_unreachable = on_unreachable  # told when a connection we opened could not be made
        self.on_lost = on_lost  # told when a connection closes other than by our own close()
        self._closing = False
        self.transport_name = transport_name
        self._ids = itertools.count(1)
        self._by_id: dict[int, _StreamConnection] = {}
        self._by_address: dict[tuple[str, int], _StreamConnection] = {}
        self._servers: list[asyncio.Server] = []
        self.max_connections = 10_000

    def _new_connection(self) -> _StreamConnection:
        return _StreamConnection(self, next(self._ids))

    def _register(self, conn: _StreamConnection) -> None:
        assert conn.peer is not None and conn.transport is not None
        if len(self._by_id) >= self.max_connections:
            log.warning("stream_connection_limit", peer=str(conn.peer))
            conn.transport.close()
            return
        self._by_id[conn.connection_id] = conn
        self._by_address[(conn.peer.host, conn.peer.port)] = conn

    def _unregister(self, conn: _StreamConnection) -> None:
        self._by_id.pop(conn.connection_id, None)
        if conn.peer is not None and self._by_address.get((conn.peer.host, conn.peer.port)) is conn:
            del self._by_address[(conn.peer.host, conn.peer.port)]

    def _lost(self, conn: _StreamConnection) -> None:
        """Tell `on_lost` of a connection gone other than by our close(), unless another one to the same
        address still carries what is sent there."""
        if conn.peer is None or self._closing or self.on_lost is None:
            return
        if (conn.peer.host, conn.peer.port) in self._by_address:
            return
        self.on_lost(Endpoint(self.transport_name, conn.peer.host, conn.peer.port))

    async def listen(self, address: ListenAddress) -> ListenAddress:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            self._new_connection, address.host, address.port, family=address.family, reuse_address=True
        )
        self._servers.append(server)
        # A list under uvloop, a tuple under asyncio: read untyped, or the compiled module insists on a tuple.
        sockets: Sequence[socket.socket] = cast(Any, server).sockets
        port = sockets[0].getsockname()[1]
        return ListenAddress(address.host, port)

    def send(self, data: bytes, destination: Endpoint) -> None:
        conn = None
        if destination.connection_id is not None:
            conn = self._by_id.get(destination.connection_id)
        if conn is None:
            conn = self._by_address.get((destination.host, destination.port))
        if conn is None:
            conn = self._connect(destination)
        conn.write(data)

    def _connect(self, destination: Endpoint) -> _StreamConnection:
        """Open a connection and queue writes until it is up (RFC 3261 §18.1.1 when no connection exists)."""
        loop = asyncio.get_running_loop()
        conn = self._new_connection()

        async def connect() -> None:
            try:
                await loop.create_connection(lambda: conn, destination.host, destination.port)
            except OSError as exc:
                log.info("stream_connect_failed", peer=str(destination), error=str(exc))
                if self._by_address.get((destination.host, destination.port)) is conn:
                    del self._by_address[(destination.host, destination.port)]
                if self.on_unreachable is not None:
                    self.on_unreachable(Endpoint(self.transport_name, destination.host, destination.port))

        self._by_address[(destination.host, destination.port)] = conn
        task = loop.create_task(connect())
        _background.add(task)
        task.add_done_callback(_background.discard)
        return conn

    def connection_count(self) -> int:
        return len(self._by_id)

    async def close(self) -> None:
        self._closing = True
        for server in self._servers:
            server.close()
        for conn in list(self._by_id.values()):
            if conn.transport is not None:
                conn.transport.close()
        for server in self._servers:
            await server.wait_closed()


_background: Final[set[asyncio.Task[None]]] = set()


class TransportSet:
    """Every socket of the server; `send()` picks the right one for a destination."""

    def __init__(self, on_message: MessageHandler, on_unreachable: UnreachableHandler | None = None,
                 on_lost: UnreachableHandler | None = None) -> None:
        self._on_message = on_message
        self._udp: list[tuple[ListenAddress, asyncio.DatagramTransport]] = []
        self.tcp = StreamListener(on_message, "tcp", on_unreachable, on_lost)
        self.bound: list[ListenAddress] = []

    async def listen(self, address: ListenAddress) -> ListenAddress:
        """Open UDP and TCP on `address` (port 0: a free port, the same one for both when possible)."""
        loop = asyncio.get_running_loop()
        bound = address
        if address.port == 0:
            bound = await self.tcp.listen(address)
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self._on_message), local_addr=(bound.host, bound.port),
                family=address.family,
            )
        else:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self._on_message), local_addr=(address.host, address.port),
                family=address.family,
            )
            await self.tcp.listen(address)
        self._udp.append((bound, transport))
        self.bound.append(bound)
        return bound

    def udp_address_for(self, host: str) -> ListenAddress | None:
        for bound, _ in self._udp:
            if (":" in bound.host) == (":" in host):
                return bound
        return None

    def send(self, data: bytes, destination: Endpoint) -> None:
        if destination.transport == "udp":
            for bound, transport in self._udp:
                if (":" in bound.host) == (":" in destination.host):
                    transport.sendto(data, (destination.host, destination.port))
                    return
            log.warning("no_udp_socket_for", destination=str(destination))
        elif destination.transport == "tcp":
            self.tcp.send(data, destination)
        else:
            log.warning("unsupported_transport", destination=str(destination))

    async def close(self) -> None:
        for _, transport in self._udp:
            transport.close()
        await self.tcp.close()
