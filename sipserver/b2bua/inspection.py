"""Checks a UAS makes before acting on a request (RFC 3261 §8.2.1-§8.2.3, §10.3 step 2, RFC 3325 §5).

Method (501/405 + Allow), Request-URI scheme (416), extensions in Require/Proxy-Require (420 + Unsupported),
body type (415 + Accept) and Accept (406) for the bodies we act on. Pure: a request in, a rejection or None out.
This module knows nothing of users, transactions or sockets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sipserver.headers import parse_token_list
from sipserver.message import SipRequest

# What this server implements (the Allow header of every 200 to OPTIONS and of 405/501).
ALLOWED_METHODS: Final = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "PRACK", "UPDATE", "INFO",
                   "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE")
# Methods we know of but do not offer: 405 with Allow rather than 501 (RFC 3261 §8.2.1).
KNOWN_NOT_ALLOWED: Final = frozenset({"PUBLISH"})
SUPPORTED_EXTENSIONS: Final = ("100rel", "replaces", "outbound", "path", "timer", "eventlist")
ACCEPTED_BODY_TYPES: Final = ("application/sdp",)
SIP_SCHEMES: Final = frozenset({"sip", "sips", "tel"})
# Bodies the server itself interprets; other methods carry bodies for someone else.
_METHODS_WITH_SESSION_BODY: Final = frozenset({"INVITE", "UPDATE", "PRACK", "ACK"})


@dataclass(init=False, unsafe_hash=True, slots=True)
class Rejection:
    status: Final[int]
    reason: Final[str]
    headers: Final[tuple[tuple[str, str], ...]]

    def __init__(self, status: int, reason: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers


def allow_header() -> tuple[str, str]:
    return ("Allow", ", ".join(ALLOWED_METHODS))


def supported_header() -> tuple[str, str]:
    return ("Supported", ", ".join(SUPPORTED_EXTENSIONS))


def accept_header() -> tuple[str, str]:
    return ("Accept", ", ".join(ACCEPTED_BODY_TYPES))


def inspect_request(request: SipRequest) -> Rejection | None:
    """The first §8.2 check this request fails, or None. ACK and CANCEL are never rejected here (§8.2.2.3)."""
    method = request.method
    if method in ("ACK", "CANCEL"):
        return None
    if method not in ALLOWED_METHODS:
        if method in KNOWN_NOT_ALLOWED:
            return Rejection(405, "Method Not Allowed", (allow_header(),))
        return Rejection(501, "Not Implemented", (allow_header(),))
    if request.request_uri.scheme not in SIP_SCHEMES:
        return Rejection(416, "Unsupported URI Scheme")
    unsupported = _unsupported(request)
    if unsupported:
        return Rejection(420, "Bad Extension", (("Unsupported", ", ".join(unsupported)),))
    if method in _METHODS_WITH_SESSION_BODY:
        rejection = _inspect_session_body(request)
        if rejection is not None:
            return rejection
    if method == "REGISTER":
        to_uri = request.to.uri
        if to_uri is None or to_uri.scheme not in ("sip", "sips"):
            return Rejection(400, "Bad Request (To must be a SIP or SIPS AOR)")  # RFC 3261 §10.3 step 3
    return None


def _unsupported(request: SipRequest) -> list[str]:
    """Option tags in Require (we are the UAS) and Proxy-Require (we sit where a proxy would) we lack."""
    wanted: list[str] = []
    for header in ("Require", "Proxy-Require"):
        for raw in request.headers.get_all(header):
            wanted.extend(parse_token_list(raw))
    return [tag for tag in wanted if tag.lower() not in SUPPORTED_EXTENSIONS]


def _inspect_session_body(request: SipRequest) -> Rejection | None:
    content_type = request.content_type
    if request.body and content_type is not None:
        media = content_type.split(";", 1)[0].strip().lower()
        if media not in ACCEPTED_BODY_TYPES:
            return Rejection(415, "Unsupported Media Type", (accept_header(),))
    if request.method == "INVITE":
        accept = request.headers.get_all("Accept")
        if accept:
            offered = {part.split(";", 1)[0].strip().lower() for raw in accept for part in raw.split(",")}
            if offered and not offered & {"application/sdp", "application/*", "*/*"}:
                return Rejection(406, "Not Acceptable", (("Warning", '399 - "Only application/sdp bodies"'),))
    return None
