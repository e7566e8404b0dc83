"""Where a message came from or goes to: transport, host, port and, for streams, the connection.

Pure value type shared by the transaction layer, the stack and the asyncio transports; it knows nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(init=False, unsafe_hash=True, slots=True)
class Endpoint:
    """A transport address. `transport` is lower-case: "udp", "tcp" or "tls".

    `host` is an IP literal without brackets ("127.0.0.1", "::1"). `connection_id` names the stream a message
    arrived on (TCP/TLS), so that responses and requests to a TCP-registered contact reuse that connection
    (RFC 3261 §18.2.2, RFC 5626); it is None for UDP and for a destination with no known connection.
    """

    transport: Final[str]
    host: Final[str]
    port: Final[int]
    connection_id: Final[int | None]

    def __init__(self, transport: str, host: str, port: int, connection_id: int | None = None) -> None:
        self.transport = transport
        self.host = host
        self.port = port
        self.connection_id = connection_id

    @property
    def reliable(self) -> bool:
        """True for stream transports, where the transaction layer does not retransmit (RFC 3261 §17.1.1.2)."""
        return self.transport != "udp"

    def without_connection(self) -> Endpoint:
        return Endpoint(self.transport, self.host, self.port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"
