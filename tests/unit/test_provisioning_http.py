"""`GET /provisioning/{file}` through aiohttp's test server and client (loopback, a free port): the right file
for the right phone, 401 challenges, wrong passwords, another phone's file, unknown files and traversal
attempts, the common file, a changed snapshot served without restart, and the address phones register to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from features.model import Blf
from provisioning.demo import demo_group_description
from provisioning.model import PROVISIONING_REALM, Directory, provisioning_ha1
from provisioning.yealink import ProvisioningServer, render_common
from sipserver.aio.transports import ListenAddress
from sipserver.app import provisioning_server
from sipserver.config import ServerConfig
from sipserver.digest import DigestAuthenticator
from tests.helpers.http_digest import authorization, challenge_params
from webui.app import create_app
from webui.provisioning import ProvisioningFiles

SERVER = ProvisioningServer(host="127.0.0.1", port=5060, transport="tcp")
JEAN, MARIE = "001565000201", "001565000202"  # T48S, T42S
PASSWORDS = {JEAN: "jean-phone-secret", MARIE: "marie-phone-secret"}


class Snapshot:
    """What `provision apply` plus a reload does to the server's directory, in memory."""

    def __init__(self) -> None:
        desc = demo_group_description()
        self.description = replace(desc, devices=tuple(
            replace(d, provisioning_ha1=provisioning_ha1(d.mac, PASSWORDS[d.mac])) for d in desc.devices))
        self.directory = Directory([self.description])

    def monitor(self, user_id: str, *monitored: str) -> None:
        users = tuple(replace(u, services=replace(u.services, blf=Blf(monitored_users=monitored)))
                      if u.user_id == user_id else u for u in self.description.users)
        self.description = replace(self.description, users=users)
        self.directory = Directory([self.description], revision=self.directory.revision + 1)


@pytest.fixture
def snapshot() -> Snapshot:
    return Snapshot()


@pytest.fixture
async def client(snapshot: Snapshot) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    files = ProvisioningFiles(directory=lambda: snapshot.directory, server=SERVER,
                              authenticator=DigestAuthenticator(b"s" * 32), now=lambda: 1_700_000_000.0)
    app = create_app(running_status=lambda: {}, provisioning=files)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as test_client:
        yield test_client


Client = TestClient[web.Request, web.Application]


async def fetch(client: Client, name: str, mac: str | None, password: str | None = None,
                *, algorithm_index: int = 0) -> aiohttp.ClientResponse:
    """A phone's fetch: unauthenticated first, then answering the challenge (if `mac` is given)."""
    path = f"/provisioning/{name}"
    first = await client.get(path)
    if mac is None or first.status != 401:
        return first
    challenge = first.headers.getall("WWW-Authenticate")[algorithm_index]
    value = authorization(challenge, mac, PASSWORDS.get(mac, "") if password is None else password, "GET", path)
    return await client.get(path, headers={"Authorization": value})


async def test_the_right_file_for_the_right_phone(client: Client) -> None:
    reply = await fetch(client, f"{JEAN}.cfg", JEAN)
    assert reply.status == 200
    assert reply.content_type == "text/plain" and reply.charset == "utf-8"
    assert reply.headers["Cache-Control"] == "no-store"
    body = await reply.read()
    assert body.startswith(b"#!version:1.0.0.1\n")
    assert f"SIP-T48S {JEAN}".encode() in body and b"account.1.user_name = 201" in body
    sha = await fetch(client, f"{MARIE}.cfg", MARIE, algorithm_index=1)
    assert sha.status == 200 and b"account.1.user_name = 202" in await sha.read()


async def test_an_independent_digest_client_gets_its_file(client: Client) -> None:
    """aiohttp's own Digest client (reads the first challenge, MD5) against our server side."""
    digest = aiohttp.DigestAuthMiddleware(JEAN, PASSWORDS[JEAN])
    async with (aiohttp.ClientSession(middlewares=(digest,)) as session,
                session.get(client.make_url(f"/provisioning/{JEAN}.cfg")) as reply):
        assert reply.status == 200, await reply.text()
        assert f"SIP-T48S {JEAN}".encode() in await reply.read()


async def test_without_credentials_a_digest_challenge(client: Client) -> None:
    reply = await fetch(client, f"{JEAN}.cfg", None)
    assert reply.status == 401
    challenges = [challenge_params(c) for c in reply.headers.getall("WWW-Authenticate")]
    assert [c["algorithm"] for c in challenges] == ["MD5", "SHA-256"]
    assert {c["realm"] for c in challenges} == {PROVISIONING_REALM}
    assert all(c["qop"] == "auth" for c in challenges)
    assert "account" not in await reply.text()


async def test_wrong_password_is_refused_and_logged_for_fail2ban(client: Client) -> None:
    with structlog.testing.capture_logs() as logs:
        reply = await fetch(client, f"{JEAN}.cfg", JEAN, "guess")
    assert reply.status == 401 and reply.headers.getall("WWW-Authenticate")
    failures = [e for e in logs if e["event"] == "provisioning_auth_failed"]
    assert len(failures) == 1 and failures[0]["peer"] == "127.0.0.1" and failures[0]["reason"] == "wrong"
    right_for_other_phone = await fetch(client, f"{JEAN}.cfg", JEAN, PASSWORDS[MARIE])
    assert right_for_other_phone.status == 401


async def test_another_phones_file_is_forbidden(client: Client) -> None:
    reply = await fetch(client, f"{MARIE}.cfg", JEAN)
    assert reply.status == 403 and "account" not in await reply.text()
    assert (await fetch(client, "001565999999.cfg", JEAN)).status == 403  # the same for a MAC nobody has


async def test_unknown_and_provisioned_macs_look_the_same_unauthenticated(client: Client) -> None:
    known, unknown = await fetch(client, f"{MARIE}.cfg", None), await fetch(client, "001565999999.cfg", None)
    assert known.status == unknown.status == 401
    assert known.headers.getall("WWW-Authenticate") == unknown.headers.getall("WWW-Authenticate")
    assert await known.read() == await unknown.read()
    guessed = await fetch(client, "001565999999.cfg", "001565999999", "guess")
    wrong = await fetch(client, f"{MARIE}.cfg", MARIE, "guess")
    assert guessed.status == wrong.status == 401 and await guessed.read() == await wrong.read()


async def test_the_common_file_of_the_phones_model(client: Client) -> None:
    reply = await fetch(client, "y000000000065.cfg", JEAN)  # T48S
    assert reply.status == 200 and await reply.read() == render_common("T48S", SERVER)
    assert (await fetch(client, "y000000000067.cfg", JEAN)).status == 403  # the T42S file
    assert (await fetch(client, "y000000000067.cfg", None)).status == 401


@pytest.mark.parametrize("path", [
    "/provisioning/y000000000000.boot",
    "/provisioning/passwd",
    "/provisioning/",
    "/provisioning",
    "/provisioning/..%2F..%2Fetc%2Fpasswd",
    "/provisioning/%2e%2e%2f001565000201.cfg",
    "/provisioning/..%2f001565000201.cfg",
    "/provisioning/001565000201.cfg%00",
    "/provisioning/001565000201.cfg%2F..",
    "/provisioning/001565000201.cfg/..",
    "/provisioning/a/001565000201.cfg",
    "/provisioning/%ff%fe.cfg",
    "/provisioning/001565000201.cfg%20",
    "/provisioning/" + "9" * 5000 + ".cfg",
])
async def test_unknown_files_and_traversal_are_404(client: Client, path: str) -> None:
    for headers in ({}, {"Authorization": "Digest garbage"}):
        reply = await client.get(URL(path, encoded=True), headers=headers)
        assert reply.status == 404, (path, reply.status, await reply.text())
        assert "WWW-Authenticate" not in reply.headers


async def raw_get(client: Client, target: str) -> bytes:
    """Send the request line exactly as given (no client-side normalisation) and return the status line."""
    assert client.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        return await reader.readline()
    finally:
        writer.close()


@pytest.mark.parametrize("target", [
    "/provisioning/../../etc/passwd",
    "/provisioning/..%2f..%2fetc%2fpasswd",
    "/provisioning/%2e%2e/%2e%2e/etc/passwd",
    "/provisioning/..\\..\\etc\\passwd",
    "/provisioning/001565000201.cfg/../../etc/passwd",
    "//provisioning/../../../etc/passwd",
    "/provisioning/../provisioning/001565000201.cfg",
    "/provisioning/./001565000201.cfg",
])
async def test_dot_segments_sent_as_they_are_never_leave_the_route(client: Client, target: str) -> None:
    assert (await raw_get(client, target)).startswith(b"HTTP/1.1 404 ")


async def test_percent_encoded_names_are_decoded_like_any_path(client: Client) -> None:
    """`%30` is `0`: the same file, still behind the phone's credential."""
    reply = await client.get(URL("/provisioning/%30%30%31%35%36%35000201.cfg", encoded=True))
    assert reply.status == 401


async def test_a_changed_selection_is_served_without_restart(client: Client, snapshot: Snapshot) -> None:
    before = await (await fetch(client, f"{JEAN}.cfg", JEAN)).text()
    assert "linekey.1.value = 202" in before
    snapshot.monitor("jean.dupont", "sophie.lambert")
    after = await (await fetch(client, f"{JEAN}.cfg", JEAN)).text()
    assert "linekey.1.value = 204" in after and "linekey.2.type = 0" in after


async def test_post_is_not_allowed(client: Client) -> None:
    assert (await client.post(f"/provisioning/{JEAN}.cfg")).status == 405


def test_the_phones_register_to_the_bound_sip_address_over_tcp(tmp_path: Path) -> None:
    config = ServerConfig(sip_listen=(ListenAddress("127.0.0.1", 0),), data_dir=tmp_path, domain="pbx.example")
    assert provisioning_server(config, [ListenAddress("127.0.0.1", 45678)]) == ProvisioningServer(
        host="127.0.0.1", port=45678, transport="tcp")
    everywhere = ServerConfig(sip_listen=(ListenAddress("0.0.0.0", 5060),), domain="pbx.example")
    assert provisioning_server(everywhere, list(everywhere.sip_listen)).host == "pbx.example"
    v6 = ServerConfig(sip_listen=(ListenAddress("::", 5070),), domain="pbx.example")
    assert provisioning_server(v6, []) == ProvisioningServer(host="pbx.example", port=5070, transport="tcp")
    assert provisioning_server(ServerConfig(sip_listen=(ListenAddress("::1", 5060),)), []).host == "::1"
    assert provisioning_server(ServerConfig(sip_listen=(), domain="pbx.example"), []).host == "pbx.example"
