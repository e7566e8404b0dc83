"""A minimal HTTP Digest client (RFC 7616, `qop=auth`) for tests: answer one `WWW-Authenticate` challenge
with chosen user name, password, uri, nonce-count and algorithm, to test what a server refuses."""

from __future__ import annotations

import hashlib
import re
import secrets

_PARAM = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def challenge_params(challenge: str) -> dict[str, str]:
    """The parameters of one `Digest ...` challenge value (quoted values unquoted)."""
    assert challenge.startswith("Digest "), challenge
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _PARAM.finditer(challenge[7:])}


def authorization(challenge: str, username: str, password: str, method: str, uri: str, *, nc: int = 1,
                  cnonce: str | None = None, realm: str | None = None, nonce: str | None = None) -> str:
    """The `Authorization` value answering `challenge` (its algorithm, MD5 or SHA-256); a fresh random
    `cnonce` unless given, so that two answers to one challenge are not replays of each other."""
    cnonce = secrets.token_hex(8) if cnonce is None else cnonce
    params = challenge_params(challenge)
    algorithm = params.get("algorithm", "MD5")
    h = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[algorithm]
    realm = params["realm"] if realm is None else realm
    nonce = params["nonce"] if nonce is None else nonce

    def hexdigest(text: str) -> str:
        return h(text.encode()).hexdigest()

    ha1 = hexdigest(f"{username}:{realm}:{password}")
    ha2 = hexdigest(f"{method}:{uri}")
    response = hexdigest(f"{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}")
    return (f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'algorithm={algorithm}, qop=auth, nc={nc:08x}, cnonce="{cnonce}", response="{response}"')
