"""Headers that say a call was diverted: History-Info (RFC 7044 with RFC 4458 causes), Diversion (RFC 5806),
the voicemail Request-URI (RFC 4458 §3.1), and how many diversions an incoming request already went through.

A call's diversions are a list of `Hop`s, oldest first: who diverted (as a SIP URI) and why. From them,
`history_info()` renders the chain from the first called party to the current target: each retargeted entry
carries the `Reason` that made us leave it (escaped in the URI, RFC 7044 §9.1/§10.2) and each new target its
`cause` URI parameter (RFC 4458) and `mp` (mapped to another user, RFC 7044 §10.3) pointing at its parent.
`diversion()` renders the same chain newest first, as carriers expect.

Pure string work over already-known URIs; nothing here knows users, features or sockets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote as url_quote

from sipserver.errors import RemoteProtocolError
from sipserver.headers import parse_params, split_comma_list
from sipserver.message import SipRequest

# RFC 4458 §3.1 / RFC 8119 cause values for the feature engine's reasons (features.md "SIP mapping").
CAUSES: Final = {"unconditional": 302, "user-busy": 486, "no-answer": 408, "unavailable": 480,
                 "do-not-disturb": 486, "follow-me": 302}
# RFC 5806 §3 reasons (our names are already those of Diversion).
_DIVERSION_REASONS: Final = frozenset({"unknown", "user-busy", "no-answer", "unavailable", "unconditional",
                                       "time-of-day", "do-not-disturb", "deflection", "follow-me",
                                       "out-of-service", "away"})


@dataclass(init=False, unsafe_hash=True, slots=True)
class Hop:
    """`uri` (a bare SIP URI, no brackets) diverted the call to the next party for `reason`."""

    uri: Final[str]
    reason: Final[str]

    def __init__(self, uri: str, reason: str) -> None:
        self.uri = uri
        self.reason = reason


def _add_param(uri: str, param: str) -> str:
    """`sip:a@b` + `cause=486` -> `sip:a@b;cause=486`, keeping any header part after `?` at the end."""
    base, sep, headers = uri.partition("?")
    return f"{base};{param}{sep}{headers}"


def _has_param(uri: str, name: str) -> bool:
    """`uri` (no header part considered) has the URI parameter `name`."""
    params = uri.partition("?")[0].split(";")[1:]
    return any(p.partition("=")[0].strip().lower() == name for p in params)


def _with_reason(uri: str, cause: int) -> str:
    reason = url_quote(f"SIP;cause={cause}", safe="")
    return f"{uri}{'&' if '?' in uri else '?'}Reason={reason}"


def history_info(first: str, hops: Sequence[Hop], target: str) -> str:
    """History-Info from the first called party `first` through every hop to `target` (all bare URIs).
    Hop k says party k diverted to party k+1: party 0 is `first`, party k (k >= 1) is `hops[k].uri`, and the
    last party is `target`."""
    parties = [first, *(hop.uri for hop in hops[1:]), target] if hops else [target]
    causes = [CAUSES.get(hop.reason, 302) for hop in hops]
    entries: list[str] = []
    for k, party in enumerate(parties):
        # RFC 4458 / RFC 7044: the target's `cause` parameter; a voicemail URI carries its own already (a
        # URI parameter appears once, RFC 3261 §19.1.1)
        uri = party if k == 0 or _has_param(party, "cause") else _add_param(party, f"cause={causes[k - 1]}")
        if k < len(causes):
            uri = _with_reason(uri, causes[k])
        index = ".".join(["1"] * (k + 1))
        entries.append(f"<{uri}>;index={index}" + (f";mp={index[:-2]}" if k else ""))
    return ", ".join(entries)


def diversion(hops: Sequence[Hop]) -> str:
    """Diversion (RFC 5806), most recent diversion first, each counted once."""
    parts = []
    for hop in reversed(hops):
        reason = hop.reason if hop.reason in _DIVERSION_REASONS else "unknown"
        parts.append(f"<{hop.uri}>;reason={reason};counter=1")
    return ", ".join(parts)


def headers_for(first: str | None, hops: Sequence[Hop], target: str) -> tuple[tuple[str, str], ...]:
    """Both headers for a leg towards `target`, or none when the call was not diverted."""
    if not hops or first is None:
        return ()
    return (("History-Info", history_info(first, hops, target)), ("Diversion", diversion(hops)))


def voicemail_request_uri(service_uri: str, mailbox_aor: str, reason: str | None, time_zone: str = "") -> str:
    """RFC 4458 §3.1: the voicemail service's URI with `target` (the mailbox's AOR, escaped) and `cause` (a
    diverted call: leave a message); without `cause` (reason None) it is the owner calling their mailbox.
    `tz` (ours) is the owner's time zone, for when their messages came."""
    uri = _add_param(service_uri, f"target={url_quote(mailbox_aor, safe=':')}")
    if reason is not None:
        uri = _add_param(uri, f"cause={CAUSES.get(reason, 480)}")
    return _add_param(uri, f"tz={url_quote(time_zone, safe='/+')}") if time_zone else uri


def diversions_in(request: SipRequest) -> int:
    """How many diversions an incoming request reports already: the larger of the Diversion counters and the
    History-Info entries that record a retargeting (`mp`/`rc` tags or a `cause` parameter)."""
    counted = 0
    for value in request.headers.get_all("Diversion"):
        for entry in _entries(value):
            counter = parse_params(entry.partition(">")[2]).get("counter")
            counted += int(counter) if counter is not None and counter.isdigit() else 1
    retargeted = 0
    for value in request.headers.get_all("History-Info"):
        for entry in _entries(value):
            uri, _, params = entry.partition(">")
            tags = parse_params(params)
            if "mp" in tags or "rc" in tags or ";cause=" in uri:
                retargeted += 1
    return max(counted, retargeted)


def _entries(value: str) -> list[str]:
    try:
        return split_comma_list(value)
    except RemoteProtocolError:
        return []
