"""Session descriptions for joining two offers: a pickup connects a caller and a picker who both offered.

A picked-up call (RFC 3891 `Replaces`, or the `*97` code) meets two INVITEs that each carry an offer: the
caller's, still waiting for an answer, and the picker's. `cross_answers(caller_offer, picker_offer)` builds
the answer each one gets from the other's own description (RFC 3264 §6): per offered `m=` line, the other
side's stream of the same media kind with only the formats both list (static payload types by number,
dynamic ones by encoding name and clock rate), keeping the other side's numbering, address and attributes —
so media flows directly between the two phones, each sending what the other said it receives. A stream with
no common format is refused (port 0); when no stream is left, the answer is None (the picker gets 488).

`is_hold(description)` tells whether an offer puts the call on hold (RFC 3264 §8.4: `sendonly`/`inactive`,
or the old `c=0.0.0.0`): the BLF shows it as `+sip.rendering=no`.

Pure text work; it knows nothing of calls, dialogs or sockets.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class MediaBlock:
    kind: str
    port: str
    proto: str
    formats: list[str]
    lines: list[str] = field(default_factory=list)  # the a=, c=, b= lines after the m= line

    def encoding(self, fmt: str) -> str:
        """`pcmu/8000` for a format, from its rtpmap; the number itself for a static type without one."""
        prefix = f"a=rtpmap:{fmt} "
        for line in self.lines:
            if line.startswith(prefix):
                name, _, rest = line[len(prefix):].strip().partition("/")
                return f"{name.lower()}/{rest.split('/', 1)[0]}"
        return fmt


@dataclass(slots=True)
class Description:
    session: list[str]
    media: list[MediaBlock]


def parse_description(body: bytes) -> Description | None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    session: list[str] = []
    media: list[MediaBlock] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("m="):
            fields = line[2:].split()
            if len(fields) < 4:
                return None
            media.append(MediaBlock(fields[0], fields[1], fields[2], fields[3:]))
        elif media:
            media[-1].lines.append(line)
        else:
            session.append(line)
    if not session or not session[0].startswith("v="):
        return None
    return Description(session, media)


def _same_format(fmt_a: str, block_a: MediaBlock, fmt_b: str, block_b: MediaBlock) -> bool:
    """Static payload types (below 96) match by number unless an rtpmap says otherwise; dynamic ones by
    encoding name and clock rate."""
    encoding_a, encoding_b = block_a.encoding(fmt_a), block_b.encoding(fmt_b)
    if "/" in encoding_a and "/" in encoding_b:
        return encoding_a == encoding_b
    return fmt_a == fmt_b and fmt_a.isdigit() and int(fmt_a) < 96


def answer_from(offer: Description, other: Description) -> bytes | None:
    """The answer to `offer` made of `other`'s streams (see the module docstring); None if nothing matches."""
    used: set[int] = set()
    lines = list(other.session)
    accepted = 0
    for block in offer.media:
        match: MediaBlock | None = None
        for i, candidate in enumerate(other.media):
            if i not in used and candidate.kind == block.kind and candidate.proto == block.proto \
                    and candidate.port != "0":
                match = candidate
                used.add(i)
                break
        formats = [] if match is None else [
            fmt for fmt in match.formats if any(_same_format(fmt, match, mine, block) for mine in block.formats)]
        if match is None or not formats or block.port == "0":
            lines.append(f"m={block.kind} 0 {block.proto} {block.formats[0]}")
            continue
        accepted += 1
        lines.append(f"m={match.kind} {match.port} {match.proto} {' '.join(formats)}")
        kept = set(formats)
        for line in match.lines:
            if line.startswith(("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:")):
                fmt = line.split(":", 1)[1].split(" ", 1)[0]
                if fmt not in kept and fmt != "*":
                    continue
            lines.append(line)
    if accepted == 0:
        return None
    return ("\r\n".join(lines) + "\r\n").encode()


def cross_answers(caller_offer: bytes, picker_offer: bytes) -> tuple[bytes, bytes] | None:
    """(answer for the caller, answer for the picker), or None when they share no stream."""
    caller = parse_description(caller_offer)
    picker = parse_description(picker_offer)
    if caller is None or picker is None:
        return None
    to_caller = answer_from(caller, picker)
    to_picker = answer_from(picker, caller)
    if to_caller is None or to_picker is None:
        return None
    return to_caller, to_picker


def is_hold(body: bytes) -> bool | None:
    """True when the description puts its streams on hold; None when there is no description."""
    description = parse_description(body) if body else None
    if description is None:
        return None
    session_direction = next((line for line in description.session
                              if line in ("a=sendonly", "a=inactive", "a=sendrecv", "a=recvonly")), "a=sendrecv")
    held_address = any(line.startswith("c=IN IP4 0.0.0.0") for line in description.session)
    audio = [b for b in description.media if b.port != "0"] or description.media
    if not audio:
        return False
    for block in audio:
        direction = next((line for line in block.lines
                          if line in ("a=sendonly", "a=inactive", "a=sendrecv", "a=recvonly")), session_direction)
        address_held = held_address or any(line.startswith("c=IN IP4 0.0.0.0") for line in block.lines)
        if direction not in ("a=sendonly", "a=inactive") and not address_held:
            return False
    return True
