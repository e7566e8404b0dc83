"""Who sent this request? Digest authentication of users, trust of configured trunks (RFC 3261 §22).

`authenticate()` looks at one request and answers: the authenticated user, the trusted trunk it came from, or the
challenge to send (401 for REGISTER, 407 for everything else), one per algorithm in the configured order.
MD5 comes first by default: RFC 8760 §2.4 lists the preferred one first, but many deployed user agents (SIPp 3.6,
older phone firmware) read only the first challenge and know only MD5; deployments of modern clients put
SHA-256 first with `--digest-algorithms SHA-256,MD5`. Known and unknown users get byte-identical
challenges, and failures are reported for the security log without saying which case it was to the peer.
This module knows nothing of sockets or storage: the subscriber `Directory` snapshot and `now` come in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from provisioning.model import Directory, Group, Trunk, User
from sipserver.address import Endpoint
from sipserver.digest import AuthResult, DigestAuthenticator, parse_credentials
from sipserver.message import SipRequest


@dataclass(init=False, unsafe_hash=True, slots=True)
class Authenticated:
    user: Final[User]
    group: Final[Group]

    def __init__(self, user: User, group: Group) -> None:
        self.user = user
        self.group = group


@dataclass(init=False, unsafe_hash=True, slots=True)
class FromTrunk:
    trunk: Final[Trunk]

    def __init__(self, trunk: Trunk) -> None:
        self.trunk = trunk


@dataclass(init=False, unsafe_hash=True, slots=True)
class Challenge:
    """Answer with `status` (401/407) and these header fields. `failure` names what went wrong, for logs only."""

    status: Final[int]
    headers: Final[tuple[tuple[str, str], ...]]
    failure: Final[str | None]

    def __init__(self, status: int, headers: tuple[tuple[str, str], ...], failure: str | None) -> None:
        self.status = status
        self.headers = headers
        self.failure = failure


AuthOutcome = Authenticated | FromTrunk | Challenge


def realm_for(request: SipRequest, directory: Directory) -> Group:
    """The group whose domain is the realm for this request: the To host for REGISTER (the AOR's domain),
    else the From host; the default group when neither names one of our domains (e.g. an IP address)."""
    uri = request.to.uri if request.method == "REGISTER" else request.from_.uri
    if uri is not None:
        group = directory.group_by_domain(uri.host)
        if group is not None:
            return group
    return directory.default_group


def authenticate(
    request: SipRequest,
    source: Endpoint,
    directory: Directory,
    authenticator: DigestAuthenticator,
    now: float,
    algorithms: tuple[str, ...] = ("MD5", "SHA-256"),
) -> AuthOutcome:
    trunk = directory.trunk_by_source(source.host, source.port)
    if trunk is not None and request.method != "REGISTER":
        return FromTrunk(trunk)  # trunks are trusted by address, never challenged (issue: foundation §7)
    group = realm_for(request, directory)
    realm = group.domain
    proxy = request.method != "REGISTER"
    header = "Proxy-Authorization" if proxy else "Authorization"
    failure: str | None = None
    stale = False
    for raw in request.headers.get_all(header):
        creds = parse_credentials(raw)
        if creds is None or creds.realm != realm:
            failure = "unusable credentials"
            continue
        user = directory.user_by_sip_username(creds.username, realm)
        ha1 = user.sip_ha1 if user is not None else None
        result = authenticator.verify(creds, request.method, ha1, realm, now, request.body)
        if result is AuthResult.OK and user is not None:
            return Authenticated(user, directory.group_of(user))
        if result is AuthResult.STALE:
            stale = True
        failure = result.name.lower()
    status = 407 if proxy else 401
    headers = authenticator.challenge_headers(realm, now, stale=stale, proxy=proxy, algorithms=algorithms)
    return Challenge(status, tuple(headers), failure)
