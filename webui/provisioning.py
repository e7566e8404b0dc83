"""`GET /provisioning/{file}`: the Yealink auto-provisioning files over HTTP, per phone, behind HTTP Digest.

The phone's auto-provision server URL is `http://HOST:PORT/provisioning/`; it asks for its model's common file
(`y000000000065.cfg`...) and its own `<mac>.cfg`. Each answer is rendered from the directory snapshot the
SIP side routes with (`ProvisioningFiles.directory` is called per request), so a `provision apply` is served
as soon as the server has reloaded, without restart. Who gets what (404 / 401 / 400 / 403 / 200) is decided
by `provisioning.access`; this module only turns that into HTTP: the Digest challenges of the 401
(`WWW-Authenticate`, one per algorithm, realm `PROVISIONING_REALM`), `text/plain` bodies, `no-store`
caching, and a `callconnect.security` log line with the peer address for every refused credential
(fail2ban).

It knows aiohttp and the provisioning access rules; it knows no SIP, sockets or storage.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from aiohttp import web
from multidict import CIMultiDict

from provisioning.access import PROVISIONING_REALM, provisioning_reply
from provisioning.model import Directory
from provisioning.yealink import ProvisioningServer
from sipserver.digest import ALGORITHMS, DigestAuthenticator

__all__ = ["PROVISIONING_KEY", "ProvisioningFiles", "add_provisioning_routes", "provisioning_file"]

log = structlog.get_logger("callconnect.provisioning")
security_log = structlog.get_logger("callconnect.security")

_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}


@dataclass(frozen=True, slots=True)
class ProvisioningFiles:
    """What the route serves from: `directory()` returns the current snapshot, `server` is where the phones
    register, `authenticator` verifies Digest credentials (its nonces are bound to `PROVISIONING_REALM`),
    `algorithms` are the challenges offered in order (MD5 first suits phones that read only the first one),
    `now` is the wall clock of the nonces."""

    directory: Callable[[], Directory]
    server: ProvisioningServer
    authenticator: DigestAuthenticator = field(default_factory=DigestAuthenticator)
    algorithms: tuple[str, ...] = ("MD5", "SHA-256")
    now: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        unknown = [a for a in self.algorithms if a not in ALGORITHMS]
        if unknown or not self.algorithms:
            raise ValueError(f"algorithms must be some of {', '.join(ALGORITHMS)}, got {self.algorithms}")


PROVISIONING_KEY: web.AppKey[ProvisioningFiles] = web.AppKey("provisioning", ProvisioningFiles)


async def provisioning_file(request: web.Request) -> web.Response:
    files = request.app[PROVISIONING_KEY]
    now = files.now()
    reply = provisioning_reply(
        request.match_info.get("file", ""), method=request.method, request_target=request.raw_path,
        authorization=request.headers.get("Authorization"), directory=files.directory(), server=files.server,
        authenticator=files.authenticator, now=now,
    )
    headers: CIMultiDict[str] = CIMultiDict({"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
    if reply.failure is not None:
        security_log.warning("provisioning_auth_failed", peer=request.remote, status=reply.status,
                             reason=reply.failure, device=None if reply.device is None else reply.device.mac,
                             path=request.raw_path, user_agent=request.headers.get("User-Agent"))
    if reply.status == 200:
        assert reply.device is not None
        log.info("provisioning_file_served", peer=request.remote, device=reply.device.mac,
                 file=request.match_info.get("file", ""))
        return web.Response(body=reply.body, content_type="text/plain", charset="utf-8", headers=headers)
    if reply.status == 401:
        for name, value in files.authenticator.challenge_headers(PROVISIONING_REALM, now, stale=reply.stale,
                                                                 algorithms=files.algorithms):
            headers.add(name, value)
    reason = _REASONS.get(reply.status, "Error")
    return web.Response(status=reply.status, text=f"{reply.status} {reason}\n", headers=headers)


def add_provisioning_routes(app: web.Application, files: ProvisioningFiles) -> None:
    """Serve `files` under `/provisioning/` (GET and HEAD)."""
    app[PROVISIONING_KEY] = files
    app.router.add_get("/provisioning/{file}", provisioning_file)
