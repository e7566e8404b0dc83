"""SIP dialogs (RFC 3261 §12): the state two user agents share, and the requests built inside one.

A `Dialog` is made from the INVITE we answered (UAS side, §12.1.1) or from the response to the INVITE we sent
(UAC side, §12.1.2). It builds in-dialog requests (§12.2.1.1: Request-URI = remote target, Route = route set,
CSeq incremented), checks the CSeq of incoming ones (§12.2.2) and follows target refreshes (re-INVITE/UPDATE
Contact). Pure: no sockets, no clock; it knows nothing of calls, users or features.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipserver.headers import NameAddr
from sipserver.message import Headers, SipRequest, SipResponse


@dataclass(init=False, slots=True)
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str  # the full From (ours) / To (theirs) values, without tags: `"Name" <sip:...>`
    remote_uri: str
    remote_target: str  # the peer's Contact URI
    route_set: list[str]
    local_cseq: int
    remote_cseq: int | None
    local_contact: str
    early: bool

    def __init__(
        self,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local_uri: str,
        remote_uri: str,
        remote_target: str,
        route_set: list[str] | None = None,
        local_cseq: int = 0,
        remote_cseq: int | None = None,
        local_contact: str = "",
        early: bool = True,
    ) -> None:
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.local_uri = local_uri
        self.remote_uri = remote_uri
        self.remote_target = remote_target
        self.route_set = [] if route_set is None else route_set
        self.local_cseq = local_cseq
        self.remote_cseq = remote_cseq
        self.local_contact = local_contact
        self.early = early

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the dialog on our side: Call-ID and our tag."""
        return (self.call_id, self.local_tag)

    def new_request(self, method: str, *, via: str, body: bytes = b"", content_type: str | None = None,
                    extra: tuple[tuple[str, str], ...] = (), cseq: int | None = None) -> SipRequest:
        """An in-dialog request (§12.2.1.1). ACK and CANCEL reuse the INVITE's CSeq: pass `cseq`."""
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        headers = Headers()
        headers.add("Via", via)
        headers.add("Max-Forwards", "70")
        for route in self.route_set:
            headers.add("Route", route)
        headers.add("From", f"{self.local_uri};tag={self.local_tag}")
        headers.add("To", f"{self.remote_uri};tag={self.remote_tag}")
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{cseq} {method}")
        if self.local_contact and method not in ("ACK", "CANCEL", "BYE"):
            headers.add("Contact", self.local_contact)
        for name, value in extra:
            headers.add(name, value)
        if body:
            headers.add("Content-Type", content_type or "application/sdp")
        headers.add("Content-Length", str(len(body)))
        return SipRequest(method, self.remote_target, headers, body)

    def accept_remote_cseq(self, request: SipRequest) -> bool:
        """§12.2.2: a lower CSeq than the last one seen is out of order (answer 500). ACK/CANCEL don't count."""
        if request.method in ("ACK", "CANCEL"):
            return True
        number = request.cseq.number
        if self.remote_cseq is not None and number <= self.remote_cseq:
            return False
        self.remote_cseq = number
        return True

    def refresh_target(self, message: SipRequest | SipResponse) -> None:
        """Target refresh (§12.2): a re-INVITE/UPDATE or its 2xx carries the peer's new Contact."""
        contacts = message.contacts
        if contacts and contacts[0].uri is not None:
            self.remote_target = str(contacts[0].uri)


def _without_tag(raw: str, value: NameAddr) -> str:
    """The From/To value minus its tag: cut textually when the tag is written plainly (the usual case: no
    re-serialization, the peer's spelling kept), else rebuilt from the parsed value."""
    tag = value.tag
    if tag is None:
        return raw
    plain = f";tag={tag}"
    if raw.count(plain) == 1 and (raw.endswith(plain) or f"{plain};" in raw):
        return raw.replace(plain, "", 1)
    params = {k: v for k, v in value.params.items() if k != "tag"}
    return str(NameAddr(value.display, value.uri, params))


def uas_dialog(request: SipRequest, local_tag: str, local_contact: str) -> Dialog:
    """The dialog we form by answering `request` (an INVITE or SUBSCRIBE) with a 1xx/2xx (§12.1.1)."""
    contacts = request.contacts
    target = str(contacts[0].uri) if contacts and contacts[0].uri is not None else request.uri
    return Dialog(
        call_id=request.call_id,
        local_tag=local_tag,
        remote_tag=request.from_.tag or "",
        local_uri=_without_tag(request.headers.get("To") or "", request.to),
        remote_uri=_without_tag(request.headers.get("From") or "", request.from_),
        remote_target=target,
        route_set=list(request.headers.values("Record-Route")),
        remote_cseq=request.cseq.number,
        local_contact=local_contact,
    )


def uac_dialog(request: SipRequest, response: SipResponse) -> Dialog:
    """The dialog a 1xx (with To tag) or 2xx to our `request` creates (§12.1.2): route set reversed."""
    contacts = response.contacts
    target = str(contacts[0].uri) if contacts and contacts[0].uri is not None else request.uri
    return Dialog(
        call_id=request.call_id,
        local_tag=request.from_.tag or "",
        remote_tag=response.to.tag or "",
        local_uri=_without_tag(request.headers.get("From") or "", request.from_),
        remote_uri=_without_tag(request.headers.get("To") or "", request.to),
        remote_target=target,
        route_set=list(reversed(response.headers.values("Record-Route"))),
        local_cseq=request.cseq.number,
        local_contact=request.headers.get("Contact") or "",
    )
