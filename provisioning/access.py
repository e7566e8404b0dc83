"""Who may fetch which Yealink provisioning file, and what the answer is (sans-IO).

A phone authenticates with HTTP Digest (RFC 7616, `qop=auth`, MD5 and SHA-256 through
`sipserver.digest`): user name = its MAC as 12 lower-case hex digits (`001565aabbcc`), realm
`PROVISIONING_REALM`, password = its auto-provisioning password, of which only the HA1 is stored
(`Device.provisioning_ha1`). Digest rather than Basic: the password never crosses the network (the files
are usually fetched over plain HTTP on the LAN), a captured request cannot be replayed (nonce-count) and the
verifier, nonces and user-enumeration guarantees are the SIP registrar's, already tested.

`provisioning_reply()` decides, in this order:

1. **404** for a name that is not a provisioning file: neither a common file (`COMMON_FILES`) nor
   `<12 hex digits>.cfg`. Decided on the name alone, so it tells nothing about which phones exist;
   anything with a `/`, `..`, `%`, a NUL... is such a name.
2. **401** with a challenge without usable Digest credentials, or with a wrong user name or password, a
   phone without a credential, a nonce that is not ours, a replayed nonce-count (`stale=true` for an
   expired nonce with a correct digest). An unknown MAC, a MAC without a credential and a wrong password
   get the same answer after the same hashing: an unauthenticated client learns nothing about which MACs
   exist. **400** when the credentials were computed for another request target (RFC 7616 §3.4.6).
3. **403** for an authenticated phone asking for anything but its own `<mac>.cfg` and its model's common
   file: another phone's file (whether that MAC exists or not, so even a provisioned phone cannot probe
   for others) or another model's common file.
4. **200** with the file rendered from the current snapshot (`provisioning.sync.rendered_files` renders
   the same bytes for change detection): never stale after `provision apply`.

This module knows no HTTP framework, sockets, clocks (`now` is an argument) or storage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit

from provisioning.model import PROVISIONING_REALM, Device, Directory
from provisioning.yealink import COMMON_FILES, ProvisioningServer, render_common, render_device
from sipserver.digest import AuthResult, DigestAuthenticator, parse_credentials

__all__ = [
    "PROVISIONING_REALM",
    "CommonName",
    "DeviceName",
    "Reply",
    "authenticate_device",
    "may_fetch",
    "provisioning_reply",
    "requested_file",
    "uri_matches",
]

_MODEL_BY_NAME: Final = {name: model for model, name in COMMON_FILES.items()}
_MAC_NAME: Final = re.compile(r"([0-9a-fA-F]{12})\.cfg")
_MAC_USER: Final = re.compile(r"[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class CommonName:
    """The name of the common file of `model` (`y000000000065.cfg` -> T48S)."""

    model: str


@dataclass(frozen=True, slots=True)
class DeviceName:
    """The name of a per-phone file, `mac` normalised (whether such a phone exists is not looked at)."""

    mac: str


def requested_file(name: str) -> CommonName | DeviceName | None:
    """What a file name (one decoded path segment) asks for, by its spelling alone; None for anything else."""
    model = _MODEL_BY_NAME.get(name)
    if model is not None:
        return CommonName(model)
    match = _MAC_NAME.fullmatch(name)
    return None if match is None else DeviceName(match.group(1).lower())


def may_fetch(device: Device, wanted: CommonName | DeviceName) -> bool:
    """A phone fetches its own `<mac>.cfg` and its own model's common file, nothing else."""
    if isinstance(wanted, CommonName):
        return wanted.model == device.model
    return wanted.mac == device.mac


def uri_matches(digest_uri: str, request_target: str) -> bool:
    """Was the Digest `uri` computed for this request? `request_target` is the path (and query) as sent;
    clients put that in `uri`, or the absolute URL (through a proxy)."""
    if digest_uri == request_target:
        return True
    if "://" not in digest_uri:
        return False
    try:
        parts = urlsplit(digest_uri)
    except ValueError:
        return False
    return (parts.path + (f"?{parts.query}" if parts.query else "")) == request_target


def authenticate_device(authorization: str | None, method: str, request_target: str, directory: Directory,
                        authenticator: DigestAuthenticator, now: float,
                        ) -> tuple[Device | None, AuthResult | Literal["no-credentials", "wrong-uri"]]:
    """(the authenticated device or None, why). The user name must be a provisioned MAC exactly as the HA1
    was made (12 lower-case hex digits); an unknown one is hashed like a known one (no enumeration)."""
    creds = None if authorization is None else parse_credentials(authorization)
    if creds is None:
        return None, "no-credentials"
    device = directory.device_by_mac(creds.username) if _MAC_USER.fullmatch(creds.username) else None
    ha1 = device.provisioning_ha1 if device is not None and device.provisioning_ha1 else None
    result = authenticator.verify(creds, method, ha1, PROVISIONING_REALM, now)
    if result is AuthResult.OK and not uri_matches(creds.uri, request_target):
        return None, "wrong-uri"
    return (device if result is AuthResult.OK else None), result


@dataclass(frozen=True, slots=True)
class Reply:
    """What to answer. `status` 200 carries `body` (`text/plain`); 401 needs a Digest challenge for
    `PROVISIONING_REALM` (`stale` as given); `failure` names a refused authentication for the security
    log (None when there is nothing to log: no credentials yet, a nonce to renew); `device` is who
    authenticated."""

    status: int
    body: bytes = b""
    stale: bool = False
    failure: str | None = None
    device: Device | None = None


def provisioning_reply(name: str, *, method: str, request_target: str, authorization: str | None,
                       directory: Directory, server: ProvisioningServer, authenticator: DigestAuthenticator,
                       now: float) -> Reply:
    """The answer to `method` (GET or HEAD) for the file `name` (the decoded last path segment) sent to
    `request_target` (the path and query as sent) with `authorization` (the header value, or None)."""
    wanted = requested_file(name)
    if wanted is None:
        return Reply(404)
    device, why = authenticate_device(authorization, method, request_target, directory, authenticator, now)
    if device is None:
        if why == "wrong-uri":
            return Reply(400, failure="digest uri is not the request target")
        if why is AuthResult.STALE:
            return Reply(401, stale=True)
        if why in ("no-credentials", AuthResult.BAD_NONCE):
            return Reply(401)
        assert isinstance(why, AuthResult)
        return Reply(401, failure=why.value)
    if not may_fetch(device, wanted):
        return Reply(403, failure="another phone's file", device=device)
    body = _render(device, wanted, directory, server)
    return Reply(404, device=device) if body is None else Reply(200, body, device=device)


def _render(device: Device, wanted: CommonName | DeviceName, directory: Directory,
            server: ProvisioningServer) -> bytes | None:
    try:
        if isinstance(wanted, CommonName):
            return render_common(wanted.model, server)
        user, group = directory.user_by_id(device.owner), directory.group_by_id(device.group_id)
        if user is None or group is None:
            return None  # not a consistent snapshot: GroupDescription checks owners
        return render_device(device, user, group, directory, server, sip_password=None)
    except ValueError:
        return None
