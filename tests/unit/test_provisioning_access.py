"""Who may fetch which provisioning file (`provisioning.access`): names, Digest credentials per phone, the
answers 404 / 401 / 400 / 403 / 200, and that an unauthenticated client cannot tell which MACs exist."""

from __future__ import annotations

from dataclasses import replace

import pytest

from provisioning.access import (
    PROVISIONING_REALM,
    CommonName,
    DeviceName,
    Reply,
    may_fetch,
    provisioning_reply,
    requested_file,
    uri_matches,
)
from provisioning.demo import demo_group_description
from provisioning.model import Device, Directory, provisioning_ha1
from provisioning.yealink import ProvisioningServer, render_common, render_device
from sipserver.digest import DigestAuthenticator
from tests.helpers.http_digest import authorization

SERVER = ProvisioningServer(host="192.0.2.10", port=5060, transport="tcp")
NOW = 1_700_000_000.0
JEAN, MARIE, PIETER = "001565000201", "001565000202", "001565000203"  # T48S, T42S, T42G without a credential
PASSWORDS = {JEAN: "jean-phone-secret", MARIE: "marie-phone-secret"}


def directory() -> Directory:
    desc = demo_group_description()
    devices = tuple(replace(d, provisioning_ha1=provisioning_ha1(d.mac, PASSWORDS[d.mac])) for d in desc.devices)
    pieter = Device(mac=PIETER, group_id="demo", model="T42G", owner="pieter.peeters")
    return Directory([replace(desc, devices=(*devices, pieter))])


class Client:
    """Fetches with a fresh challenge every time (what a phone does), through one server-side verifier."""

    def __init__(self) -> None:
        self.directory = directory()
        self.authenticator = DigestAuthenticator(b"k" * 32, nonce_lifetime=300)

    def challenge(self, algorithm: str = "MD5", now: float = NOW) -> str:
        headers = self.authenticator.challenge_headers(PROVISIONING_REALM, now, algorithms=(algorithm,))
        return headers[0][1]

    def fetch(self, name: str, authorization: str | None, *, target: str | None = None, method: str = "GET",
              now: float = NOW) -> Reply:
        return provisioning_reply(name, method=method, request_target=target or f"/provisioning/{name}",
                                  authorization=authorization, directory=self.directory, server=SERVER,
                                  authenticator=self.authenticator, now=now)

    def fetch_as(self, mac: str, name: str, password: str | None = None, *, algorithm: str = "MD5",
                 **kwargs: object) -> Reply:
        uri = f"/provisioning/{name}"
        value = authorization(self.challenge(algorithm), mac, PASSWORDS.get(mac, "?") if password is None
                              else password, str(kwargs.get("method", "GET")), uri)
        return self.fetch(name, value, **kwargs)  # type: ignore[arg-type]


def file_of(mac: str) -> bytes:
    d = directory()
    device = d.device_by_mac(mac)
    assert device is not None
    user, group = d.user_by_id(device.owner), d.group_by_id(device.group_id)
    assert user is not None and group is not None
    return render_device(device, user, group, d, SERVER, sip_password=None)


# -- names ---------------------------------------------------------------------------------------------------
def test_names_are_recognised_by_spelling_alone() -> None:
    assert requested_file("y000000000065.cfg") == CommonName("T48S")
    assert requested_file("001565000201.cfg") == DeviceName(JEAN)
    assert requested_file("0015650002AB.cfg") == DeviceName("0015650002ab")
    assert requested_file("001565999999.cfg") == DeviceName("001565999999")  # existence is not looked at
    for odd in ("", "y000000000000.boot", "y000000000065.CFG", "00:15:65:00:02:01.cfg", "001565000201.cfg/",
                "../001565000201.cfg", "..", "001565000201.cfg\x00", "%30%30.cfg", "/001565000201.cfg",
                "001565000201.cfg.bak", "001565000201", "etc/passwd", "0015650002011.cfg"):
        assert requested_file(odd) is None, odd


def test_a_phone_fetches_its_own_file_and_its_models_common_file_only() -> None:
    jean = directory().device_by_mac(JEAN)
    assert jean is not None
    assert may_fetch(jean, DeviceName(JEAN)) and may_fetch(jean, CommonName("T48S"))
    assert not may_fetch(jean, DeviceName(MARIE)) and not may_fetch(jean, CommonName("T42S"))


def test_the_digest_uri_must_be_the_request_target() -> None:
    assert uri_matches("/provisioning/001565000201.cfg", "/provisioning/001565000201.cfg")
    assert uri_matches("http://pbx:8080/provisioning/001565000201.cfg", "/provisioning/001565000201.cfg")
    assert uri_matches("http://pbx/p/x.cfg?a=1", "/p/x.cfg?a=1")
    assert not uri_matches("/provisioning/y000000000065.cfg", "/provisioning/001565000201.cfg")
    assert not uri_matches("http://[bad/provisioning/x.cfg", "/provisioning/x.cfg")


# -- answers -------------------------------------------------------------------------------------------------
def test_right_credentials_get_the_phones_own_file() -> None:
    client = Client()
    reply = client.fetch_as(JEAN, "001565000201.cfg")
    assert (reply.status, reply.failure) == (200, None)
    assert reply.body == file_of(JEAN)
    assert b"account.1.password" not in reply.body  # only HA1 is stored: never a SIP password
    assert reply.device is not None and reply.device.mac == JEAN
    sha = client.fetch_as(MARIE, "001565000202.cfg", algorithm="SHA-256")
    assert sha.status == 200 and sha.body == file_of(MARIE)


def test_the_common_file_of_the_phones_model() -> None:
    client = Client()
    reply = client.fetch_as(MARIE, "y000000000067.cfg")
    assert reply.status == 200 and reply.body == render_common("T42S", SERVER)
    assert client.fetch_as(MARIE, "y000000000065.cfg").status == 403  # the T48S file
    assert client.fetch("y000000000067.cfg", None).status == 401  # common files are not public either


def test_without_credentials_a_challenge_and_nothing_to_log() -> None:
    client = Client()
    assert client.fetch("001565000201.cfg", None) == Reply(401)
    assert client.fetch("001565000201.cfg", "Basic MDAxNTY1MDAwMjAxOnNlY3JldA==") == Reply(401)
    assert client.fetch("001565000201.cfg", "Digest garbage") == Reply(401)


def test_wrong_password_unknown_mac_and_missing_credential_look_the_same() -> None:
    client = Client()
    wrong = client.fetch_as(JEAN, "001565000201.cfg", "not-it")
    unknown = client.fetch_as("001565999999", "001565999999.cfg", "not-it")
    no_credential = client.fetch_as(PIETER, "001565000203.cfg", "")
    for reply in (wrong, unknown, no_credential):
        assert reply == Reply(401, failure="wrong")
    # the user name must be the MAC exactly as its HA1 was made
    spelled = client.fetch_as("00:15:65:00:02:01", "001565000201.cfg", PASSWORDS[JEAN])
    capitals = client.fetch_as("0015650002AB", "0015650002ab.cfg", "x")
    assert spelled == capitals == Reply(401, failure="wrong")


def test_another_phones_file_is_forbidden_whether_it_exists_or_not() -> None:
    client = Client()
    assert client.fetch_as(JEAN, "001565000202.cfg") == Reply(403, failure="another phone's file",
                                                               device=client.directory.device_by_mac(JEAN))
    assert client.fetch_as(JEAN, "001565999999.cfg").status == 403
    # unauthenticated, an unknown MAC gets the same 401 as a provisioned one
    assert client.fetch("001565999999.cfg", None) == client.fetch("001565000202.cfg", None)


def test_unknown_names_are_404_before_any_authentication() -> None:
    client = Client()
    assert client.fetch("y000000000000.boot", None) == Reply(404)
    assert client.fetch_as(JEAN, "../001565000201.cfg") == Reply(404)
    assert client.fetch("passwd", "Digest garbage") == Reply(404)


def test_credentials_for_another_target_are_refused() -> None:
    client = Client()
    value = authorization(client.challenge(), JEAN, PASSWORDS[JEAN], "GET", "/provisioning/y000000000065.cfg")
    reply = client.fetch("001565000201.cfg", value)
    assert (reply.status, reply.device) == (400, None) and reply.failure is not None
    wrong_method = authorization(client.challenge(), JEAN, PASSWORDS[JEAN], "POST", "/provisioning/001565000201.cfg")
    assert client.fetch("001565000201.cfg", wrong_method).status == 401


def test_expired_nonces_are_stale_and_replays_refused() -> None:
    client = Client()
    old = client.challenge(now=NOW - 301)
    value = authorization(old, JEAN, PASSWORDS[JEAN], "GET", "/provisioning/001565000201.cfg")
    assert client.fetch("001565000201.cfg", value) == Reply(401, stale=True)
    fresh = authorization(client.challenge(), JEAN, PASSWORDS[JEAN], "GET", "/provisioning/001565000201.cfg")
    assert client.fetch("001565000201.cfg", fresh).status == 200
    assert client.fetch("001565000201.cfg", fresh) == Reply(401, failure="replay")
    other_realm = authorization(client.challenge(), JEAN, PASSWORDS[JEAN], "GET",
                                "/provisioning/001565000201.cfg", realm="callconnect.local")
    assert client.fetch("001565000201.cfg", other_realm) == Reply(401)  # not our challenge: challenge again


def test_head_is_authenticated_like_get() -> None:
    client = Client()
    assert client.fetch_as(JEAN, "001565000201.cfg", method="HEAD").status == 200


def test_a_changed_snapshot_is_served_at_once() -> None:
    client = Client()
    before = client.fetch_as(JEAN, "001565000201.cfg").body
    desc = client.directory.description("demo")
    assert desc is not None
    jean = desc.user("jean.dupont")
    assert jean is not None
    client.directory = Directory([replace(desc, users=tuple(
        replace(u, first_name="Jeannot") if u.user_id == "jean.dupont" else u for u in desc.users))])
    after = client.fetch_as(JEAN, "001565000201.cfg").body
    assert before != after and b"Jeannot Dupont" in after


@pytest.mark.parametrize("mac", [JEAN, MARIE])
def test_each_phone_gets_exactly_what_the_renderer_makes(mac: str) -> None:
    assert Client().fetch_as(mac, f"{mac}.cfg").body == file_of(mac)
