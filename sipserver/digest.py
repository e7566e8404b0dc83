"""SIP Digest authentication, server side: challenges, credential parsing and verification.

Standards:
- RFC 3261 §22 (SIP use of HTTP Digest), §20.7/§20.27/§20.28/§20.44 (header grammars), §25.1 (``LHEX``).
- RFC 2617 §3.2.2 (``response`` with ``qop=auth``, ``nc``, ``cnonce``) and RFC 2069 (the same without qop).
- RFC 7616 §3.3-§3.4 (``SHA-256``, ``algorithm``, ``stale``), §5.4 (nonce lifetime), §5.5 (``nc`` replay).
- RFC 8760 §2.4 (SIP: one challenge per algorithm, the most preferred first: SHA-256, then MD5).
- RFC 4475 §3.3.7 ``regaut01``: an unknown Authorization scheme is not an error, just no credentials.

What it offers:
- ``ha1()`` builds the stored ``H(username:realm:password)``; passwords themselves never reach the verifier.
- ``parse_credentials()`` reads an ``Authorization``/``Proxy-Authorization`` value; it returns None for any
  other scheme or any damage and never raises.
- ``DigestAuthenticator`` mints stateless nonces (``base64url(issued_us || HMAC-SHA256(secret, ...)[:16])``,
  verifiable by any process sharing the secret) and verifies credentials into an ``AuthResult``.

Choices worth knowing:
- Challenges depend on (realm, now, stale, proxy) only, never on the user: a known and an unknown user get
  byte-identical challenges, and ``verify`` does the same hashing for an unknown user
  (``ha1_by_algorithm=None``) as for a known one, so neither content nor timing enumerates users.
- Nonce-count replay protection is per (nonce, username, cnonce), in a bounded in-memory table: the HMAC nonce
  is a function of the issue time, so two clients challenged in the same microsecond share a nonce, and a
  per-nonce-only count would reject the second one. The response covers nonce, nc and cnonce, so a replay
  cannot change any of them. When the table is full the entry first used longest ago is evicted, and any nonce
  issued at or before the newest evicted one is answered ``STALE`` unless still tracked (so eviction never
  reopens a replay; the client simply takes a fresh nonce). The table is per process: processes sharing the
  secret accept each other's nonces but do not share nonce counts.
- Credentials without ``qop`` (RFC 2069 clients) carry no ``nc``: they cannot be replay-protected and are
  accepted for the whole nonce lifetime.
- ``creds.uri`` must be present but is not compared to the Request-URI: clients differ (SIPp's ``-auth_uri``,
  phones that put the registrar domain, proxies that rewrite the Request-URI), and the URI is covered by the
  response hash anyway. A caller that wants the strict RFC 3261 §22.4 check can compare it itself.
- The nonce is bound to the realm; ``creds.realm`` must equal the realm being checked (else ``BAD_NONCE``: the
  credentials were not made for our challenge, so the client is challenged again, not counted as a failure).
- Only ``qop=auth`` (or no qop) and the ``MD5``/``SHA-256`` algorithms are verified; ``-sess`` variants and
  ``auth-int`` give ``UNSUPPORTED``. ``body`` is accepted for a future ``auth-int`` and unused today.
- Client interop (checked on loopback): pjsua2 2.15 answers the SHA-256 challenge; SIPp 3.6.1 reads only the
  first challenge and knows only MD5, so it fails with the default order: pass
  ``challenge_headers(..., algorithms=("MD5", "SHA-256"))`` (or ``("MD5",)``) for such clients.
- Strings are encoded ``utf-8``/``surrogateescape``, matching how ``sipserver.message`` decodes the wire, so a
  non-UTF-8 byte in a username or URI hashes as the byte the client hashed.

What it must not know: sockets, clocks (``now`` is always an argument; use wall-clock seconds if several
processes or restarts share the secret), users and their storage (the caller passes HA1 values), SIP messages
(the caller passes header values and the method), and any other module of ours.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

__all__ = [
    "ALGORITHMS",
    "AuthResult",
    "Credentials",
    "DigestAuthenticator",
    "digest_response",
    "ha1",
    "parse_credentials",
]


class _HashObject(Protocol):
    def hexdigest(self) -> str: ...


_Hash = Callable[[bytes], _HashObject]

# Supported algorithms, most preferred first (RFC 8760 §2.4), and their hash constructors.
_HASHES: Final[dict[str, _Hash]] = {"SHA-256": hashlib.sha256, "MD5": hashlib.md5}
ALGORITHMS: Final[tuple[str, ...]] = tuple(_HASHES)

# Canonical spelling of the algorithm names RFC 7616 §6.1 registers (the token is matched case-insensitively).
_CANONICAL_ALGORITHM: Final = {
    name.upper(): name
    for name in ("MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess")
}

_ENC: Final = "utf-8"
_ERR: Final = "surrogateescape"
_NONCE_TAG: Final = b"callconnect/digest-nonce/v1\x00"
_NONCE_RAW_LEN: Final = 24  # 8-byte issue time (microseconds, signed big-endian) + 16-byte truncated HMAC
_NONCE_LEN: Final = 32  # base64 of 24 bytes, no padding


def ha1(username: str, realm: str, password: str, algorithm: str) -> str:
    """Hex ``H(username:realm:password)`` (RFC 7616 §3.4.2) for ``"MD5"`` or ``"SHA-256"`` (any case).

    Raises ValueError for any other algorithm: ``-sess`` HA1 values depend on the nonce and cannot be stored.
    """
    hash_fn = _HASHES.get(_CANONICAL_ALGORITHM.get(algorithm.upper(), algorithm))
    if hash_fn is None:
        raise ValueError(f"unsupported digest algorithm for a stored HA1: {algorithm!r}")
    return hash_fn(f"{username}:{realm}:{password}".encode(_ENC, _ERR)).hexdigest()


def digest_response(
    algorithm: str,
    ha1_hex: str,
    nonce: str,
    method: str,
    uri: str,
    *,
    qop: str | None = None,
    nc: int | None = None,
    cnonce: str | None = None,
) -> str:
    """The ``response`` value for ``qop=auth`` (RFC 2617 §3.2.2.1) or no qop (RFC 2069).

    With ``qop="auth"``: ``H(HA1:nonce:nc:cnonce:auth:H(method:uri))`` with ``nc`` as 8 lowercase hex digits;
    without: ``H(HA1:nonce:H(method:uri))``. Also usable client side (answering a trunk's challenge).
    Raises ValueError for an unsupported algorithm or qop, or qop without nc/cnonce.
    """
    hash_fn = _HASHES.get(algorithm)
    if hash_fn is None:
        raise ValueError(f"unsupported digest algorithm: {algorithm!r}")
    if qop is not None and (qop != "auth" or nc is None or cnonce is None):
        raise ValueError("qop must be 'auth' with nc and cnonce, or None")
    return _response(hash_fn, ha1_hex, nonce, method, uri, qop, nc, cnonce)


def _response(
    hash_fn: _Hash,
    ha1_hex: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None,
    nc: int | None,
    cnonce: str | None,
) -> str:
    ha2 = hash_fn(f"{method}:{uri}".encode(_ENC, _ERR)).hexdigest()
    if qop is None:  # RFC 2069
        return hash_fn(f"{ha1_hex}:{nonce}:{ha2}".encode(_ENC, _ERR)).hexdigest()
    # RFC 2617 §3.2.2.1
    return hash_fn(f"{ha1_hex}:{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}".encode(_ENC, _ERR)).hexdigest()


# -- credentials ---------------------------------------------------------------------------------------------


@dataclass(init=False, unsafe_hash=True, slots=True)
class Credentials:
    """One Digest ``Authorization``/``Proxy-Authorization`` value (RFC 3261 §25.1 ``digest-response``).

    ``algorithm`` is canonically spelled (``"MD5"`` when absent); ``qop`` is lower-cased (``None`` when
    absent; only ``"auth"`` is verified); ``nc`` is the nonce-count as an int (8 hex digits on the wire).
    """

    username: Final[str]
    realm: Final[str]
    nonce: Final[str]
    uri: Final[str]
    response: Final[str]
    algorithm: Final[str]
    qop: Final[str | None]
    nc: Final[int | None]
    cnonce: Final[str | None]
    opaque: Final[str | None]

    def __init__(
        self,
        username: str,
        realm: str,
        nonce: str,
        uri: str,
        response: str,
        algorithm: str = "MD5",
        qop: str | None = None,
        nc: int | None = None,
        cnonce: str | None = None,
        opaque: str | None = None,
    ) -> None:
        self.username = username
        self.realm = realm
        self.nonce = nonce
        self.uri = uri
        self.response = response
        self.algorithm = algorithm
        self.qop = qop
        self.nc = nc
        self.cnonce = cnonce
        self.opaque = opaque


_WS: Final = " \t\r\n"
_WS_COMMA: Final = " \t\r\n,"
# RFC 3261 §25.1 token characters.
_TOKEN_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
# Unquoted values: tokens, leniently widened to any visible ASCII but quote and comma (a few clients send
# an unquoted uri=sip:...). Whitespace inside such a value is garbage.
_BARE_VALUE_CHARS: Final = frozenset(chr(c) for c in range(0x21, 0x7F)) - {'"', ","}
_HEX_CHARS: Final = frozenset("0123456789abcdefABCDEF")
_REQUIRED: Final = ("username", "realm", "nonce", "uri", "response")


def _parse_auth_params(s: str, i: int) -> dict[str, str] | None:
    """``#auth-param`` from ``s[i:]``: lower-cased names to unquoted values; None when garbled or duplicated.

    Grammar (RFC 3261 §25.1 / RFC 7235 §2.1): ``token LWS? "=" LWS? (token / quoted-string)``, separated by
    commas with optional LWS; empty list elements are tolerated; ``\\x`` in a quoted string stands for ``x``.
    Written with ``str.find`` and slices rather than a character loop or a regex: it runs on every REGISTER.
    """
    params: dict[str, str] = {}
    n = len(s)
    find = s.find
    while i < n:
        eq = find("=", i)
        if eq < 0:
            if s[i:].strip(_WS_COMMA):
                return None  # a parameter without a value
            break
        name = s[i:eq].lstrip(_WS_COMMA).rstrip(_WS)
        if not name or not _TOKEN_CHARS.issuperset(name):
            return None
        j = eq + 1
        while j < n and s[j] in _WS:
            j += 1
        if j < n and s[j] == '"':
            quote = find('"', j + 1)
            if quote < 0:
                return None  # unterminated quoted string
            if find("\\", j + 1, quote) < 0:
                value = s[j + 1 : quote]
                j = quote + 1
            else:
                unquoted = _unquote(s, j + 1)
                if unquoted is None:
                    return None
                value, j = unquoted
            while j < n and s[j] in _WS:
                j += 1
            if j < n and s[j] != ",":
                return None  # junk after a quoted string, or a missing comma
        else:
            j = find(",", j)
            if j < 0:
                j = n
            value = s[eq + 1 : j].strip(_WS)
            if not value or not _BARE_VALUE_CHARS.issuperset(value):
                return None  # empty, or two parameters without a comma
        key = name.lower()
        if key in params:
            return None  # RFC 7616 §3.4: each parameter at most once; a duplicate is ambiguous
        params[key] = value
        i = j + 1
    return params


def _unquote(s: str, j: int) -> tuple[str, int] | None:
    """The quoted-string body starting at ``s[j]`` with its quoted-pairs resolved, and the index after the
    closing quote; None if unterminated."""
    parts: list[str] = []
    n = len(s)
    while True:
        quote = s.find('"', j)
        if quote < 0:
            return None
        backslash = s.find("\\", j, quote)
        if backslash < 0:
            parts.append(s[j:quote])
            return "".join(parts), quote + 1
        if backslash + 1 >= n:
            return None
        parts.append(s[j:backslash])
        parts.append(s[backslash + 1])
        j = backslash + 2


def parse_credentials(value: str) -> Credentials | None:
    """Parse a Digest ``Authorization``/``Proxy-Authorization`` value; None if not Digest or not usable.

    None covers: another scheme (RFC 4475 ``regaut01``: the caller challenges afresh), a missing or empty
    ``username``/``nonce``/``uri``/``response``, a missing ``realm``, ``qop`` without ``nc``/``cnonce``, an
    ``nc`` that is not 8 hex digits, duplicated parameters, broken quoting. Unknown parameters are ignored.
    """
    try:
        return _parse_credentials(value)
    except (ValueError, IndexError, TypeError, AttributeError):  # belt and braces: never raise
        return None


def _parse_credentials(value: str) -> Credentials | None:
    s = value.strip(_WS)
    if len(s) < 7 or s[6] not in _WS or s[:6].lower() != "digest":
        return None  # another scheme (RFC 4475 regaut01), or no parameters
    params = _parse_auth_params(s, 7)
    if params is None:
        return None
    for name in _REQUIRED:
        if name not in params:
            return None
    username, realm, nonce, uri, response = (params[name] for name in _REQUIRED)
    if not (username and nonce and uri and response):
        return None
    algorithm = params.get("algorithm", "MD5")
    algorithm = _CANONICAL_ALGORITHM.get(algorithm.upper(), algorithm)
    raw_qop = params.get("qop")
    qop = None if raw_qop is None else raw_qop.lower()
    raw_nc = params.get("nc")
    nc: int | None = None
    if raw_nc is not None:
        if len(raw_nc) != 8 or not _HEX_CHARS.issuperset(raw_nc):
            return None
        nc = int(raw_nc, 16)
    cnonce = params.get("cnonce")
    if qop is not None and (nc is None or cnonce is None):
        return None  # RFC 2617 §3.2.2: cnonce and nc MUST be sent with qop
    return Credentials(
        username=username,
        realm=realm,
        nonce=nonce,
        uri=uri,
        response=response,
        algorithm=algorithm,
        qop=qop,
        nc=nc,
        cnonce=cnonce,
        opaque=params.get("opaque"),
    )


# -- challenges and verification ----------------------------------------------------------------------------


class AuthResult(enum.Enum):
    """Outcome of ``DigestAuthenticator.verify``; everything but OK means: answer 401/407 with a challenge."""

    OK = "ok"
    STALE = "stale"  # digest correct, nonce too old (or no longer tracked): challenge with stale=true
    BAD_NONCE = "bad-nonce"  # nonce not ours, for another realm, or garbage: challenge, stale=false
    REPLAY = "replay"  # nonce-count not above the last accepted one: challenge, stale=false
    WRONG = "wrong"  # wrong response or unknown user (indistinguishable by design)
    UNSUPPORTED = "unsupported"  # algorithm or qop we do not verify: challenge

    @property
    def ok(self) -> bool:
        return self is AuthResult.OK


def _quote(value: str) -> str:
    """A quoted-string for ``value`` (RFC 3261 §25.1: backslash-escape ``"`` and ``\\``)."""
    if '"' in value or "\\" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{value}"'


class DigestAuthenticator:
    """Mints stateless nonces and verifies Digest credentials against caller-supplied HA1 values.

    ``secret`` keys the nonce HMAC: random per instance when omitted; pass the same bytes to several processes
    (or across restarts) so that they accept each other's nonces. ``nonce_lifetime`` is in seconds (RFC 7616
    §5.4; the checklist asks for 60-300 s). ``max_tracked_nonces`` bounds the nonce-count table.
    """

    __slots__ = ("_dummy_ha1", "_evicted_upto_us", "_lifetime_us", "_max_tracked", "_secret", "_seen")

    def __init__(
        self,
        secret: bytes | None = None,
        nonce_lifetime: float = 300.0,
        max_tracked_nonces: int = 100_000,
    ) -> None:
        if secret is None:
            secret = secrets.token_bytes(32)
        if len(secret) < 16:
            raise ValueError("the nonce secret must be at least 16 bytes")
        if not nonce_lifetime > 0:
            raise ValueError("nonce_lifetime must be positive")
        if max_tracked_nonces < 1:
            raise ValueError("max_tracked_nonces must be at least 1")
        self._secret = bytes(secret)
        self._lifetime_us = int(nonce_lifetime * 1_000_000)
        self._max_tracked = max_tracked_nonces
        # (nonce, username, cnonce) -> (issued_us, highest accepted nc), in first-use order.
        self._seen: OrderedDict[tuple[str, str, str], tuple[int, int]] = OrderedDict()
        # Every nonce issued at or before this instant that is not in _seen may have been evicted.
        self._evicted_upto_us: int | None = None
        # Same-length stand-ins so that an unknown user costs the same hashing as a known one.
        self._dummy_ha1 = {name: fn(secrets.token_bytes(32)).hexdigest() for name, fn in _HASHES.items()}

    # -- nonces ----------------------------------------------------------------------------------------------
    def _mac(self, issued: bytes, realm: str) -> bytes:
        return hmac.digest(self._secret, _NONCE_TAG + issued + realm.encode(_ENC, _ERR), "sha256")[:16]

    def make_nonce(self, realm: str, now: float) -> str:
        """The nonce for ``realm`` at ``now`` (deterministic: same inputs, same nonce)."""
        issued = int(now * 1_000_000).to_bytes(8, "big", signed=True)
        return base64.urlsafe_b64encode(issued + self._mac(issued, realm)).decode("ascii")

    def _nonce_issued_us(self, nonce: str, realm: str) -> int | None:
        """The issue time of a nonce we minted for ``realm``, or None (forged, other realm, garbage)."""
        if len(nonce) != _NONCE_LEN:
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce)
        except (ValueError, binascii.Error):  # non-ASCII, bad length or padding
            return None
        if len(raw) != _NONCE_RAW_LEN or base64.urlsafe_b64encode(raw) != nonce.encode("ascii"):
            return None  # only the canonical spelling of our nonce is ours
        issued = raw[:8]
        if not hmac.compare_digest(raw[8:], self._mac(issued, realm)):
            return None
        return int.from_bytes(issued, "big", signed=True)

    # -- challenges ------------------------------------------------------------------------------------------
    def challenge_headers(
        self,
        realm: str,
        now: float,
        *,
        stale: bool = False,
        proxy: bool = False,
        algorithms: tuple[str, ...] = ALGORITHMS,
    ) -> list[tuple[str, str]]:
        """Header fields for a 401 (``WWW-Authenticate``) or, with ``proxy``, a 407 (``Proxy-Authenticate``).

        One challenge per algorithm, SHA-256 first then MD5 (RFC 8760 §2.4), all ``qop="auth"`` with the same
        nonce; ``stale=true`` when asked. Depends on nothing but the arguments (no user: no enumeration).
        ``algorithms`` can restrict or reorder the offer (e.g. ``("MD5",)`` for clients that only read the
        first challenge); each must be one of ``ALGORITHMS``.
        """
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        head = f'Digest realm={_quote(realm)}, nonce="{self.make_nonce(realm, now)}", qop="auth", algorithm='
        tail = ", stale=true" if stale else ""
        out: list[tuple[str, str]] = []
        for algorithm in algorithms:
            if algorithm not in _HASHES:
                raise ValueError(f"unsupported digest algorithm: {algorithm!r}")
            out.append((name, f"{head}{algorithm}{tail}"))
        return out

    # -- verification ----------------------------------------------------------------------------------------
    def verify(
        self,
        creds: Credentials,
        method: str,
        ha1_by_algorithm: Mapping[str, str] | None,
        realm: str,
        now: float,
        body: bytes = b"",
    ) -> AuthResult:
        """Check ``creds`` for a request of ``method`` in ``realm`` at ``now``.

        ``ha1_by_algorithm`` maps ``"MD5"``/``"SHA-256"`` to the user's stored HA1 hex (see ``ha1()``), or is
        None for an unknown user (then the same hashes run and the result is WRONG). A user known without
        an HA1 for the chosen algorithm is WRONG too: store both. A digest that is wrong is WRONG even with an
        old nonce (RFC 7616 §3.3: stale=true only when the digest is valid).
        Order: UNSUPPORTED, BAD_NONCE, WRONG, STALE, REPLAY, OK.
        """
        algorithm = creds.algorithm
        hash_fn = _HASHES.get(algorithm)
        qop = creds.qop
        if hash_fn is None or (qop is not None and qop != "auth"):
            return AuthResult.UNSUPPORTED
        if creds.realm != realm:
            return AuthResult.BAD_NONCE
        issued_us = self._nonce_issued_us(creds.nonce, realm)
        if issued_us is None:
            return AuthResult.BAD_NONCE
        nc = creds.nc
        cnonce = creds.cnonce
        if not creds.uri or (qop is not None and (nc is None or cnonce is None)):
            return AuthResult.WRONG  # only a hand-built Credentials gets here: the parser refuses these

        stored = None if ha1_by_algorithm is None else ha1_by_algorithm.get(algorithm)
        known = stored is not None
        ha1_hex = (stored if stored is not None else self._dummy_ha1[algorithm]).lower()
        try:
            expected = _response(hash_fn, ha1_hex, creds.nonce, method, creds.uri, qop, nc, cnonce)
        except UnicodeEncodeError:  # a lone surrogate that surrogateescape cannot map back to a byte
            return AuthResult.WRONG
        given = creds.response
        if not given.isascii():
            given = ""
        matched = hmac.compare_digest(expected, given.lower())
        if not (matched and known):
            return AuthResult.WRONG

        now_us = int(now * 1_000_000)
        age_us = now_us - issued_us
        if age_us > self._lifetime_us or -age_us > self._lifetime_us:  # too old, or far future (clock steps)
            return AuthResult.STALE
        if qop is None or nc is None or cnonce is None:
            return AuthResult.OK  # RFC 2069 style: no nonce-count, no replay protection (module docstring)
        return self._count(creds.nonce, creds.username, cnonce, issued_us, nc, now_us)

    def _count(
        self, nonce: str, username: str, cnonce: str, issued_us: int, nc: int, now_us: int
    ) -> AuthResult:
        """Accept ``nc`` if above the last accepted count for this (nonce, user, cnonce); track it."""
        key = (nonce, username, cnonce)
        seen = self._seen
        entry = seen.get(key)
        if entry is not None:
            if nc <= entry[1]:
                return AuthResult.REPLAY
            seen[key] = (issued_us, nc)
            return AuthResult.OK
        if nc < 1:
            return AuthResult.REPLAY  # counts start at 00000001 (RFC 7616 §3.4)
        if self._evicted_upto_us is not None and issued_us <= self._evicted_upto_us:
            return AuthResult.STALE  # its count may have been forgotten: take a fresh nonce
        expired_before = now_us - self._lifetime_us
        while seen:
            first_issued = next(iter(seen.values()))[0]
            if len(seen) < self._max_tracked and first_issued >= expired_before:
                break
            seen.popitem(last=False)
            if self._evicted_upto_us is None or first_issued > self._evicted_upto_us:
                self._evicted_upto_us = first_issued
        seen[key] = (issued_us, nc)
        return AuthResult.OK

    @property
    def tracked_nonces(self) -> int:
        """How many (nonce, user, cnonce) counts are remembered (for metrics and tests)."""
        return len(self._seen)
