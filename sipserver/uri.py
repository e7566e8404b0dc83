"""SIP, SIPS and tel URIs as values (RFC 3261 §19.1, §25.1; RFC 3966 for tel; RFC 5118 §4 for IPv6 references).

`parse_uri()` turns the text of a URI into a `Uri` and raises `RemoteProtocolError(status_hint=400)` when a
sip/sips/tel URI is malformed. A URI in any other syntactically plausible scheme (`scheme ":" something`) is not
an error here: it comes back with `opaque` set and the caller decides (416 for a Request-URI, RFC 3261 §8.2.2.1).

What is kept as written: the user part and the parameter values (still %-escaped; `unescaped_user` decodes),
the `?headers` text. What is normalised: the scheme and host are lower-cased, parameter names are lower-cased.
`str(uri)` writes the URI back; for well-formed input this is the input text up to those normalisations.

Grammar notes (the traps of RFC 4475 / RFC 5118):
- the user part may contain `;`, `?`, `/`, `,` (semiuri, intmeth), so the userinfo ends at the first `@`, which
  neither the user, the host nor the parameters may contain;
- an IPv6 host is only recognised inside brackets: `sip:2001:db8::10` is invalid (ipv6-bad), and
  `[2001:db8::10:5070]` is a host without a port (port-ambiguous); `[2001:db8:::192.0.2.1]` is tolerated;
- no whitespace and no `<`/`>` anywhere (lwsruri, ltgtruri).

`parse_uri()` memoizes the parts of the URIs it has seen (bounded), but always returns a new `Uri`.
This module knows nothing of header fields, messages, sockets or users.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote_to_bytes

from sipserver.errors import RemoteProtocolError

__all__ = ["Uri", "UriParts", "format_params", "parse_uri", "parse_uri_uncached", "uri_from_parts", "uri_parts"]

# --- character classes (RFC 3261 §25.1) ------------------------------------------------------------------------
# unreserved = alphanum / mark; mark = - _ . ! ~ * ' ( )
_UNRESERVED: Final = r"A-Za-z0-9\-_.!~*'()"
# user = 1*( unreserved / escaped / user-unreserved ); user-unreserved = & = + $ , ; ? /
# Tolerated: "#", which phones send unescaped in feature codes (sip:*72#@pbx).
_USER: Final = rf"[{_UNRESERVED}%&=+$,;?/#]+"
# password = *( unreserved / escaped / & = + $ , )
_PASSWORD: Final = rf"[{_UNRESERVED}%&=+$,]*"
# paramchar = param-unreserved / unreserved / escaped; param-unreserved = [ ] / : & + $
_PARAMCHAR: Final = rf"[{_UNRESERVED}%\[\]/:&+$]"
# hname / hvalue characters: hnv-unreserved = [ ] / ? : + $, plus unreserved / escaped; and the & = separators.
# Tolerated: "@" (an unescaped Replaces=callid@host is seen in Refer-To).
_HCHARS: Final = rf"[{_UNRESERVED}%\[\]/?:+$&=@]*"
# host: hostname or IPv4address (liberal: `_` is seen in the field), or an IPv6 reference. The 3-colon form of
# RFC 5118 §4.10 passes this loose IPv6 check on purpose (the reference must also hold a ":", checked after).
_HOST: Final = r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9\-_.]*[A-Za-z0-9.])?"

_HOSTPORT_TAIL: Final = (
    rf"({_HOST})"
    r"(?::([0-9]{1,5}))?"
    rf"((?:;{_PARAMCHAR}+(?:={_PARAMCHAR}*)?)*)"
    rf"(?:\?({_HCHARS}))?\Z"
)
# Applied to the text after "sip:" / "sips:"; the choice between the two is made by looking for "@" first, so
# that neither expression can backtrack quadratically.
_SIP_WITH_USER: Final = re.compile(rf"({_USER})(?::({_PASSWORD}))?@" + _HOSTPORT_TAIL)
_SIP_NO_USER: Final = re.compile(_HOSTPORT_TAIL)

# scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*\Z")
# Anything after an unknown scheme: printable ASCII or UTF-8, but no whitespace, controls, quotes or <>.
_OPAQUE: Final = re.compile(r"[^\x00-\x20\x7f<>\"]+\Z")
# tel (RFC 3966): telephone-subscriber, then ;params. Liberal on the digits (visual separators, p/w pauses).
_TEL: Final = re.compile(rf"([0-9A-Fa-f*#+\-.()pwPW%]+)((?:;{_PARAMCHAR}+(?:={_PARAMCHAR}*)?)*)\Z")

_INVALID: Final = "malformed URI"


def _bad(text: str, why: str = _INVALID) -> RemoteProtocolError:
    return RemoteProtocolError(f"{why}: {text[:120]!r}", status_hint=400)


def split_params(text: str) -> dict[str, str | None]:
    """`;a=b;c` (already checked by a regex) -> {"a": "b", "c": None}; names lower-cased, values as written."""
    params: dict[str, str | None] = {}
    for item in text[1:].split(";"):
        name, eq, value = item.partition("=")
        params[name.lower()] = value if eq else None
    return params


def format_params(params: Mapping[str, str | None]) -> str:
    """{"lr": None, "transport": "tcp"} -> ";lr;transport=tcp"."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


@dataclass(init=False, slots=True)
class Uri:
    """A parsed URI.

    - `scheme`: lower-case ("sip", "sips", "tel", or any other scheme).
    - `user`, `password`: as written, still %-escaped (`unescaped_user` decodes). For `tel:` the number.
    - `host`: lower-cased; an IPv6 reference keeps its brackets ("[2001:db8::10]"); "" for tel and opaque URIs.
    - `port`: None when absent.
    - `params`: URI parameters in order, names lower-cased, values as written; `;lr` -> {"lr": None}.
    - `headers`: the raw text after "?" (never turned into header fields by this module), or None.
    - `opaque`: for schemes we do not understand, everything after "scheme:" (every other field is empty).
    """

    scheme: str
    user: str | None
    password: str | None
    host: str
    port: int | None
    params: dict[str, str | None]
    headers: str | None
    opaque: str | None

    def __init__(
        self,
        scheme: str,
        user: str | None = None,
        password: str | None = None,
        host: str = "",
        port: int | None = None,
        params: dict[str, str | None] | None = None,
        headers: str | None = None,
        opaque: str | None = None,
    ) -> None:
        self.scheme = scheme
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.params = {} if params is None else params
        self.headers = headers
        self.opaque = opaque

    def __str__(self) -> str:
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        if self.scheme == "tel":
            return f"tel:{self.user or ''}{format_params(self.params) if self.params else ''}"
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":")
                out.append(self.password)
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        if self.params:
            out.append(format_params(self.params))
        if self.headers is not None:
            out.append("?")
            out.append(self.headers)
        return "".join(out)

    # -- views -----------------------------------------------------------------------------------------------
    @property
    def is_sip(self) -> bool:
        """True for sip: and sips: URIs."""
        return self.scheme == "sip" or self.scheme == "sips"

    @property
    def transport(self) -> str | None:
        """The `transport` parameter, lower-cased, or None."""
        value = self.params.get("transport")
        return value.lower() if value else None

    @property
    def unescaped_user(self) -> str | None:
        """The user part with %XX escapes decoded (RFC 3261 §19.1.4); a NUL stays a NUL (escnull), invalid UTF-8
        bytes come back as surrogate escapes so that distinct users stay distinct."""
        if self.user is None or "%" not in self.user:
            return self.user
        return unquote_to_bytes(self.user).decode("utf-8", "surrogateescape")

    @property
    def host_port(self) -> str:
        """"host" or "host:port" (IPv6 with brackets)."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def aor(self) -> str:
        """scheme:user@host (no port, parameters or headers), the key of an address-of-record in simple cases.
        The user part is compared %-decoded (RFC 3261 §19.1.4), so it is written here decoded."""
        if self.opaque is not None:
            return str(self)
        user = self.unescaped_user
        if self.scheme == "tel":
            return f"tel:{user or ''}"
        return f"{self.scheme}:{user}@{self.host}" if user is not None else f"{self.scheme}:{self.host}"

    # -- copies ----------------------------------------------------------------------------------------------
    def copy(self, **changes: object) -> Uri:
        """A copy (with its own params dict), with the given fields replaced: `uri.copy(port=5070)`."""
        new = Uri(
            self.scheme, self.user, self.password, self.host, self.port, dict(self.params), self.headers,
            self.opaque,
        )
        for name, value in changes.items():
            setattr(new, name, value)
        return new

    def with_params(self, params: Mapping[str, str | None] | None = None, /, **kw: str | None) -> Uri:
        """A copy with parameters added or replaced (a None value writes `;name`): `uri.with_params(lr=None)`,
        `uri.with_params({"maddr": "192.0.2.1"})`. Names are lower-cased."""
        new = self.copy()
        for source in (params or {}, kw):
            for name, value in source.items():
                new.params[name.lower()] = value
        return new

    def without_params(self, *names: str) -> Uri:
        """A copy without the named parameters."""
        new = self.copy()
        for name in names:
            new.params.pop(name.lower(), None)
        return new


# parse_uri() is a pure function of its text, and the same URIs come back all the time (the users' AORs, the
# phones' contacts, our own Record-Route): a bounded memo of the parsed parts (a tuple, with a private params
# dict) makes it cheap. Every call still returns a NEW Uri with its own params dict: callers may mutate it.
UriParts = tuple[
    str, str | None, str | None, str, int | None, dict[str, str | None], str | None, str | None
]
_MEMO: Final[dict[str, UriParts]] = {}
_MEMO_LIMIT: Final = 2048
MEMO_MAX_TEXT: Final = 256  # longer texts are not memoized: the memos' memory stays bounded


def uri_parts(uri: Uri) -> UriParts:
    """The fields of `uri` as a tuple (with a copy of its params), for memos."""
    return (uri.scheme, uri.user, uri.password, uri.host, uri.port, uri.params.copy(), uri.headers, uri.opaque)


def uri_from_parts(p: UriParts) -> Uri:
    """A new Uri (with its own params dict) from `uri_parts()`."""
    return Uri(p[0], p[1], p[2], p[3], p[4], p[5].copy(), p[6], p[7])


def parse_uri(text: str) -> Uri:
    """Parse a URI (RFC 3261 §19.1.1 for sip/sips, RFC 3966 for tel, RFC 3986 `scheme ":" opaque` otherwise).

    Raises RemoteProtocolError(400) for a malformed sip/sips/tel URI or text that is no URI at all (no scheme,
    `<...>` around it, whitespace inside). An unknown scheme is returned as `Uri(scheme, opaque=...)`.
    Returns a new object on every call (never shared).
    """
    p = _MEMO.get(text)
    if p is not None:
        return Uri(p[0], p[1], p[2], p[3], p[4], p[5].copy(), p[6], p[7])
    uri = parse_uri_uncached(text)
    if len(text) <= MEMO_MAX_TEXT:
        if len(_MEMO) >= _MEMO_LIMIT:
            _MEMO.clear()
        _MEMO[text] = uri_parts(uri)
    return uri


def parse_uri_uncached(text: str) -> Uri:
    """parse_uri() without the memo (returns a new object too)."""
    colon = text.find(":")
    if colon <= 0:
        raise _bad(text, "not a URI")
    scheme = text[:colon]
    if scheme != "sip" and scheme != "sips":
        if not _SCHEME.match(scheme):
            raise _bad(text, "bad URI scheme")
        scheme = scheme.lower()
    rest = text[colon + 1 :]
    if scheme == "sip" or scheme == "sips":
        if "@" in rest:
            m = _SIP_WITH_USER.match(rest)
            if m is None:
                raise _bad(text)
            user, password, host, port_s, params_s, headers = m.groups()
        else:
            m = _SIP_NO_USER.match(rest)
            if m is None:
                raise _bad(text)
            host, port_s, params_s, headers = m.groups()
            user = password = None
        if host[0] == "[" and ":" not in host:
            raise _bad(text, "bad IPv6 reference")
        port: int | None = None
        if port_s is not None:
            port = int(port_s)
            if port > 65535:
                raise _bad(text, "port out of range")
        return Uri(
            scheme, user, password, host.lower(), port, split_params(params_s) if params_s else {}, headers,
            None,
        )
    if scheme == "tel":
        m = _TEL.match(rest)
        if m is None:
            raise _bad(text)
        number, params_s = m.groups()
        return Uri("tel", number, None, "", None, split_params(params_s) if params_s else {}, None, None)
    if not _OPAQUE.match(rest):
        raise _bad(text)
    return Uri(scheme, opaque=rest)
