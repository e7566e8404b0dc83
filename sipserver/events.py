"""What the SIP stack tells the layer above it (the transaction user): frozen, keyword-only, past tense.

The stack (`sipserver.stack`) turns bytes and timer ticks into these; the application matches on them.
This module only names things; it holds no logic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sipserver.address import Endpoint
from sipserver.message import SipRequest, SipResponse
from sipserver.transaction import ClientTransaction, ServerTransaction


@dataclass(init=False, unsafe_hash=True, slots=True)
class RequestReceived:
    """A new request (not a retransmission, not ACK, not CANCEL) with its server transaction."""

    request: Final[SipRequest]
    source: Final[Endpoint]
    transaction: Final[ServerTransaction]

    def __init__(self, *, request: SipRequest, source: Endpoint, transaction: ServerTransaction) -> None:
        self.request = request
        self.source = source
        self.transaction = transaction


@dataclass(init=False, unsafe_hash=True, slots=True)
class AckReceived:
    """An ACK for a 2xx (or matching no transaction): it belongs to a dialog (RFC 3261 §13.3.1.4, §17.2.3)."""

    request: Final[SipRequest]
    source: Final[Endpoint]

    def __init__(self, *, request: SipRequest, source: Endpoint) -> None:
        self.request = request
        self.source = source


@dataclass(init=False, unsafe_hash=True, slots=True)
class CancelReceived:
    """A CANCEL matched a pending INVITE server transaction; the stack already answered it 200 (§9.2).

    The application answers the INVITE 487 if it has not sent a final response yet.
    """

    request: Final[SipRequest]
    source: Final[Endpoint]
    invite: Final[ServerTransaction]

    def __init__(self, *, request: SipRequest, source: Endpoint, invite: ServerTransaction) -> None:
        self.request = request
        self.source = source
        self.invite = invite


@dataclass(init=False, unsafe_hash=True, slots=True)
class ResponseReceived:
    """A response our client transaction passes up (provisional, final, or a 2xx retransmission)."""

    response: Final[SipResponse]
    source: Final[Endpoint]
    transaction: Final[ClientTransaction]

    def __init__(self, *, response: SipResponse, source: Endpoint, transaction: ClientTransaction) -> None:
        self.response = response
        self.source = source
        self.transaction = transaction


@dataclass(init=False, unsafe_hash=True, slots=True)
class StrayResponseReceived:
    """A response matching no transaction, e.g. a late 2xx from a losing fork (the B2BUA ACKs and BYEs it)."""

    response: Final[SipResponse]
    source: Final[Endpoint]

    def __init__(self, *, response: SipResponse, source: Endpoint) -> None:
        self.response = response
        self.source = source


@dataclass(init=False, unsafe_hash=True, slots=True)
class ClientTransactionTimedOut:
    """Timer B or F fired: the request got no final response (the application treats it as a 408)."""

    transaction: Final[ClientTransaction]

    def __init__(self, *, transaction: ClientTransaction) -> None:
        self.transaction = transaction


@dataclass(init=False, unsafe_hash=True, slots=True)
class ServerTransactionTimedOut:
    """Timer H fired (no ACK for our non-2xx final) or the 2xx was never ACKed (§13.3.1.4)."""

    transaction: Final[ServerTransaction | None]
    call_id: Final[str | None]

    def __init__(self, *, transaction: ServerTransaction | None, call_id: str | None = None) -> None:
        self.transaction = transaction
        self.call_id = call_id


StackEvent = (
    RequestReceived
    | AckReceived
    | CancelReceived
    | ResponseReceived
    | StrayResponseReceived
    | ClientTransactionTimedOut
    | ServerTransactionTimedOut
)
