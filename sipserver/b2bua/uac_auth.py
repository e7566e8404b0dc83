"""Answering a digest challenge as a client (RFC 3261 §22.2, RFC 8760): our credentials towards a trunk.

Given the 401/407 a carrier sent, pick its strongest Digest challenge we can answer (SHA-256, then MD5), and
render the `Authorization`/`Proxy-Authorization` value for the retried request (qop=auth, nc=1, fresh cnonce).
Pure apart from the random cnonce; knows nothing of calls or sockets.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final

from sipserver.digest import digest_response, ha1
from sipserver.errors import RemoteProtocolError
from sipserver.headers import parse_auth, quote
from sipserver.message import SipResponse

_PREFERENCE: Final = ("SHA-256", "MD5")


@dataclass(init=False, unsafe_hash=True, slots=True)
class ClientCredentials:
    username: Final[str]
    password: Final[str]
    realm: Final[str | None]  # None: answer whatever realm the peer names

    def __init__(self, username: str, password: str, realm: str | None = None) -> None:
        self.username = username
        self.password = password
        self.realm = realm


def answer_challenge(response: SipResponse, method: str, uri: str, credentials: ClientCredentials
                     ) -> tuple[str, str] | None:
    """(header name, value) answering the challenge in `response`, or None when we cannot answer it."""
    proxy = response.status == 407
    challenges = response.headers.get_all("Proxy-Authenticate" if proxy else "WWW-Authenticate")
    best: dict[str, str] | None = None
    best_rank = len(_PREFERENCE)
    for raw in challenges:
        try:
            scheme, params = parse_auth(raw)
        except RemoteProtocolError:
            continue
        if scheme.lower() != "digest" or "nonce" not in params or "realm" not in params:
            continue
        if credentials.realm is not None and params["realm"] != credentials.realm:
            continue
        algorithm = params.get("algorithm", "MD5").upper()
        rank = _PREFERENCE.index(algorithm) if algorithm in _PREFERENCE else None
        if rank is not None and rank < best_rank:
            best, best_rank = params, rank
    if best is None:
        return None
    algorithm = _PREFERENCE[best_rank]
    realm, nonce = best["realm"], best["nonce"]
    qops = [q.strip() for q in best.get("qop", "").split(",") if q.strip()]
    key = ha1(credentials.username, realm, credentials.password, algorithm)
    fields = [f"username={quote(credentials.username)}", f"realm={quote(realm)}", f"nonce={quote(nonce)}",
              f"uri={quote(uri)}", f"algorithm={algorithm}"]
    if "auth" in qops:
        cnonce = secrets.token_hex(8)
        digest = digest_response(algorithm, key, nonce, method, uri, qop="auth", nc=1, cnonce=cnonce)
        fields += [f"response={quote(digest)}", "qop=auth", "nc=00000001", f"cnonce={quote(cnonce)}"]
    elif not qops:
        fields.append(f"response={quote(digest_response(algorithm, key, nonce, method, uri))}")
    else:
        return None  # only auth-int offered
    if "opaque" in best:
        fields.append(f"opaque={quote(best['opaque'])}")
    return ("Proxy-Authorization" if proxy else "Authorization", "Digest " + ", ".join(fields))
