"""The session description of a call the server answers itself with no media (a feature code's confirmation).

RFC 3264 §6: the answer has one `m=` line per offered stream, in order, with a format the offer listed;
every stream is accepted as `a=inactive` (§5.1) on the discard port, so no RTP flows either way. Without an
offer (a late-offer INVITE) the same shape is our offer: audio, PCMU, inactive (RFC 3264 §5).
Pure text work; it knows nothing of calls or sockets.
"""

from __future__ import annotations

from typing import Final

DISCARD_PORT: Final = 9


def inactive_session(offer: bytes, host: str, session_id: int) -> bytes:
    """An answer to `offer` (or an offer when it is empty) from `host`, every stream inactive."""
    family = "IP6" if ":" in host else "IP4"
    lines = [
        "v=0", f"o=callconnect {session_id} {session_id} IN {family} {host}", "s=callconnect", f"c=IN {family} {host}",
        "t=0 0",
    ]
    media = _media_lines(offer.decode("utf-8", "replace")) if offer else []
    if not media:
        media = [("audio", "RTP/AVP", "0", "a=rtpmap:0 PCMU/8000")]
    for kind, proto, fmt, rtpmap in media:
        lines.append(f"m={kind} {DISCARD_PORT} {proto} {fmt}")
        if rtpmap:
            lines.append(rtpmap)
        lines.append("a=inactive")
    return ("\r\n".join(lines) + "\r\n").encode()


def _media_lines(text: str) -> list[tuple[str, str, str, str]]:
    """(media, proto, first format, its rtpmap line or "") for each offered m= line."""
    blocks: list[tuple[list[str], dict[str, str]]] = []
    for line in text.splitlines():
        if line.startswith("m="):
            blocks.append((line[2:].split(), {}))
        elif blocks and line.startswith("a=rtpmap:"):
            fmt = line[len("a=rtpmap:"):].split(" ", 1)[0]
            blocks[-1][1][fmt] = line
    out: list[tuple[str, str, str, str]] = []
    for fields, maps in blocks:
        if len(fields) < 4:
            continue
        kind, _port, proto, fmt = fields[0], fields[1], fields[2], fields[3]
        out.append((kind, proto, fmt, maps.get(fmt, "")))
    return out
