"""What an INVITE reaching the voicemail service asks for (RFC 4458 §3.1 voicemail URIs).

The server sends two kinds: a diverted call, `sip:voicemail@host;target=<mailbox AOR, escaped>;cause=486`
(cause 486 busy or do not disturb, 408 no answer, 480 unreachable, 302 unconditional): leave a message; and
mailbox access (1969 / *98 from the owner's own phone, authenticated by the server), the same URI with `target`
and no `cause`. Both carry `tz`, the owner's group's time zone (IANA name, for "received today at 14 30";
UTC when absent or unknown). The owner's language comes as `Accept-Language`; the caller as the From header
shows them to the mailbox owner (the server applied the owner's CLID delivery rules), anonymous when hidden.

Pure: the INVITE's bytes in, a `VoicemailRequest` (or a `BadRequest` with the status to answer) out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sipserver.errors import SipError
from sipserver.message import SipRequest
from sipserver.parser import parse_message
from sipserver.uri import parse_uri
from voicemail.prompts import Language, language_of

REASONS: Final = {"486": "user-busy", "408": "no-answer", "480": "unavailable", "302": "unconditional",
                  "487": "deflection", "503": "unavailable"}


@dataclass(frozen=True, slots=True)
class VoicemailRequest:
    mode: str  # "deposit" or "access"
    mailbox: str  # the owner's user id (the user part of the target AOR)
    reason: str  # for a deposit: user-busy, no-answer, unavailable, ...
    caller_number: str | None  # None: anonymous or unavailable
    caller_name: str
    language: Language
    time_zone: str = "UTC"  # an IANA name ZoneInfo knows


@dataclass(frozen=True, slots=True)
class BadRequest:
    status: int
    reason: str


def parse_invite(data: bytes) -> VoicemailRequest | BadRequest:
    try:
        message = parse_message(data)
    except SipError:
        return BadRequest(400, "Bad Request")
    if not isinstance(message, SipRequest) or message.method != "INVITE":
        return BadRequest(400, "Bad Request")
    try:
        uri = message.request_uri
    except SipError:
        return BadRequest(416, "Unsupported URI Scheme")
    target = uri.params.get("target")
    if not target:
        return BadRequest(404, "No Mailbox")
    try:
        mailbox_uri = parse_uri(unquote(target))
    except SipError:
        return BadRequest(404, "No Mailbox")
    mailbox = mailbox_uri.user
    if not mailbox:
        return BadRequest(404, "No Mailbox")
    cause = uri.params.get("cause")
    mode = "access" if cause is None else "deposit"
    reason = REASONS.get(cause or "", "no-answer")
    caller_number, caller_name = _caller(message)
    return VoicemailRequest(mode=mode, mailbox=unquote(mailbox), reason=reason, caller_number=caller_number,
                            caller_name=caller_name, language=language_of(message.headers.get("Accept-Language")),
                            time_zone=_time_zone(uri.params.get("tz")))


def _time_zone(name: str | None) -> str:
    if not name:
        return "UTC"
    name = unquote(name)
    try:
        ZoneInfo(name)
    except (ValueError, OSError, ZoneInfoNotFoundError):
        return "UTC"
    return name


def _caller(message: SipRequest) -> tuple[str | None, str]:
    try:
        sender = message.from_
    except SipError:
        return None, ""
    name = (sender.display or "").strip()
    uri = sender.uri
    user = uri.user if uri is not None else None
    privacy = (message.headers.get("Privacy") or "").lower()
    if user is None or user.lower() in ("anonymous", "unavailable") or (uri is not None
                                                                          and uri.host == "anonymous.invalid") \
            or "id" in privacy:
        return None, "" if name.lower() in ("anonymous", "unavailable") else name
    return unquote(user), name
