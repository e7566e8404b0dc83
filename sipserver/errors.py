"""Protocol errors of the SIP core (the h11 split: whose fault was it?).

`LocalProtocolError` is our own misuse of the API (a bug in the caller). `RemoteProtocolError` is a peer's bad
message: its `status_hint` is the response the RFC asks for (400, 416, 420, 481, 482, 483, 505, 513...), or
`None` when the message must be dropped silently (a malformed response, unrecoverable framing).
This module knows nothing about sockets, transactions or users.
"""

from __future__ import annotations


class SipError(Exception):
    """Base class of every error raised by the SIP core."""


class LocalProtocolError(SipError):
    """We tried to do something the protocol does not allow (a programming error on our side)."""


class RemoteProtocolError(SipError):
    """A peer sent something the protocol does not allow.

    `status_hint` is the status code to answer with (a request) or None (drop: responses, broken framing).
    `extra_headers` are added to that answer, e.g. `Unsupported` for 420 (RFC 3261 §8.2.2.3).
    `partial` is typed `object` so that this module imports nothing; it holds a `SipRequest` when set.
    """

    def __init__(
        self,
        reason: str,
        *,
        status_hint: int | None = 400,
        extra_headers: tuple[tuple[str, str], ...] = (),
        partial: object | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_hint = status_hint
        self.extra_headers = extra_headers
        # The best-effort parse of the bad message (a SipRequest whose Via/From/To/Call-ID/CSeq can be copied
        # into the error response), or None when nothing usable was read.
        self.partial = partial
