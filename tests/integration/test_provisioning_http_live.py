"""Yealink provisioning files from the real server over real HTTP on loopback: a phone added with `provision
apply` (with its auto-provisioning password) fetches its file with Digest credentials (Python's own urllib
Digest client, as an independent implementation), then a new BLF selection applied with `provision apply`
is in the next fetch, without restarting the server."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.server import ServerProcess, wait_for
from tests.integration.conftest import ServerFactory
from tests.integration.test_provision_live import apply_group, export_group, find_user

pytestmark = pytest.mark.integration

PHONE = "001565000203"  # the new phone of Pieter Peeters (203)
PASSWORD = "pieter-phone-secret"


def fetch(server: ServerProcess, name: str, user: str | None = None, password: str | None = None
          ) -> tuple[int, str]:
    """(status, body) of GET /provisioning/NAME, answering the Digest challenge when credentials are given."""
    url = f"http://127.0.0.1:{server.http_port}/provisioning/{name}"
    handlers: list[urllib.request.BaseHandler] = []
    if user is not None and password is not None:
        passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        passwords.add_password(None, url, user, password)
        handlers.append(urllib.request.HTTPDigestAuthHandler(passwords))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(url, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def users_phone(doc: dict[str, Any]) -> dict[str, Any]:
    return {"mac": "00:15:65:00:02:03", "model": "T42G", "owner": find_user(doc, "203")["user_id"],
            "label": "Pieter", "provisioning_password": PASSWORD}


def test_a_provisioned_phone_fetches_its_file_and_sees_a_new_selection_without_restart(
        server_factory: ServerFactory, tmp_path: Path) -> None:
    server = server_factory(http=True)
    assert fetch(server, f"{PHONE}.cfg", PHONE, PASSWORD)[0] == 401  # not provisioned yet

    doc = export_group(server.data_dir)
    doc["devices"].append(users_phone(doc))
    apply_group(server.data_dir, doc, tmp_path / "group.toml")
    wait_for(lambda: fetch(server, f"{PHONE}.cfg", PHONE, PASSWORD)[0] == 200, 5.0,
             what="the new phone's file after provision apply")
    status, body = fetch(server, f"{PHONE}.cfg", PHONE, PASSWORD)
    assert status == 200, body
    assert body.startswith("#!version:1.0.0.1\n")
    assert "account.1.user_name = 203\n" in body
    assert "account.1.sip_server.1.address = 127.0.0.1\n" in body
    assert f"account.1.sip_server.1.port = {server.port}\n" in body
    assert "account.1.sip_server.1.transport_type = 1\n" in body  # TCP
    assert "linekey.1.type = 0\n" in body  # no BLF selection yet
    assert "account.1.password" not in body

    common_status, common = fetch(server, "y000000000029.cfg", PHONE, PASSWORD)  # the T42G common file
    assert common_status == 200 and "sip.notify_reboot_enable = 0" in common
    assert fetch(server, f"{PHONE}.cfg")[0] == 401
    assert fetch(server, f"{PHONE}.cfg", PHONE, "wrong")[0] == 401
    assert fetch(server, "001565000201.cfg", PHONE, PASSWORD)[0] == 403  # Jean's phone
    assert fetch(server, "001565000201.cfg", "001565000201", "")[0] == 401  # a phone without a credential
    assert fetch(server, "y000000000000.boot")[0] == 404

    doc = export_group(server.data_dir)
    pieter = find_user(doc, "203")
    pieter.setdefault("services", {})["blf"] = {"monitored_users": [find_user(doc, "201")["user_id"],
                                                                    find_user(doc, "204")["user_id"]]}
    apply_group(server.data_dir, doc, tmp_path / "group.toml")
    wait_for(lambda: "linekey.1.value = 201\n" in fetch(server, f"{PHONE}.cfg", PHONE, PASSWORD)[1], 5.0,
             what="the new BLF keys in the phone's file")
    status, body = fetch(server, f"{PHONE}.cfg", PHONE, PASSWORD)
    assert status == 200
    assert "linekey.1.type = 16\n" in body and "linekey.1.label = Jean Dupont\n" in body
    assert "linekey.2.value = 204\n" in body and "linekey.2.pickup_value = *97204\n" in body
    assert "linekey.3.type = 0\n" in body
    assert server.alive(), server.describe()
    assert "provisioning_file_served" in server.stderr_text()
    assert "provisioning_auth_failed" in server.stderr_text()  # the wrong password, for fail2ban
