"""The asyncio shell around the sans-IO stack: sockets in, one timer, bytes out.

Every received message and every timer tick is handed to the stack with `loop.time()` as `now`; the events it
returns go to the application's `handle(event, now)`; whatever the stack queued is then written to the sockets,
and one `call_at` is (re)armed for the stack's next deadline (the aioquic shape). Nothing here awaits on the hot
path. This module knows nothing of registrations, users or calls: that is the application's business.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Final, Protocol

import structlog

from sipserver.address import Endpoint
from sipserver.aio.transports import ListenAddress, TransportSet
from sipserver.b2bua.call import LocalAddress
from sipserver.events import StackEvent
from sipserver.stack import SipStack

log: Final = structlog.get_logger("callconnect.sip")


class Application(Protocol):
    def handle(self, event: StackEvent, now: float) -> None: ...

    def next_deadline(self) -> float | None: ...

    def on_timer(self, now: float) -> None: ...


class SipServer:
    def __init__(self, stack: SipStack) -> None:
        self.stack = stack
        self.transports = TransportSet(self._on_message, self._on_unreachable, self._on_connection_lost)
        self.application: Application | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._route_cache: dict[str, str] = {}

    async def listen(self, address: ListenAddress) -> ListenAddress:
        self._loop = asyncio.get_running_loop()
        bound = await self.transports.listen(address)
        log.info("sip_listening", address=str(bound), transports="udp,tcp")
        return bound

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "listen() first"
        return self._loop

    def now(self) -> float:
        return self.loop.time()

    def local_address_for(self, peer: Endpoint) -> LocalAddress:
        """The address we put in Via/Contact towards `peer`: the listener of the same IP family; for a wildcard
        listener (0.0.0.0, ::), the interface address the kernel would use to reach `peer`."""
        bound = self.transports.udp_address_for(peer.host) or self.transports.bound[0]
        host = bound.host
        if host in ("0.0.0.0", "::"):
            host = self._source_address_towards(peer.host, bound.family)
        return LocalAddress(host, bound.port)

    def _source_address_towards(self, peer_host: str, family: socket.AddressFamily) -> str:
        cached = self._route_cache.get(peer_host)
        if cached is None:
            try:
                with socket.socket(family, socket.SOCK_DGRAM) as probe:
                    probe.connect((peer_host, 9))  # no packet is sent: connect() on UDP only picks a route
                    cached = str(probe.getsockname()[0])
            except OSError:
                cached = "127.0.0.1" if family == socket.AF_INET else "::1"
            if len(self._route_cache) > 10_000:
                self._route_cache.clear()
            self._route_cache[peer_host] = cached
        return cached

    def _on_message(self, data: bytes, source: Endpoint) -> None:
        now = self.loop.time()
        events = self.stack.receive(data, source, now)
        if events and self.application is not None:
            for event in events:
                self.application.handle(event, now)
        self.flush()

    def _on_unreachable(self, destination: Endpoint) -> None:
        """A connection we opened failed: what waited for it fails now (RFC 3261 §17.1.4), not at Timer B."""
        now = self.loop.time()
        events = self.stack.transport_failed(destination, now)
        if events and self.application is not None:
            for event in events:
                self.application.handle(event, now)
        self.flush()

    def _on_connection_lost(self, peer: Endpoint) -> None:
        """A stream connection closed by its peer (or broken): what we sent over it and still waits for a
        final answer fails now, as the peer will not answer there (a killed voicemail worker, a phone gone)."""
        now = self.loop.time()
        events = self.stack.transport_failed(peer, now, provisional_too=True)
        if events and self.application is not None:
            for event in events:
                self.application.handle(event, now)
        self.flush()

    def flush(self) -> None:
        """Write what the stack queued and re-arm the timer for its next deadline."""
        for data, destination in self.stack.pop_outgoing():
            self.transports.send(data, destination)
        deadline = self.stack.next_deadline()
        if self.application is not None:
            own = self.application.next_deadline()
            if own is not None and (deadline is None or own < deadline):
                deadline = own
        if deadline is None:
            return
        if self._timer_at is not None and self._timer_at <= deadline:
            return  # the armed timer fires first and re-arms after itself
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        now = self.loop.time()
        try:
            events = self.stack.on_timer(now)
            if self.application is not None:
                for event in events:
                    self.application.handle(event, now)
                self.application.on_timer(now)
        except Exception:
            log.exception("timer_handling_failed")
        self.flush()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.flush()
        await self.transports.close()
