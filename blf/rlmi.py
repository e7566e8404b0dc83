"""Resource list NOTIFY bodies (RFC 4662 §5): one BLF list subscription carries every monitored user.

`render_list_notify(...)` gives the `multipart/related` body (RFC 2387) of one list NOTIFY and its
Content-Type: first the RLMI document (`application/rlmi+xml`) naming the list and each resource, then one
`application/dialog-info+xml` part per resource whose state is sent. Shaped as Yealink phones read it
(`reference/yealink.md`): every `<resource>` has a `<name>` (else the key shows no label), each part has a
Content-ID that the RLMI `<instance cid=...>` points to, the list `version` counts the list NOTIFYs of the
subscription (RFC 4662 §5.2), `fullState="true"` lists every member, `fullState="false"` only the changed
ones. The boundary is drawn from the parts' own bytes so that it cannot occur inside them.

Pure: member views and dialog-info bodies in, bytes out. It knows no subscriptions, users or sockets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from xml.sax.saxutils import escape, quoteattr

from blf.dialog_info import XML_FORBIDDEN

NAMESPACE: Final = "urn:ietf:params:xml:ns:rlmi"
RLMI: Final = "application/rlmi+xml"
DIALOG_INFO: Final = "application/dialog-info+xml"


@dataclass(frozen=True, slots=True)
class ListMember:
    """One resource of the list: its AOR, the name its key shows, and its dialog-info body (already
    rendered with that resource's own version)."""

    uri: str
    name: str
    instance: str
    body: bytes


def render_list_notify(list_uri: str, list_name: str, version: int, members: Sequence[ListMember], *,
                       full_state: bool, domain: str) -> tuple[bytes, str]:
    """The multipart body and its Content-Type for one list NOTIFY; `domain` makes the Content-IDs global."""
    cids = [f"{member.instance}-{_short(member.body)}@{domain}" for member in members]
    rlmi_cid = f"rlmi-{version}@{domain}"
    rlmi = _rlmi(list_uri, list_name, version, members, cids, full_state=full_state)
    parts: list[tuple[str, str, bytes]] = [(rlmi_cid, RLMI, rlmi)]
    parts += [(cid, DIALOG_INFO, member.body) for cid, member in zip(cids, members, strict=True)]
    boundary = _boundary(parts)
    out = bytearray()
    for cid, content_type, body in parts:
        out += (f"--{boundary}\r\n"
                "Content-Transfer-Encoding: binary\r\n"
                f"Content-ID: <{cid}>\r\n"
                f'Content-Type: {content_type};charset="UTF-8"\r\n\r\n').encode()
        out += body
        out += b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    content_type = f'multipart/related;type="{RLMI}";start="<{rlmi_cid}>";boundary="{boundary}"'
    return bytes(out), content_type


def _rlmi(list_uri: str, list_name: str, version: int, members: Sequence[ListMember], cids: Sequence[str], *,
          full_state: bool) -> bytes:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<list xmlns="{NAMESPACE}" uri={quoteattr(list_uri)} version="{version}" '
             f'fullState="{"true" if full_state else "false"}">',
             f"  <name>{_text(list_name)}</name>"]
    for member, cid in zip(members, cids, strict=True):
        lines += [f"  <resource uri={quoteattr(member.uri)}>",
                  f"    <name>{_text(member.name)}</name>",
                  f'    <instance id={quoteattr(member.instance)} state="active" cid={quoteattr(cid)}/>',
                  "  </resource>"]
    lines.append("</list>")
    return ("\n".join(lines) + "\n").encode()


def _text(value: str) -> str:
    return escape(XML_FORBIDDEN.sub(" ", value))


def _short(body: bytes) -> str:
    return hashlib.blake2s(body, digest_size=4).hexdigest()


def _boundary(parts: Sequence[tuple[str, str, bytes]]) -> str:
    """A boundary found in none of the parts (RFC 2046 §5.1.1), stable for the same parts."""
    seed = hashlib.blake2s(b"".join(body for _, _, body in parts), digest_size=8).hexdigest()
    boundary = f"blf{seed}"
    while any(boundary.encode() in body for _, _, body in parts):
        boundary += "x"
    return boundary
