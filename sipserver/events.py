"""What the SIP stack tells the layer above it (the transaction user): frozen, keyword-only, past tense.

The stack (`sipserver.stack`) turns bytes and timer ticks into these; the application matches on them.
This module only names things; it holds no logic.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipserver.address import Endpoint
from sipserver.message import SipRequest, SipResponse
from sipserver.transaction import ClientTransaction, ServerTransaction


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestReceived:
    """A new request (not a retransmission, not ACK, not CANCEL) with its server transaction."""

    request: SipRequest
    source: Endpoint
    transaction: ServerTransaction


@dataclass(frozen=True, slots=True, kw_only=True)
class AckReceived:
    """An ACK for a 2xx (or matching no transaction): it belongs to a dialog (RFC 3261 §13.3.1.4, §17.2.3)."""

    request: SipRequest
    source: Endpoint


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelReceived:
    """A CANCEL matched a pending INVITE server transaction; the stack already answered it 200 (§9.2).

    The application answers the INVITE 487 if it has not sent a final response yet.
    """

    request: SipRequest
    source: Endpoint
    invite: ServerTransaction


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseReceived:
    """A response our client transaction passes up (provisional, final, or a 2xx retransmission)."""

    response: SipResponse
    source: Endpoint
    transaction: ClientTransaction


@dataclass(frozen=True, slots=True, kw_only=True)
class StrayResponseReceived:
    """A response matching no transaction, e.g. a late 2xx from a losing fork (the B2BUA ACKs and BYEs it)."""

    response: SipResponse
    source: Endpoint


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientTransactionTimedOut:
    """Timer B or F fired: the request got no final response (the application treats it as a 408)."""

    transaction: ClientTransaction


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerTransactionTimedOut:
    """Timer H fired (no ACK for our non-2xx final) or the 2xx was never ACKed (§13.3.1.4)."""

    transaction: ServerTransaction | None
    call_id: str | None = None


StackEvent = (
    RequestReceived
    | AckReceived
    | CancelReceived
    | ResponseReceived
    | StrayResponseReceived
    | ClientTransactionTimedOut
    | ServerTransactionTimedOut
)
