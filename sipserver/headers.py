"""Header field names and values of SIP (RFC 3261 §7.3, §20, §25.1), parsed one value at a time, on demand.

Names: `header_key()` maps any spelling of a header name (case, compact form of RFC 3261 §7.3.3 and later RFCs)
to one key: the canonical long name for the headers listed in `_KNOWN` below, the lower-cased name otherwise.
`display_name()` gives the spelling written on the wire for a key.

Values: small parsers for the fields the core reads: Via (§20.42), name-addr / addr-spec for From, To, Contact
and friends (§20.10, §20.20, §20.39), CSeq (§20.16), Max-Forwards (§20.22), Expires (§20.19), option-tag and
method lists (§20.32, §20.37, §20.5), credentials and challenges (§20.7, §20.44, §25.1 `auth-param`), generic
parameters (`;name=value`). Each raises `RemoteProtocolError(status_hint=400)` on a malformed value; the message
layer turns that into "drop" for responses.

Conventions:
- parameter names are lower-cased; parameter values are kept exactly as written, quotes included
  (`unquote()` removes them), so that writing a value back changes nothing;
- a parameter without a value is stored as None (`;lr` -> {"lr": None});
- linear whitespace is tolerated wherever RFC 3261 puts SWS/LWS (`SIP / 2.0 / UDP`, `; tag = x`).

This module knows nothing about messages, sockets, transactions or users.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, TypeVar

from sipserver.errors import RemoteProtocolError
from sipserver.uri import (
    MEMO_MAX_TEXT,
    Uri,
    UriParts,
    format_params,
    parse_uri,
    split_params,
    uri_from_parts,
    uri_parts,
)

__all__ = [
    "CSeq",
    "NameAddr",
    "Via",
    "display_name",
    "has_tag",
    "header_key",
    "parse_auth",
    "parse_contact_list",
    "parse_cseq",
    "parse_expires",
    "parse_max_forwards",
    "parse_name_addr",
    "parse_params",
    "parse_token_list",
    "parse_top_via",
    "parse_via",
    "quote",
    "split_comma_list",
    "unquote",
]

# --- header names ------------------------------------------------------------------------------------------
# Canonical spelling -> compact form (or None). RFC 3261 §7.3.3 and §20, plus the extensions we meet.
_KNOWN: Final[dict[str, str | None]] = {
    "Accept": None,
    "Accept-Contact": "a",  # RFC 3841
    "Accept-Encoding": None,
    "Accept-Language": None,
    "Accept-Resource-Priority": None,
    "Alert-Info": None,
    "Allow": None,
    "Allow-Events": "u",  # RFC 6665
    "Answer-Mode": None,
    "Authentication-Info": None,
    "Authorization": None,
    "Call-ID": "i",
    "Call-Info": None,
    "Contact": "m",
    "Content-Disposition": None,
    "Content-Encoding": "e",
    "Content-ID": None,
    "Content-Language": None,
    "Content-Length": "l",
    "Content-Type": "c",
    "CSeq": None,
    "Date": None,
    "Diversion": None,
    "Error-Info": None,
    "Event": "o",  # RFC 6665
    "Expires": None,
    "Feature-Caps": None,
    "Flow-Timer": None,
    "From": "f",
    "Geolocation": None,
    "History-Info": None,
    "Identity": "y",  # RFC 8224
    "Identity-Info": "n",  # RFC 4474
    "In-Reply-To": None,
    "Info-Package": None,
    "Join": None,
    "Max-Breadth": None,
    "Max-Forwards": None,
    "MIME-Version": None,
    "Min-Expires": None,
    "Min-SE": None,
    "Organization": None,
    "P-Access-Network-Info": None,
    "P-Asserted-Identity": None,
    "P-Associated-URI": None,
    "P-Called-Party-ID": None,
    "P-Charging-Vector": None,
    "P-Early-Media": None,
    "P-Preferred-Identity": None,
    "Path": None,
    "Priority": None,
    "Priv-Answer-Mode": None,
    "Privacy": None,
    "Proxy-Authenticate": None,
    "Proxy-Authorization": None,
    "Proxy-Require": None,
    "RAck": None,
    "Reason": None,
    "Record-Route": None,
    "Recv-Info": None,
    "Refer-Sub": None,
    "Refer-To": "r",  # RFC 3515
    "Referred-By": "b",  # RFC 3892
    "Reject-Contact": "j",  # RFC 3841
    "Remote-Party-ID": None,
    "Replaces": None,
    "Reply-To": None,
    "Request-Disposition": "d",  # RFC 3841
    "Require": None,
    "Resource-Priority": None,
    "Retry-After": None,
    "Route": None,
    "RSeq": None,
    "Security-Client": None,
    "Security-Server": None,
    "Security-Verify": None,
    "Server": None,
    "Service-Route": None,
    "Session-Expires": "x",  # RFC 4028
    "Session-ID": None,
    "SIP-ETag": None,
    "SIP-If-Match": None,
    "Subject": "s",
    "Subscription-State": None,
    "Supported": "k",
    "Target-Dialog": None,
    "Timestamp": None,
    "To": "t",
    "Unsupported": None,
    "User-Agent": None,
    "User-to-User": None,
    "Via": "v",
    "Warning": None,
    "WWW-Authenticate": None,
}

_CANONICAL: Final[frozenset[str]] = frozenset(_KNOWN)

# Every spelling we precompute: canonical, lower, upper, compact in both cases -> canonical.
_KEYS: Final[dict[str, str]] = {}
for _canon, _compact in _KNOWN.items():
    for _spelling in (_canon, _canon.lower(), _canon.upper(), _canon.title()):
        _KEYS[_spelling] = _canon
    if _compact is not None:
        _KEYS[_compact] = _canon
        _KEYS[_compact.upper()] = _canon
del _canon, _compact, _spelling


def header_key(name: str) -> str:
    """The key of a header name: canonical long name for known headers (any case, compact forms expanded:
    `v` -> `Via`, `i` -> `Call-ID`), `name.lower()` for the others."""
    key = _KEYS.get(name)
    if key is None:
        low = name.lower()
        key = _KEYS.get(low, low)
    return key


def display_name(key: str, given: str) -> str:
    """The spelling written on the wire: the canonical long form for a known key, `given` for unknown ones."""
    return key if key in _CANONICAL else given


def is_known_header(key: str) -> bool:
    """Whether `key` (from header_key) names a header listed in this module."""
    return key in _CANONICAL


# --- lexical helpers ---------------------------------------------------------------------------------------
# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )
_TOKEN_CHARS: Final = r"A-Za-z0-9\-.!%*_+`'~"
_TOKEN: Final = re.compile(rf"[{_TOKEN_CHARS}]+\Z")
_TOKEN_PREFIX: Final = re.compile(rf"[{_TOKEN_CHARS}]+")
_QUOTED: Final = r'"(?:[^"\\]|\\.)*"'
# A parameter value: token, host (with [ ] :) or quoted-string. Liberal: anything but separators.
_PVALUE: Final = rf'{_QUOTED}|[^\s;,"<>]+'
# One generic parameter with SWS around ";" and "=" (RFC 3261 SEMI / EQUAL).
_PARAM: Final = re.compile(rf"[ \t]*;[ \t]*([{_TOKEN_CHARS}]+)(?:[ \t]*=[ \t]*({_PVALUE}))?[ \t]*", re.S)
# The common case: no whitespace, no quotes; checked at once, then split.
_PARAMS_PLAIN: Final = re.compile(rf"(?:;[{_TOKEN_CHARS}]+(?:=[^\s;,\"<>]+)?)*\Z")
_TAG_PARAM: Final = re.compile(r";[ \t]*tag[ \t]*(?:[=;]|\Z)", re.I)
# An unquoted display name: tokens separated by LWS (non-ASCII letters tolerated, as sent by some phones).
_DISPLAY_TOKENS: Final = re.compile(rf"[{_TOKEN_CHARS}\x80-\U0010ffff]+(?:[ \t]+[{_TOKEN_CHARS}\x80-\U0010ffff]+)*\Z")
_DISPLAY_PLAIN: Final = re.compile(rf"[{_TOKEN_CHARS}]+(?: [{_TOKEN_CHARS}]+)*\Z")
# Comma-separated list elements: runs of plain chars, quoted strings and <...>, an unterminated one to the end.
_LIST_ITEM: Final = re.compile(r'(?:"(?:[^"\\]|\\.)*(?:"|\\?\Z)|<[^>]*(?:>|\Z)|[^,"<]+)+', re.S)
_DIGITS: Final = re.compile(r"[0-9]+\Z")

MAX_CSEQ: Final = 2**32 - 1
MAX_DELTA_SECONDS: Final = 2**32 - 1

_KNOWN_METHODS: Final = frozenset(
    {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "SUBSCRIBE", "NOTIFY", "REFER", "INFO", "UPDATE",
     "PRACK", "MESSAGE", "PUBLISH"}
)


def _bad(what: str, value: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"malformed {what}: {value[:120]!r}", status_hint=400)


# The value parsers below are pure functions of their text, and the same values come back within a dialog (From,
# To, Contact in every request and response) and a transaction (CSeq, our Via in every response): bounded memos
# of their parts (tuples, with private copies of the params dicts) make them cheap. Mutable results are new
# objects on every call, never shared.
_MEMO_LIMIT: Final = 2048
_VIA_MEMO: Final[dict[str, tuple[str, str, str, int | None, dict[str, str | None]]]] = {}
_TOP_VIA_MEMO: Final[dict[str, tuple[str, str, str, int | None, dict[str, str | None]]]] = {}  # by whole field
_NAME_ADDR_MEMO: Final[dict[str, tuple[str | None, UriParts | None, dict[str, str | None]]]] = {}
# By the text up to the `>` of a name-addr (display name and URI) when plain parameters follow: the unique tag of
# every dialog defeats the whole-value memo, not this one. A memo of its own, so that the whole-value memo
# filling up with unique values does not flush it.
_NAME_ADDR_HEAD_MEMO: Final[dict[str, tuple[str | None, UriParts]]] = {}
_CSEQ_MEMO: Final[dict[str, CSeq]] = {}
# Via in its fast form (`SIP/2.0/UDP host:port;params`, see _VIA_FAST) by the text before the first ";": the
# transport, host and port; the unique branch of every request defeats the whole-value memos, not this one.
_VIA_HEAD_MEMO: Final[dict[str, tuple[str, str, int | None]]] = {}


T = TypeVar("T")


def _remember(memo: dict[str, T], text: str, value: T) -> None:
    """Store in a bounded memo: a full memo is emptied first (the common texts come back at once)."""
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[text] = value


def is_token(text: str) -> bool:
    """Whether `text` is an RFC 3261 token (method names, option tags, parameter names...)."""
    return _TOKEN.match(text) is not None


def quote(text: str) -> str:
    """`text` as a quoted-string (RFC 3261 §25.1): backslash and double quote escaped. CR and LF cannot be
    written inside a quoted-string at all (not even escaped): they become spaces, so no header can be injected."""
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    if "\r" in text or "\n" in text:
        text = text.replace("\r", " ").replace("\n", " ")
    return f'"{text}"'


def unquote(value: str) -> str:
    """A quoted-string's content with quoted-pairs decoded; any other text is returned unchanged."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner = value[1:-1]
        if "\\" in inner:
            return re.sub(r"\\(.)", r"\1", inner, flags=re.S)
        return inner
    return value


def _read_quoted(value: str, start: int) -> tuple[str, int]:
    """Read the quoted-string opening at value[start]; return (decoded content, index after the closing quote).
    Raises 400 when it is not terminated (quotbal)."""
    end = value.find('"', start + 1)
    if end < 0:
        raise _bad("quoted string (unterminated)", value)
    if value.find("\\", start + 1, end) < 0:
        return value[start + 1 : end], end + 1
    out: list[str] = []
    i = start + 1
    n = len(value)
    while i < n:
        c = value[i]
        if c == "\\":
            if i + 1 >= n:
                break
            out.append(value[i + 1])
            i += 2
        elif c == '"':
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    raise _bad("quoted string (unterminated)", value)


def split_comma_list(value: str) -> list[str]:
    """Split a header value at top-level commas (RFC 3261 §7.3.1), respecting quoted strings (with `\\"`
    escapes) and `<...>`; elements are stripped, empty elements dropped."""
    if "," not in value:  # one element, whatever quotes and <> it holds
        value = value.strip(" \t")
        return [value] if value else []
    if '"' not in value and "<" not in value:
        return [s for s in (p.strip(" \t") for p in value.split(",")) if s]
    return [s for s in (m.strip(" \t") for m in _LIST_ITEM.findall(value)) if s]


def _first_element(value: str) -> str:
    """The first top-level comma-separated element of a field (without splitting the rest)."""
    if '"' not in value and "<" not in value:
        comma = value.find(",")
        return value if comma < 0 else value[:comma]
    m = _LIST_ITEM.match(value)
    return m.group(0) if m else ""


def has_tag(value: str) -> bool:
    """Whether a raw From/To value carries a `tag` parameter (outside <> and quotes)."""
    gt = value.rfind(">")
    if gt >= 0:
        return _TAG_PARAM.search(value, gt + 1) is not None
    if ";" not in value:
        return False
    return _TAG_PARAM.search(value) is not None


def parse_params(text: str) -> dict[str, str | None]:
    """Generic parameters `;name=value;flag` (RFC 3261 `generic-param`), the leading ";" optional.

    Names are lower-cased (they are case-insensitive); values are kept as written, quotes included (see
    `unquote()`); a name without value maps to None. SWS around ";" and "=" is tolerated; an empty name
    (`;;`), an unterminated quote or any other debris raises RemoteProtocolError(400).
    """
    if not text:
        return {}
    if text[0] != ";":
        stripped = text.lstrip(" \t")
        if not stripped:
            return {}
        text = stripped if stripped[0] == ";" else ";" + stripped
    if _PARAMS_PLAIN.match(text):
        return split_params(text)
    params: dict[str, str | None] = {}
    pos = 0
    n = len(text)
    while pos < n:
        m = _PARAM.match(text, pos)
        if m is None:
            if not text[pos:].strip(" \t"):
                break
            raise _bad("parameters", text)
        params[m.group(1).lower()] = m.group(2)
        pos = m.end()
    return params


def _format_params(params: dict[str, str | None]) -> str:
    return format_params(params) if params else ""


# --- Via (RFC 3261 §20.42) ---------------------------------------------------------------------------------
_MISSING: Final = object()

_VIA_FAST: Final = re.compile(
    r"SIP/2\.0/([A-Za-z]+) "
    r"([A-Za-z0-9\-_.]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?"
    rf"((?:;[{_TOKEN_CHARS}]+(?:=[^\s;,\"<>]+)?)*)\Z"
)
_VIA_SLOW: Final = re.compile(
    rf"[ \t]*([{_TOKEN_CHARS}]+)[ \t]*/[ \t]*([{_TOKEN_CHARS}]+)[ \t]*/[ \t]*([{_TOKEN_CHARS}]+)[ \t]+"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-_.]+)(?:[ \t]*:[ \t]*([0-9]{1,5}))?[ \t]*(.*)\Z",
    re.S,
)


@dataclass(init=False, slots=True)
class Via:
    """One via-parm: `SIP/2.0/UDP host:port;branch=z9hG4bK...;received=...;rport`.

    `protocol` is "name/version" ("SIP/2.0"), `transport` upper-case, `host` lower-case (IPv6 with brackets),
    `port` None when absent, `params` ordered with lower-case names and values as written (valueless: None).
    """

    protocol: str
    transport: str
    host: str
    port: int | None
    params: dict[str, str | None]

    def __init__(
        self,
        protocol: str = "SIP/2.0",
        transport: str = "UDP",
        host: str = "",
        port: int | None = None,
        params: dict[str, str | None] | None = None,
    ) -> None:
        self.protocol = protocol
        self.transport = transport
        self.host = host
        self.port = port
        self.params = {} if params is None else params

    @property
    def branch(self) -> str | None:
        """The branch parameter; None when absent ("" when written without a value)."""
        value = self.params.get("branch", _MISSING)
        if value is _MISSING:
            return None
        return value or ""  # type: ignore[return-value]

    @property
    def has_rfc3261_branch(self) -> bool:
        """Whether the branch starts with the magic cookie and has something after it (RFC 3261 §8.1.1.7).
        `branch=z9hG4bK` alone (RFC 4475 badbranch) is not an RFC 3261 branch."""
        branch = self.params.get("branch")
        return branch is not None and len(branch) > 7 and branch.startswith("z9hG4bK")

    @property
    def received(self) -> str | None:
        """The received parameter (may be an IPv6 address with or without brackets, RFC 5118 §4.5)."""
        return self.params.get("received")

    @property
    def rport(self) -> str | None:
        """RFC 3581 rport: None when absent, "" when present without a value (the client asks for it), the
        value (a port number as text) otherwise."""
        value = self.params.get("rport", _MISSING)
        if value is _MISSING:
            return None
        return value or ""  # type: ignore[return-value]

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def sent_by(self) -> str:
        """host or host:port as written in the Via."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.transport} {self.host}{port}{_format_params(self.params)}"


def parse_via(value: str) -> Via:
    """Parse ONE via-parm. LWS is tolerated inside sent-protocol and around ";" "=" ":" (RFC 4475 wsinv);
    `received=[2001:db8::9:255]` (RFC 5118 §4.5) is accepted as a parameter value. Returns a new object."""
    p = _VIA_MEMO.get(value)
    if p is not None:
        return Via(p[0], p[1], p[2], p[3], p[4].copy())
    via = _parse_via(value)
    if len(value) <= MEMO_MAX_TEXT:
        _remember(_VIA_MEMO, value, (via.protocol, via.transport, via.host, via.port, via.params.copy()))
    return via


def parse_top_via(value: str) -> Via:
    """Parse the first via-parm of a Via field value, without looking at the rest of the field."""
    p = _TOP_VIA_MEMO.get(value)
    if p is not None:
        return Via(p[0], p[1], p[2], p[3], p[4].copy())
    first = _first_element(value).strip(" \t") if "," in value or '"' in value else value
    via = _parse_via(first)
    if len(value) <= MEMO_MAX_TEXT:
        _remember(_TOP_VIA_MEMO, value, (via.protocol, via.transport, via.host, via.port, via.params.copy()))
    return via


def _parse_via(value: str) -> Via:
    semi = value.find(";")
    if semi > 0:
        head = _VIA_HEAD_MEMO.get(value[:semi])
        if head is not None and _PARAMS_PLAIN.match(value, semi):
            return Via("SIP/2.0", head[0], head[1], head[2], split_params(value[semi:]))
    m = _VIA_FAST.match(value)
    if m is not None:
        transport, host, port_s, params_s = m.groups()
        params = split_params(params_s) if params_s else {}
        protocol = "SIP/2.0"
        head_end = m.start(4) if params else -1
    else:
        head_end = -1
        m = _VIA_SLOW.match(value)
        if m is None:
            raise _bad("Via", value)
        name, version, transport, host, port_s, rest = m.groups()
        rest = rest.rstrip(" \t")
        if rest and rest[0] != ";":
            raise _bad("Via", value)
        params = parse_params(rest)
        protocol = f"{name.upper()}/{version}"
    port: int | None = None
    if port_s is not None:
        port = int(port_s)
        if port > 65535:
            raise _bad("Via port", value)
    if host[0] == "[" and ":" not in host:
        raise _bad("Via host", value)
    via = Via(protocol, transport.upper(), host.lower(), port, params)
    if 0 < head_end <= MEMO_MAX_TEXT:  # the fast form, with parameters: memoize the text before them
        _remember(_VIA_HEAD_MEMO, value[:head_end], (via.transport, via.host, port))
    return via


# --- name-addr / addr-spec (RFC 3261 §20.10, §20.20, §20.39, §25.1) -----------------------------------------
@dataclass(init=False, slots=True)
class NameAddr:
    """A From/To/Contact/Route-style value: optional display name, URI, header parameters.

    `display` is the display name unquoted with its quoted-pairs decoded (None when absent). `uri` is None only
    for the Contact `*` (`is_star`). `params` are the header parameters (after the `>` of a name-addr, or after
    the URI of an addr-spec: RFC 3261 §20.10), names lower-cased, values as written.
    """

    display: str | None
    uri: Uri | None
    params: dict[str, str | None]

    def __init__(
        self, display: str | None = None, uri: Uri | None = None, params: dict[str, str | None] | None = None
    ) -> None:
        self.display = display
        self.uri = uri
        self.params = {} if params is None else params

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def is_star(self) -> bool:
        return self.uri is None

    @property
    def expires(self) -> int | None:
        """The `expires` parameter as delta-seconds (Contact), None when absent; 400 when malformed."""
        value = self.params.get("expires")
        return None if value is None else parse_expires(unquote(value))

    @property
    def q(self) -> float | None:
        """The `q` parameter (Contact, 0..1), None when absent; 400 when malformed."""
        value = self.params.get("q")
        if value is None:
            return None
        try:
            q = float(value)
        except ValueError:
            raise _bad("q", value) from None
        if not 0.0 <= q <= 1.0:
            raise _bad("q", value)
        return q

    def with_tag(self, tag: str) -> NameAddr:
        """A copy with `tag` set (replacing any tag)."""
        params = dict(self.params)
        params["tag"] = tag
        return NameAddr(self.display, self.uri, params)

    def copy(self) -> NameAddr:
        return NameAddr(self.display, None if self.uri is None else self.uri.copy(), dict(self.params))

    def __str__(self) -> str:
        if self.uri is None:
            return "*"
        params = _format_params(self.params)
        if self.display is None:
            return f"<{self.uri}>{params}"
        display = self.display if _DISPLAY_PLAIN.match(self.display) else quote(self.display)
        return f"{display} <{self.uri}>{params}"


def parse_name_addr(value: str) -> NameAddr:
    """Parse `[display-name] <URI> *(;param)` or `addr-spec *(;param)`.

    For an addr-spec every `;` after the URI starts a header parameter (cparam01), and a URI holding `?`, `,`
    or `;` must be written in <> (regbadct). Rejected with 400: an unterminated quoted display name (quotbal), an
    unquoted display name with non-token characters (baddn), LWS inside <> (badaspec). Accepted: no LWS between
    the display name and `<` (lwsdisp). A URI in an unknown scheme is returned opaque (unksm2).
    Returns a new object (with its own Uri and params) on every call.
    """
    p = _NAME_ADDR_MEMO.get(value)
    if p is not None:
        u = p[1]
        if u is None:
            return NameAddr(p[0], None, p[2].copy())
        return NameAddr(p[0], uri_from_parts(u), p[2].copy())
    # `... <uri>;plain=params`: the head comes from its memo (or is parsed and memoized on its own), the
    # parameters are split here. A head that does not parse goes to the general parser (same error).
    gt = value.rfind(">")
    if gt > 0 and gt < len(value) - 1 and value[gt + 1] == ";" and _PARAMS_PLAIN.match(value, gt + 1):
        head_text = value[: gt + 1]
        head = _NAME_ADDR_HEAD_MEMO.get(head_text)
        if head is None and len(head_text) <= MEMO_MAX_TEXT:
            try:
                na = _parse_name_addr(head_text)
            except RemoteProtocolError:
                na = None
            if na is not None and na.uri is not None and not na.params:
                head = (na.display, uri_parts(na.uri))
                _remember(_NAME_ADDR_HEAD_MEMO, head_text, head)
        if head is not None:
            params = split_params(value[gt + 1 :])
            if len(value) <= MEMO_MAX_TEXT:
                _remember(_NAME_ADDR_MEMO, value, (head[0], head[1], params.copy()))
            return NameAddr(head[0], uri_from_parts(head[1]), params)
    na = _parse_name_addr(value)
    if len(value) <= MEMO_MAX_TEXT:
        parts = None if na.uri is None else uri_parts(na.uri)
        _remember(_NAME_ADDR_MEMO, value, (na.display, parts, na.params.copy()))
    return na


def _parse_name_addr(value: str) -> NameAddr:
    value = value.strip(" \t")
    if not value:
        raise _bad("address", value)
    c = value[0]
    display: str | None
    if c == "<":
        display = None
        lt = 0
    elif c == '"':
        display, pos = _read_quoted(value, 0)
        lt = value.find("<", pos)
        if lt < 0 or value[pos:lt].strip(" \t"):
            raise _bad("address", value)
    else:
        lt = value.find("<")
        if lt < 0:
            return _parse_addr_spec(value)
        display = value[:lt].rstrip(" \t")
        if not _DISPLAY_TOKENS.match(display):
            raise _bad("display name", value)
    gt = value.find(">", lt + 1)
    if gt < 0:
        raise _bad("address (no closing >)", value)
    uri = parse_uri(value[lt + 1 : gt])
    rest = value[gt + 1 :]
    if not rest:
        return NameAddr(display, uri, {})
    if rest[0] != ";" and rest.lstrip(" \t")[:1] not in ("", ";"):
        raise _bad("address", value)
    return NameAddr(display, uri, parse_params(rest))


def _parse_addr_spec(value: str) -> NameAddr:
    semi = value.find(";")
    uri_text = value if semi < 0 else value[:semi].rstrip(" \t")
    if "?" in uri_text or "," in uri_text:
        raise _bad("addr-spec (URI with headers or commas must be enclosed in <>)", value)
    uri = parse_uri(uri_text)
    return NameAddr(None, uri, parse_params(value[semi:]) if semi >= 0 else {})


def parse_contact_list(value: str) -> list[NameAddr]:
    """Every element of a Contact field value; `*` gives a NameAddr whose uri is None (`is_star`).
    Whether `*` is allowed there (REGISTER with Expires: 0 only) is the registrar's business."""
    out: list[NameAddr] = []
    for item in split_comma_list(value):
        if item == "*":
            out.append(NameAddr(None, None, {}))
        else:
            out.append(parse_name_addr(item))
    if not out:
        raise _bad("Contact", value)
    return out


# --- scalars -----------------------------------------------------------------------------------------------
@dataclass(init=False, unsafe_hash=True, slots=True)
class CSeq:
    """CSeq (RFC 3261 §20.16): sequence number (a 32-bit unsigned; we send < 2**31, §8.1.1.5) and method."""

    number: Final[int]
    method: Final[str]

    def __init__(self, number: int, method: str) -> None:
        self.number = number
        self.method = method

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


def _delta(value: str, what: str, limit: int, clamp: bool) -> int:
    """1*DIGIT (leading zeros allowed) as an int; beyond `limit`: clamp or 400. Never int() on huge text."""
    if len(value) <= 10 and value.isdigit() and value.isascii():  # the usual short number (isdigit: 0-9 here)
        number = int(value)
        if number <= limit:
            return number
    if not _DIGITS.match(value):
        raise _bad(what, value)
    digits = value.lstrip("0")
    if len(digits) > 10:
        if clamp:
            return limit
        raise _bad(what, value)
    number = int(digits) if digits else 0
    if number > limit:
        if clamp:
            return limit
        raise _bad(what, value)
    return number


def parse_cseq(value: str) -> CSeq:
    """`1*DIGIT LWS Method`; leading zeros and LWS tolerated (wsinv: `0009 INVITE`); a number above 2**32-1
    (scalar02) or a non-token method gives 400. The method is case-sensitive (RFC 3261 §7.1)."""
    cseq = _CSEQ_MEMO.get(value)
    if cseq is not None:
        return cseq
    parts = value.split()
    if len(parts) != 2:
        raise _bad("CSeq", value)
    number_s, method = parts
    number = _delta(number_s, "CSeq", MAX_CSEQ, False)
    if method not in _KNOWN_METHODS and not _TOKEN.match(method):
        raise _bad("CSeq method", value)
    cseq = CSeq(number, method)
    if len(value) <= MEMO_MAX_TEXT:
        _remember(_CSEQ_MEMO, value, cseq)
    return cseq


def parse_max_forwards(value: str) -> int:
    """Max-Forwards (RFC 3261 §20.22): 0..255, leading zeros allowed (wsinv `0068`); anything else 400."""
    return _delta(value.strip(" \t"), "Max-Forwards", 255, False)


def parse_expires(value: str) -> int:
    """delta-seconds (Expires, Contact `expires`, Min-Expires, Retry-After's number): values above 2**32-1
    are clamped to 2**32-1 (RFC 3261 §20.19 / scalar02); non-numeric gives 400. (Retry-After's comment and
    parameters must be cut off by the caller.)"""
    value = value.strip(" \t")
    return _delta(value, "delta-seconds", MAX_DELTA_SECONDS, True)


def parse_token_list(value: str, *, lower: bool = True) -> list[str]:
    """Comma-separated tokens (Require, Proxy-Require, Supported, Unsupported, Allow, Allow-Events...).

    Option tags are case-insensitive (RFC 3261 §7.3.1 "tokens are always case-insensitive") and come back
    lower-cased. Methods are case-sensitive (§7.1): pass `lower=False` for Allow. A non-token element is 400.
    """
    out: list[str] = []
    for item in value.split(","):
        item = item.strip(" \t")
        if not item:
            continue
        if not _TOKEN.match(item):
            raise _bad("token list", value)
        out.append(item.lower() if lower else item)
    return out


# --- credentials and challenges (RFC 3261 §20.7, §20.27, §20.28, §20.44; RFC 8760) -------------------------
_AUTH_PARAM: Final = re.compile(rf"[ \t]*([{_TOKEN_CHARS}]+)[ \t]*=[ \t]*({_QUOTED}|[^\s,\"]+)[ \t]*(?:,|\Z)", re.S)


def parse_auth(value: str) -> tuple[str, dict[str, str]]:
    """Authorization / Proxy-Authorization / WWW-Authenticate / Proxy-Authenticate:
    `scheme auth-param *("," auth-param)` -> (scheme as written, {lower-case name: value with quotes removed}).

    Compare the scheme case-insensitively (`scheme.lower() == "digest"`). An unknown scheme is not an error
    here (regaut01: the registrar answers with a new Digest challenge). Malformed parameters give 400.
    """
    value = value.strip(" \t")
    m = _TOKEN_PREFIX.match(value)
    if m is None:
        raise _bad("credentials", value)
    scheme = m.group(0)
    rest = value[m.end() :]
    if rest and rest[0] not in " \t":
        raise _bad("credentials", value)
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip(" \t")
    n = len(rest)
    while pos < n:
        pm = _AUTH_PARAM.match(rest, pos)
        if pm is None:
            raise _bad("credentials", value)
        params[pm.group(1).lower()] = unquote(pm.group(2))
        pos = pm.end()
    return scheme, params
