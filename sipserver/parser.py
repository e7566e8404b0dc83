"""Bytes to SIP messages: start line, header tokenizing and framing (RFC 3261 §7, §8.2, §16.3, §18.3;
RFC 5626 §3.5.1 keep-alives; RFC 4475 / RFC 5118 torture cases).

`parse_message()` turns one datagram (or one framed stream message) into a `SipRequest` / `SipResponse`. It
tokenizes header fields but parses no header value except Content-Length, which framing needs; every other value
is parsed lazily by the message's accessors. `validate_request()` / `validate_response()` are the checks a server
makes before routing (mandatory fields present once, parsable, CSeq method = request method...).
`StreamFramer` cuts a TCP/TLS byte stream into messages by Content-Length.

Errors: only `RemoteProtocolError` leaves this module. Its `status_hint` is the answer the RFC asks for (400, 505,
513) for a request and None (drop silently) for a response or for bytes that cannot be answered. When a bad
request's header fields could be tokenized, `partial` holds a `SipRequest` with them, so that the caller can
answer (RFC 3261 §8.2.6.2 copies Via, From, To, Call-ID and CSeq); its `uri` may be "".

Choices where RFC 4475 allows several outcomes (see tests/unit/test_torture_parse.py for the full table):
- lwsstart / trws (extra SP in the request line): 400, never tolerated, so the extra SP is never forwarded;
- escruri (`?headers` in the Request-URI): 400 from `validate_request()` (`parse_uri` itself keeps them as inert
  text in `Uri.headers`, never as header fields);
- inv2543 (no branch): accepted, as RFC 4475 longreq (valid) has no branch in its top Via either;
  `validate_request(req, require_branch=True)` refuses both;
- badbranch (`branch=z9hG4bK` alone): accepted; `Via.has_rfc3261_branch` is False;
- mismatch02 (unknown method and CSeq mismatch): 400 here; a stack that answers 501 for unknown methods must do
  so before calling `validate_request()`;
- a datagram whose header section is not terminated by an empty line (RFC 4475 baddn, RFC 5118 §4.10 archive):
  the whole datagram is taken as the header section, with an empty body.

This module knows nothing about sockets, transactions, dialogs or users.
"""

from __future__ import annotations

import re
from typing import Final

from sipserver import headers as h
from sipserver.errors import RemoteProtocolError
from sipserver.message import SIP_VERSION, Headers, SipRequest, SipResponse, _Message

__all__ = [
    "KEEP_ALIVE",
    "MAX_UDP_MESSAGE",
    "KeepAlive",
    "StreamFramer",
    "parse_message",
    "validate_request",
    "validate_response",
]

MAX_UDP_MESSAGE: Final = 65535
DEFAULT_MAX_MESSAGE_SIZE: Final = 65536
DEFAULT_MAX_HEADER_SIZE: Final = 16384

_TOKEN: Final = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_SIP_VERSION_ANY: Final = re.compile(r"SIP/[0-9]+\.[0-9]+\Z", re.I)
_UNFOLD: Final = re.compile(r"\r?\n[ \t]+")
_BLANK_LINE: Final = re.compile(rb"\r?\n\r?\n")  # the end of the header section, whatever the line ends
_KNOWN_METHODS: Final = frozenset(
    {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "SUBSCRIBE", "NOTIFY", "REFER", "INFO", "UPDATE",
     "PRACK", "MESSAGE", "PUBLISH"}
)
_CONTENT_LENGTH: Final = "Content-Length"

# Raw header-name spelling (as it appears before the colon) -> (key, name written back). Seeded with every
# spelling of the known headers; other spellings are added as they are met, up to a bound (no memory DoS).
_NAMES: Final[dict[str, tuple[str, str]]] = {}
for _spelling in h._KEYS:
    _canon = h._KEYS[_spelling]
    _NAMES[_spelling] = (_canon, _canon)
del _spelling, _canon
_NAMES_LIMIT: Final = 4096


def _name_entry(raw: str) -> tuple[str, str] | None:
    """Key and written name for a raw header name; None when it is no token (whitespace inside, controls...).
    SP/HT between the name and the colon are allowed (RFC 3261 HCOLON)."""
    name = raw.rstrip(" \t")
    if not _TOKEN.match(name):
        return None
    key = h.header_key(name)
    entry = (key, h.display_name(key, name))
    if len(_NAMES) < _NAMES_LIMIT:
        _NAMES[raw] = entry
    return entry


def _content_length(values: list[str]) -> int | None:
    """The Content-Length from its field values; None when malformed (non-numeric, negative, differing)."""
    first = values[0]
    for other in values[1:]:
        if other != first:
            return None
    if not first.isdigit() or not first.isascii():
        return None
    digits = first.lstrip("0")
    if len(digits) > 10:
        return None
    return int(digits) if digits else 0


def _split_mixed(head: str) -> tuple[list[str], str | None]:
    """Lines of a header section ending in bare LF or in a mix of CRLF and LF, and the first line holding a bare
    CR (refused: it could smuggle a line end into a value we forward), or None."""
    lines = [line[:-1] if line[-1:] == "\r" else line for line in head.split("\n")]
    for line in lines:
        if "\r" in line:
            return lines, line
    return lines, None


def _partial(method: str, uri: str, fields: list[tuple[str, str, str]]) -> SipRequest:
    return SipRequest(method, uri, Headers.from_keyed(fields), b"")


class _Irregular(Exception):
    """A header line the fast path does not handle (folding, bare CR, no colon, odd name): use the general path."""


# Whole header line -> its (key, name, value) field. Lines repeat a lot between messages (Max-Forwards: 70,
# Content-Type, Allow, Supported, User-Agent, the phones' Contact...), and a field is an immutable tuple, so a
# bounded memo of short lines is safe and turns most of the tokenizing into one dict lookup per line.
_LINE_MEMO: Final[dict[str, tuple[str, str, str]]] = {}
_LINE_MEMO_LIMIT: Final = 4096
_MEMO_MAX_LINE: Final = 256


def _tokenize(line: str) -> tuple[str, str, str]:
    """One header line of the fast path -> (key, name written back, value stripped of SP/HT)."""
    name, colon, value = line.partition(":")
    entry = _NAMES.get(name)
    if entry is None:
        entry = _name_entry(name)
    if entry is None or not colon or "\r" in line or "\n" in line:
        raise _Irregular
    field = (entry[0], entry[1], value.strip(" \t"))
    if len(line) <= _MEMO_MAX_LINE:
        if len(_LINE_MEMO) >= _LINE_MEMO_LIMIT:
            _LINE_MEMO.clear()
        _LINE_MEMO[line] = field
    return field


def parse_message(data: bytes, *, datagram: bool = True) -> SipRequest | SipResponse:
    """Parse one SIP message.

    `datagram=True` (UDP, RFC 3261 §18.3): without Content-Length the body is the rest of the datagram; octets
    beyond Content-Length are discarded (dblreq); a Content-Length larger than what is left is 400 (clerr).
    `datagram=False` (a message cut by `StreamFramer`): Content-Length is mandatory.
    Line ends may be CRLF or bare LF (the RFC 5118 archive); folded lines are unfolded (each fold becomes one SP).
    The head is decoded as UTF-8 with surrogateescape: any octet survives a parse/serialize round trip.
    """
    # Fast path: CRLF line ends, no folding, every header line "name: value" with a well-formed name, one valid
    # Content-Length, a request line "METHOD uri SIP/2.0" with a known method or a status line
    # "SIP/2.0 NNN reason". Anything else: _build() (start line, body) or the general path (line ends, folding).
    head_b, sep, rest = data.partition(b"\r\n\r\n")
    if sep and head_b:
        head = head_b.decode("utf-8", "surrogateescape")
        lines = head.split("\r\n")
        start = lines[0]
        if start and "\n" not in start and "\r" not in start:
            # A bare LF or CR inside a header line sends it to the general path too: _tokenize() checks every
            # line it memoizes, so a line found in the memo is clean.
            try:
                fields = [_LINE_MEMO.get(line) or _tokenize(line) for line in lines[1:]]
            except _Irregular:
                pass
            else:
                cl = [f[2] for f in fields if f[0] == _CONTENT_LENGTH]
                if len(cl) == 1:
                    length_s = cl[0]
                    if length_s.isdigit() and length_s.isascii() and len(length_s) < 10:
                        length = int(length_s)
                        left = len(rest)
                        if length <= left:
                            body = rest if length == left else rest[:length]
                            if start[:8] == "SIP/2.0 ":
                                code = start[8:11]
                                if start[11:12] == " " and code.isdigit() and code.isascii() and "1" <= code[0] <= "6":
                                    return SipResponse(int(code), start[12:], Headers.from_keyed(fields), body)
                            else:
                                parts = start.split(" ")
                                if len(parts) == 3 and parts[0] in _KNOWN_METHODS and parts[2] == SIP_VERSION:
                                    uri = parts[1]
                                    if uri and uri[0] != "<":
                                        return SipRequest(parts[0], uri, Headers.from_keyed(fields), body)
                return _build(start, fields, None, data, len(head_b) + 4, datagram)
    return _parse_general(data, datagram)


def _parse_general(data: bytes, datagram: bool) -> SipRequest | SipResponse:
    """Every case: leading CRLFs, bare LF line ends, folding, unterminated header sections, bad lines."""
    data = data.lstrip(b"\r\n")  # CRLFs before the start line are ignored (RFC 3261 §7.5)
    blank = _BLANK_LINE.search(data)
    if blank is None:
        # No empty line: the header section runs to the end of the datagram (truncated archives, baddn).
        head = data.rstrip(b"\r\n").decode("utf-8", "surrogateescape")
        body_start = len(data)
    else:
        head = data[: blank.start()].decode("utf-8", "surrogateescape")
        body_start = blank.end()
    if "\n " in head or "\n\t" in head:
        head = _UNFOLD.sub(" ", head)
    lines, bad_line = _split_mixed(head)
    fields: list[tuple[str, str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        entry = _NAMES.get(name) if colon else None
        if entry is None and colon:
            entry = _name_entry(name)
        if entry is None:
            if bad_line is None:
                bad_line = line
            continue
        fields.append((entry[0], entry[1], value.strip(" \t")))
    return _build(lines[0], fields, bad_line, data, body_start, datagram)


def _build(
    start: str,
    fields: list[tuple[str, str, str]],
    bad_line: str | None,
    data: bytes,
    body_start: int,
    datagram: bool,
) -> SipRequest | SipResponse:
    """The message from its start line and fields; the body framed from `data[body_start:]`."""
    msg: SipRequest | SipResponse
    if start[:4] == "SIP/" or start[:4].upper() == "SIP/":
        parts = start.split(" ", 2)
        if len(parts) < 2:
            raise RemoteProtocolError("malformed status line", status_hint=None)
        version, code = parts[0], parts[1]
        if version != SIP_VERSION:
            if version.upper() != SIP_VERSION:
                raise RemoteProtocolError(f"unsupported version {version[:20]!r}", status_hint=None)
            version = SIP_VERSION
        if len(code) != 3 or not code.isdigit() or not code.isascii() or code[0] == "0":
            raise RemoteProtocolError(f"bad status code {code[:20]!r}", status_hint=None)
        status = int(code)
        if status >= 700:
            raise RemoteProtocolError(f"bad status code {code!r}", status_hint=None)
        if bad_line is not None:
            raise RemoteProtocolError(f"malformed header line {bad_line[:80]!r}", status_hint=None)
        msg = SipResponse(status, parts[2] if len(parts) == 3 else "", Headers.from_keyed(fields), b"", version)
        is_request = False
    else:
        parts = start.split(" ")
        if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2]:
            method = parts[0] if _TOKEN.match(parts[0]) else ""
            raise RemoteProtocolError(
                f"malformed request line {start[:80]!r}", partial=_partial(method, "", fields)
            )
        method, uri, version = parts
        if method not in _KNOWN_METHODS and not _TOKEN.match(method):
            raise RemoteProtocolError(f"bad method {method[:40]!r}", partial=_partial("", "", fields))
        if version != SIP_VERSION:
            if version.upper() == SIP_VERSION:
                version = SIP_VERSION
            elif _SIP_VERSION_ANY.match(version):
                raise RemoteProtocolError(
                    f"version {version!r} not supported", status_hint=505, partial=_partial(method, uri, fields)
                )
            else:
                raise RemoteProtocolError(
                    f"bad version {version[:20]!r}", partial=_partial(method, "", fields)
                )
        if uri[0] == "<":
            raise RemoteProtocolError("Request-URI in <>", partial=_partial(method, "", fields))
        if bad_line is not None:
            raise RemoteProtocolError(
                f"malformed header line {bad_line[:80]!r}", partial=_partial(method, uri, fields)
            )
        msg = SipRequest(method, uri, Headers.from_keyed(fields), b"", version)
        is_request = True

    # -- body (RFC 3261 §18.3) -------------------------------------------------------------------------------
    left = len(data) - body_start
    cl_values = [f[2] for f in fields if f[0] == _CONTENT_LENGTH]
    if not cl_values:
        if not datagram:
            raise _body_error("Content-Length missing on a stream", msg, is_request)
        if left > 0:
            msg.body = data[body_start:]
        return msg
    length = _content_length(cl_values)
    if length is None:
        raise _body_error(f"bad Content-Length {cl_values!r:.80}", msg, is_request)
    if length > left:
        raise _body_error(f"Content-Length {length} larger than the {left} octets received", msg, is_request)
    if length:
        msg.body = data[body_start : body_start + length]
    return msg


def _body_error(reason: str, msg: SipRequest | SipResponse, is_request: bool) -> RemoteProtocolError:
    if is_request:
        return RemoteProtocolError(reason, status_hint=400, partial=msg)
    return RemoteProtocolError(reason, status_hint=None)


# --- validation --------------------------------------------------------------------------------------------
_EXACTLY_ONCE: Final[tuple[str, ...]] = ("Call-ID", "From", "To", "CSeq")
_AT_MOST_ONCE: Final[tuple[str, ...]] = ("Max-Forwards", "Content-Length")
_COUNTED: Final = frozenset(_EXACTLY_ONCE + _AT_MOST_ONCE)


def _check_common(msg: _Message) -> str | None:
    """The checks requests and responses share; returns the reason of the first failure (None when fine).
    Header values that fail to parse raise RemoteProtocolError(400) from the accessors.
    (`msg` is typed as the common base class: under mypyc, attributes of a union are generic lookups.)"""
    counts: dict[str, int] = {}
    for key, _, _ in msg.headers._fields:
        if key in _COUNTED:
            counts[key] = counts.get(key, 0) + 1
    for name in _EXACTLY_ONCE:
        n = counts.get(name, 0)
        if n != 1:
            return f"{'missing' if n == 0 else 'duplicate'} {name}"
    for name in _AT_MOST_ONCE:
        if counts.get(name, 0) > 1:
            return f"duplicate {name}"
    call_id = msg.call_id
    if not call_id or "," in call_id or " " in call_id or "\t" in call_id:
        return "malformed Call-ID"  # callid = word ["@" word]: no LWS, no comma (two values in one field)
    msg.from_  # noqa: B018 - parse (and cache) or raise
    msg.to  # noqa: B018
    msg.cseq  # noqa: B018
    msg.top_via  # noqa: B018
    return None


def validate_request(req: SipRequest, *, require_branch: bool = False) -> None:
    """The checks before routing a request (RFC 3261 §8.2, §16.3); RemoteProtocolError(400, partial=req) if bad.

    - exactly one Call-ID, From, To and CSeq; at most one Max-Forwards and Content-Length (multi01);
    - From, To and every Contact parse (quotbal, baddn, badaspec, regbadct, badinv01's Contact);
    - CSeq parses and names the request's method (mismatch01, mismatch02), its number is below 2**32 (scalar02);
    - Max-Forwards, if present, is 0..255 (scalar02);
    - the top Via parses. A branch is only required with `require_branch=True`: RFC 4475 longreq, a valid
      message, has a top Via without branch, and RFC 2543 peers (inv2543) send none; `branch=z9hG4bK` alone is
      accepted (badbranch, see `Via.has_rfc3261_branch`);
    - the Request-URI parses (ltgtruri, lwsruri, ipv6-bad) and carries no `?headers` (escruri: not allowed in
      a Request-URI, RFC 3261 §19.1.1 table 1). A Request-URI in an unknown scheme is NOT an error here: the
      caller answers 416 (`not req.request_uri.is_sip and req.request_uri.scheme != "tel"`).
    Nothing is said about Require, Content-Type, Max-Forwards = 0...: those are the server's decisions.
    """
    try:
        reason = _check_common(req)
        if reason is None:
            if req.cseq.method != req.method:
                reason = f"CSeq method {req.cseq.method!r} differs from {req.method!r}"
            elif require_branch and req.top_via.branch is None:
                reason = "top Via without branch"
            elif req.request_uri.headers is not None:
                reason = "headers in the Request-URI"
            else:
                req.max_forwards  # noqa: B018 - parse or raise
                if "Contact" in req.headers:
                    req.contacts  # noqa: B018
    except RemoteProtocolError as exc:
        raise RemoteProtocolError(exc.reason, status_hint=400, partial=req) from None
    if reason is not None:
        raise RemoteProtocolError(reason, status_hint=400, partial=req)


def validate_response(resp: SipResponse) -> None:
    """The checks before processing a response: as for requests, minus Request-URI and Max-Forwards; any failure
    raises RemoteProtocolError(status_hint=None): a bad response is dropped (scalarlg)."""
    try:
        reason = _check_common(resp)
    except RemoteProtocolError as exc:
        raise RemoteProtocolError(exc.reason, status_hint=None) from None
    if reason is not None:
        raise RemoteProtocolError(reason, status_hint=None)


# --- stream framing (RFC 3261 §18.3, RFC 5626 §3.5.1) ------------------------------------------------------
class KeepAlive:
    """A CRLFCRLF keep-alive ping read between messages on a stream; answer it with one CRLF (the pong)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "KEEP_ALIVE"


KEEP_ALIVE: Final = KeepAlive()

_PING: Final = b"\r\n\r\n"
_CL_FIELD: Final = re.compile(rb"\n(?:content-length|l)[ \t]*:((?:[^\r\n]|\r?\n[ \t])*)", re.I)


class StreamFramer:
    """Cut a stream (TCP, TLS) into SIP messages, framed by Content-Length only (RFC 3261 §18.3).

    `feed(data)` returns the messages completed by `data`, each as bytes for
    `parse_message(..., datagram=False)`, and `KEEP_ALIVE` for each CRLFCRLF ping met between messages (answer
    it with one CRLF). Other CRLFs between messages are skipped. Pipelined and partial input both work; each
    byte is scanned a bounded number of times (the search for the end of a header section resumes where it
    stopped).

    Errors: framing is lost, the transport answers if it can (`partial`), then closes the connection:
    - Content-Length missing, malformed or multiple differing: RemoteProtocolError(400, partial=request) for a
      request whose header fields could be read (it may lack a Via: then it cannot be answered), status_hint
      None otherwise (responses);
    - a header section longer than `max_header_size`, or a message longer than `max_message_size`:
      RemoteProtocolError(513, partial=request) when the header section was complete and is a request,
      status_hint None otherwise.
    When complete messages precede the error in the same `feed()` call, they are returned first and the error
    is kept in `pending_error`; it is raised by the next `feed()` call. So a transport either checks
    `pending_error` after handling what `feed()` returned, or calls `feed(b"")` to raise it.
    """

    __slots__ = ("_buf", "_error", "_need", "_scan", "max_header_size", "max_message_size")

    def __init__(
        self,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
    ) -> None:
        self.max_message_size = max_message_size
        self.max_header_size = max_header_size
        self._buf = bytearray()  # starts with the message being read (consumed octets are deleted)
        self._scan = 0  # where the search for the end of its header section resumes
        self._need = -1  # its total length once its header section was read, else -1
        self._error: RemoteProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Octets received and not yet returned (a partial message)."""
        return len(self._buf)

    @property
    def pending_error(self) -> RemoteProtocolError | None:
        """The framing error found after the messages the last `feed()` returned, if any."""
        return self._error

    def feed(self, data: bytes) -> list[bytes | KeepAlive]:
        if self._error is not None:
            raise self._error
        self._buf += data
        out: list[bytes | KeepAlive] = []
        try:
            self._frame(out)
        except RemoteProtocolError as exc:
            if not out:
                raise
            self._error = exc
        return out

    def _consume(self, count: int) -> None:
        del self._buf[:count]  # O(1) amortized: a bytearray drops octets from its front without copying
        self._scan = max(0, self._scan - count)

    def _frame(self, out: list[bytes | KeepAlive]) -> None:
        """Move every complete message (and keep-alive) at the front of the buffer to `out`."""
        buf = self._buf
        while buf:
            if self._need < 0:
                c = buf[0]
                if c == 13 or c == 10:
                    chunk = bytes(buf[:4])
                    if chunk == _PING:
                        out.append(KEEP_ALIVE)
                        self._consume(4)
                    elif len(chunk) < 4 and _PING.startswith(chunk):
                        return  # maybe the start of a ping: wait for more
                    else:
                        self._consume(2 if chunk.startswith(b"\r\n") else 1)
                    continue
                end = buf.find(b"\r\n\r\n", self._scan)
                if end < 0:
                    if len(buf) > self.max_header_size:
                        raise RemoteProtocolError("header section too long", status_hint=None)
                    self._scan = max(0, len(buf) - 3)
                    return
                head_end = end + 4
                if head_end > self.max_header_size:
                    raise _framing_error("header section too long", bytes(buf[:head_end]), 513)
                values = [v.strip(b" \t\r\n") for v in _CL_FIELD.findall(buf, 0, head_end)]
                length = _content_length([v.decode("latin-1") for v in values]) if values else None
                if length is None:
                    reason = "bad Content-Length" if values else "Content-Length missing on a stream"
                    raise _framing_error(reason, bytes(buf[:head_end]), 400)
                if head_end + length > self.max_message_size:
                    raise _framing_error("message too long", bytes(buf[:head_end]), 513)
                self._need = head_end + length
            if len(buf) < self._need:
                return
            out.append(bytes(buf[: self._need]))
            self._consume(self._need)
            self._need = -1
            self._scan = 0


def _framing_error(reason: str, head: bytes, status: int) -> RemoteProtocolError:
    """The error for a stream message whose header section is `head`, with a partial request to answer if any."""
    try:
        msg = parse_message(head, datagram=True)
    except RemoteProtocolError as exc:
        partial = exc.partial
    else:
        partial = msg if isinstance(msg, SipRequest) else None
    if partial is None:
        return RemoteProtocolError(reason, status_hint=None)
    return RemoteProtocolError(reason, status_hint=status, partial=partial)
