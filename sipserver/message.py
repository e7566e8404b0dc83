"""SIP requests and responses as values (RFC 3261 §7), with lazily parsed header fields.

A message holds its start line, an ordered `Headers` list of raw (name, value) fields and the body as bytes.
Nothing is parsed until asked: `msg.top_via`, `msg.cseq`, `msg.from_`... parse one header value on first use and
cache it in the `Headers` object (any mutation of the headers drops that cache). Serialization writes the fields
back in order, so a value we never looked at goes out byte for byte as it came in.

This module knows nothing about sockets, transactions, dialogs or users.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final, TypeVar

from sipserver import headers as h
from sipserver.errors import RemoteProtocolError
from sipserver.uri import Uri, parse_uri

T = TypeVar("T")

_KEYS: Final = h._KEYS  # header_key()'s table: a direct lookup for the common spellings saves a call on the hot path

SIP_VERSION: Final = "SIP/2.0"


class Headers:
    """Ordered header fields, each stored as (key, name, value).

    `key` is the canonical long name for headers we know (compact forms expanded: `v` -> `Via`) and the
    lower-cased name for the rest; lookups go through `header_key()` so any spelling finds the field.
    `value` is the raw field value with folding already unfolded and surrounding whitespace stripped.
    """

    __slots__ = ("_cache", "_fields")

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._fields: list[tuple[str, str, str]] = []
        self._cache: dict[str, object] = {}
        for name, value in fields:
            self.add(name, value)

    @classmethod
    def from_keyed(cls, fields: list[tuple[str, str, str]]) -> Headers:
        """Adopt already-keyed fields (the parser's fast path); the list is taken, not copied."""
        obj = cls()
        obj._fields = fields
        return obj

    # -- reading ---------------------------------------------------------------------------------------------
    def get(self, name: str) -> str | None:
        """The value of the first field named `name`, or None."""
        key = _KEYS.get(name) or h.header_key(name)
        for k, _, value in self._fields:
            if k == key:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Every field value named `name`, in order (each may itself be a comma-separated list)."""
        key = _KEYS.get(name) or h.header_key(name)
        return [value for k, _, value in self._fields if k == key]

    def values(self, name: str) -> list[str]:
        """Every comma-separated element of every field named `name` (RFC 3261 §7.3.1)."""
        out: list[str] = []
        for value in self.get_all(name):
            out.extend(h.split_comma_list(value))
        return out

    def count(self, name: str) -> int:
        key = h.header_key(name)
        return sum(1 for k, _, _ in self._fields if k == key)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = _KEYS.get(name) or h.header_key(name)
        for k, _, _ in self._fields:  # noqa: SIM110 - a plain loop is about twice as fast as any(<genexpr>)
            if k == key:
                return True
        return False

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """(name as it will be written, value) pairs in order."""
        for _, name, value in self._fields:
            yield name, value

    def __len__(self) -> int:
        return len(self._fields)

    def parsed(self, name: str, parser: Callable[[str], T]) -> T | None:
        """`parser(first value of name)`, cached until the headers change; None when the header is absent."""
        cached = self._cache.get(name, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        key = _KEYS.get(name) or h.header_key(name)
        result = None
        for k, _, value in self._fields:
            if k == key:
                result = parser(value)
                break
        self._cache[name] = result
        return result

    def drop_parsed(self) -> None:
        """Forget the cached parsed values (memory of long-lived messages); they are parsed again on demand."""
        self._cache.clear()

    # -- writing ---------------------------------------------------------------------------------------------
    def add(self, name: str, value: str) -> None:
        """Append a field."""
        key = _KEYS.get(name)
        if key is None:  # an unknown header, or an odd spelling of a known one
            key = h.header_key(name)
            self._fields.append((key, h.display_name(key, name), value))
        else:  # a known header: its key is its canonical spelling
            self._fields.append((key, key, value))
        if self._cache:
            self._cache.clear()

    def prepend(self, name: str, value: str) -> None:
        """Insert a field before every other field (a new top Via)."""
        key = h.header_key(name)
        self._fields.insert(0, (key, h.display_name(key, name), value))
        self._cache.clear()

    def set(self, name: str, value: str) -> None:
        """Replace every field named `name` by one field, kept at the position of the first one."""
        key = h.header_key(name)
        new = (key, h.display_name(key, name), value)
        out: list[tuple[str, str, str]] = []
        placed = False
        for field in self._fields:
            if field[0] == key:
                if not placed:
                    out.append(new)
                    placed = True
            else:
                out.append(field)
        if not placed:
            out.append(new)
        self._fields = out
        self._cache.clear()

    def remove(self, name: str) -> None:
        key = h.header_key(name)
        self._fields = [f for f in self._fields if f[0] != key]
        self._cache.clear()

    def remove_first_value(self, name: str) -> None:
        """Drop the first comma-separated element of `name` (e.g. our own Via on a response)."""
        key = h.header_key(name)
        for i, (k, display, value) in enumerate(self._fields):
            if k == key:
                rest = h.split_comma_list(value)[1:]
                if rest:
                    self._fields[i] = (k, display, ", ".join(rest))
                else:
                    del self._fields[i]
                self._cache.clear()
                return

    def replace_first_value(self, name: str, value: str) -> None:
        """Replace the first comma-separated element of `name` (our stamp on the top Via)."""
        key = h.header_key(name)
        for i, (k, display, old) in enumerate(self._fields):
            if k == key:
                rest = h.split_comma_list(old)[1:]
                self._fields[i] = (k, display, ", ".join([value, *rest]))
                self._cache.clear()
                return
        self.add(name, value)

    def copy(self) -> Headers:
        return Headers.from_keyed(list(self._fields))

    def write(self, out: list[str]) -> None:
        for _, name, value in self._fields:  # four parts, not one f-string each: join() copies once
            out.append(name)
            out.append(": ")
            out.append(value)
            out.append("\r\n")


_MISSING: Final = object()
_CONTACTS_KEY: Final = "Contact*"  # cache slot of the full Contact list (the "Contact" slot holds the first value)


class _Message:
    """What requests and responses share: headers, body and the parsed views of the common header fields."""

    __slots__ = ("body", "headers")

    def __init__(self, headers: Headers, body: bytes) -> None:
        self.headers = headers
        self.body = body

    # The views below raise RemoteProtocolError(400) when the field is malformed. Each reads the cache itself
    # first: a view is read a dozen times per message on the B2BUA's path, and a hit must cost one dict lookup.
    @property
    def call_id(self) -> str:
        value = self.headers._cache.get("Call-ID")
        if value is None:
            value = self.headers.get("Call-ID")
            if value is None:
                raise RemoteProtocolError("missing Call-ID")
            self.headers._cache["Call-ID"] = value
        return value  # type: ignore[return-value]

    @property
    def cseq(self) -> h.CSeq:
        value = self.headers._cache.get("CSeq") or self.headers.parsed("CSeq", h.parse_cseq)
        if value is None:
            raise RemoteProtocolError("missing CSeq")
        return value  # type: ignore[return-value]

    @property
    def vias(self) -> list[h.Via]:
        return [h.parse_via(v) for v in self.headers.values("Via")]

    @property
    def top_via(self) -> h.Via:
        value = self.headers._cache.get("Via") or self.headers.parsed("Via", h.parse_top_via)
        if value is None:
            raise RemoteProtocolError("missing Via")
        return value  # type: ignore[return-value]

    @property
    def from_(self) -> h.NameAddr:
        value = self.headers._cache.get("From") or self.headers.parsed("From", h.parse_name_addr)
        if value is None:
            raise RemoteProtocolError("missing From")
        return value  # type: ignore[return-value]

    @property
    def to(self) -> h.NameAddr:
        value = self.headers._cache.get("To") or self.headers.parsed("To", h.parse_name_addr)
        if value is None:
            raise RemoteProtocolError("missing To")
        return value  # type: ignore[return-value]

    @property
    def contacts(self) -> list[h.NameAddr]:
        """Every Contact value; a `*` Contact is returned as a NameAddr whose `uri` is None (`is_star`).
        Parsed once and cached like the other views (a new list each time: callers may change it)."""
        cache = self.headers._cache
        cached = cache.get(_CONTACTS_KEY)
        if isinstance(cached, list):
            return list(cached)
        out: list[h.NameAddr] = []
        for raw in self.headers.get_all("Contact"):
            out.extend(h.parse_contact_list(raw))
        cache[_CONTACTS_KEY] = out
        return list(out)

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")

    def _write_tail(self, out: list[str]) -> bytes:
        self.headers.write(out)
        if "Content-Length" not in self.headers:
            out.append(f"Content-Length: {len(self.body)}\r\n")
        out.append("\r\n")
        return "".join(out).encode("utf-8", "surrogateescape") + self.body


class SipRequest(_Message):
    """A request: `method`, raw Request-URI text `uri`, headers and body."""

    __slots__ = ("_ruri", "method", "uri", "version")

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Headers | None = None,
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self.method = method
        self.uri = uri
        self.version = version
        self._ruri: Uri | None = None

    @property
    def request_uri(self) -> Uri:
        """The Request-URI, parsed on first use (RemoteProtocolError(400) when malformed)."""
        if self._ruri is None:
            self._ruri = parse_uri(self.uri)
        return self._ruri

    @property
    def max_forwards(self) -> int | None:
        return self.headers.parsed("Max-Forwards", h.parse_max_forwards)

    def serialize(self) -> bytes:
        """The wire form; a Content-Length matching the body is added when the headers have none."""
        return self._write_tail([f"{self.method} {self.uri} {self.version}\r\n"])

    def __repr__(self) -> str:
        return f"<SipRequest {self.method} {self.uri}>"


class SipResponse(_Message):
    """A response: `status`, `reason`, headers and body."""

    __slots__ = ("reason", "status", "version")

    def __init__(
        self,
        status: int,
        reason: str,
        headers: Headers | None = None,
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self.status = status
        self.reason = reason
        self.version = version

    def serialize(self) -> bytes:
        return self._write_tail([f"{self.version} {self.status} {self.reason}\r\n"])

    def __repr__(self) -> str:
        return f"<SipResponse {self.status} {self.reason}>"


SipMessage = SipRequest | SipResponse

REASON_PHRASES: Final[dict[int, str]] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued", 183: "Session Progress",
    200: "OK", 202: "Accepted", 204: "No Notification",
    301: "Moved Permanently", 302: "Moved Temporarily",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    413: "Request Entity Too Large", 414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required", 423: "Interval Too Brief",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist", 482: "Loop Detected",
    483: "Too Many Hops", 484: "Address Incomplete", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending", 500: "Server Internal Error",
    501: "Not Implemented", 503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}

# The fields that identify a request (its transaction and dialog): what `skeleton` keeps.
_IDENTIFYING: Final = frozenset({"Via", "Call-ID", "From", "To", "CSeq"})


def skeleton(request: SipRequest) -> SipRequest:
    """The request reduced to what identifies it (Via, Call-ID, From, To, CSeq): no body, no other fields.
    What a long-lived transaction or established call keeps of an INVITE, instead of the whole message."""
    fields = [field for field in request.headers._fields if field[0] in _IDENTIFYING]
    return SipRequest(request.method, request.uri, Headers.from_keyed(fields))


# Fields a response copies from its request (RFC 3261 §8.2.6.2), in the order they are written.
_COPIED_INTO_RESPONSE: Final = ("Via", "From", "To", "Call-ID", "CSeq")


def build_response(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> SipResponse:
    """A response to `request` (RFC 3261 §8.2.6.2): Via, From, To, Call-ID and CSeq copied from it.

    `to_tag` is added to To when the request's To has no tag (required for every response but 100).
    Works on a partially parsed request too: fields are copied as raw text, nothing is parsed but To's tag.
    """
    fields: list[tuple[str, str, str]] = []
    for key, name, value in request.headers._fields:
        if key in _COPIED_INTO_RESPONSE:
            if key == "To" and to_tag is not None and status != 100 and not h.has_tag(value):
                value = f"{value};tag={to_tag}"
            fields.append((key, name, value))
    resp_headers = Headers.from_keyed(fields)
    for name, value in headers:
        resp_headers.add(name, value)
    return SipResponse(status, reason or REASON_PHRASES.get(status, "Unknown"), resp_headers, body)
