"""A minimal, independent SIP REGISTER client with digest authentication (RFC 3261 §22, RFC 7616 MD5/SHA-256),
written with hashlib only so that it checks the server's digest code rather than sharing it.

`register(...)` sends a REGISTER, answers the 401 challenge (the algorithm asked for, else the first one
offered that it knows) and returns the final response. With `contact=None` it is a query: the 200 lists the
AOR's current bindings with their remaining `expires` (RFC 3261 §10.2.3).
"""

from __future__ import annotations

import hashlib
import re
import socket
import time
import uuid
from dataclasses import dataclass, field

from tests.helpers.server import header_values, host_for_uri, status_code

_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def parse_challenge(value: str) -> dict[str, str]:
    scheme, _, rest = value.strip().partition(" ")
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
              for m in _PARAM.finditer(rest)}
    params["scheme"] = scheme
    return params


def digest_authorization(challenge: dict[str, str], *, method: str, uri: str, username: str, password: str,
                         nc: int = 1, cnonce: str | None = None) -> str:
    algorithm = challenge.get("algorithm", "MD5")
    h = _HASHES.get(algorithm.upper())
    if h is None:
        raise ValueError(f"unsupported algorithm {algorithm}")

    def hx(text: str) -> str:
        return h(text.encode()).hexdigest()

    realm, nonce = challenge["realm"], challenge["nonce"]
    ha1 = hx(f"{username}:{realm}:{password}")
    ha2 = hx(f"{method}:{uri}")
    cnonce = cnonce or uuid.uuid4().hex[:16]
    nc_text = f"{nc:08x}"
    if "auth" in [q.strip() for q in challenge.get("qop", "").split(",")]:
        response = hx(f"{ha1}:{nonce}:{nc_text}:{cnonce}:auth:{ha2}")
        tail = f', qop=auth, nc={nc_text}, cnonce="{cnonce}"'
    else:
        response = hx(f"{ha1}:{nonce}:{ha2}")
        tail = ""
    opaque = f', opaque="{challenge["opaque"]}"' if "opaque" in challenge else ""
    return (f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}", algorithm={algorithm}{tail}{opaque}')


@dataclass
class RegisterResult:
    status: int | None
    response: bytes | None
    challenges: list[bytes] = field(default_factory=list)

    def contacts(self) -> list[str]:
        if self.response is None:
            return []
        out: list[str] = []
        for value in header_values(self.response, "Contact") + header_values(self.response, "m"):
            out.extend(v.strip() for v in re.split(r",(?=\s*<)", value) if v.strip())
        return out

    def expires_of(self, contact_fragment: str) -> int | None:
        for contact in self.contacts():
            if contact_fragment in contact:
                match = re.search(r";\s*expires\s*=\s*([0-9]+)", contact)
                if match:
                    return int(match.group(1))
        return None


class _Channel:
    """One UDP socket or one TCP connection to the server, reused for the challenge round trip."""

    def __init__(self, host: str, port: int, transport: str) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.transport = transport
        self.server = (host, port)
        if transport == "udp":
            self.sock = socket.socket(family, socket.SOCK_DGRAM)
            self.sock.bind((host, 0))
        else:
            self.sock = socket.create_connection((host, port), timeout=5)
        self.local = self.sock.getsockname()[:2]
        self.buffer = bytearray()

    def close(self) -> None:
        self.sock.close()

    def exchange(self, data: bytes, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        if self.transport == "udp":
            self.sock.sendto(data, self.server)
        else:
            self.sock.sendall(data)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                reply = self._receive()
            except TimeoutError:
                return None
            if reply is None:
                return None
            if (status_code(reply) or 0) >= 200:
                return reply

    def _receive(self) -> bytes | None:
        if self.transport == "udp":
            return self.sock.recvfrom(65535)[0]
        while True:
            while self.buffer[:2] == b"\r\n":
                del self.buffer[:2]
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                length = 0
                for line in bytes(self.buffer[:end]).split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() in (b"content-length", b"l"):
                        length = int(value.strip() or b"0")
                total = end + 4 + length
                if len(self.buffer) >= total:
                    message = bytes(self.buffer[:total])
                    del self.buffer[:total]
                    return message
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer.extend(chunk)


def register(
    host: str,
    port: int,
    user: str,
    password: str,
    *,
    transport: str = "udp",
    domain: str | None = None,
    contact: str | None = None,
    expires: int | None = None,
    algorithm: str | None = "MD5",
    timeout: float = 3.0,
) -> RegisterResult:
    """REGISTER for sip:USER@DOMAIN (DOMAIN defaults to the server address), answering one challenge.

    `contact=None` sends no Contact (a query); `contact="*"` with `expires=0` removes every binding; any other
    value is used as the Contact URI (e.g. "sip:201@127.0.0.1:5099").
    """
    channel = _Channel(host, port, transport)
    try:
        aor_host = domain or host_for_uri(host)
        uri = f"sip:{host_for_uri(host)}:{port}"
        call_id = f"{uuid.uuid4().hex}@client"
        tag = uuid.uuid4().hex[:10]
        local = f"{host_for_uri(channel.local[0])}:{channel.local[1]}"

        def build(cseq: int, authorization: str | None) -> bytes:
            lines = [
                f"REGISTER {uri} SIP/2.0",
                f"Via: SIP/2.0/{transport.upper()} {local};branch=z9hG4bK{uuid.uuid4().hex};rport",
                "Max-Forwards: 70",
                f"From: <sip:{user}@{aor_host}>;tag={tag}",
                f"To: <sip:{user}@{aor_host}>",
                f"Call-ID: {call_id}",
                f"CSeq: {cseq} REGISTER",
            ]
            if contact == "*":
                lines.append("Contact: *")
            elif contact is not None:
                lines.append(f"Contact: <{contact}>")
            if expires is not None:
                lines.append(f"Expires: {expires}")
            if authorization is not None:
                lines.append(f"Authorization: {authorization}")
            lines += ["User-Agent: callconnect-tests", "Content-Length: 0", "", ""]
            return "\r\n".join(lines).encode()

        result = RegisterResult(None, None)
        reply = channel.exchange(build(1, None), timeout)
        result.status, result.response = status_code(reply), reply
        if reply is None or result.status != 401:
            return result
        result.challenges.append(reply)
        offered = [parse_challenge(v) for v in header_values(reply, "WWW-Authenticate")]
        offered = [c for c in offered if c["scheme"].lower() == "digest"]
        known = [c for c in offered if c.get("algorithm", "MD5").upper() in _HASHES]
        chosen = next((c for c in known if c.get("algorithm", "MD5").upper() == algorithm), None)
        chosen = chosen or next(iter(known), None)
        if chosen is None:
            return result
        authorization = digest_authorization(chosen, method="REGISTER", uri=uri, username=user,
                                             password=password)
        reply = channel.exchange(build(2, authorization), timeout)
        result.status, result.response = status_code(reply), reply
        return result
    finally:
        channel.close()
