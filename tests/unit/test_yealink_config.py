"""Yealink provisioning files (`provisioning.yealink`): golden bytes, one line per key, key counts per model,
no line injection from names, determinism, request paths.

The golden files are in `tests/golden/yealink/`; after a deliberate change, regenerate them with
`UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_yealink_config.py` and review the diff.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from features.model import Blf, ServiceSettings
from provisioning.demo import demo_group_description
from provisioning.model import Device, Directory, Enterprise, Group, GroupDescription, User
from provisioning.yealink import (
    COMMON_FILES,
    FILE_VERSION_LINE,
    KEY_COUNT,
    CommonFile,
    DeviceFile,
    ProvisioningServer,
    file_for_request,
    render_common,
    render_device,
)

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "yealink"
SERVER = ProvisioningServer(host="192.0.2.10", port=5060, transport="udp")
TCP_SERVER = ProvisioningServer(host="pbx.example.com", port=5070, transport="tcp")


# -- test data -----------------------------------------------------------------------------------------------
def demo_t42s() -> tuple[Device, User, Group, Directory]:
    """The demo T42S of Marie Martin, watching her three colleagues key by key (no list URI)."""
    desc = demo_group_description("callconnect.local")
    marie = next(u for u in desc.users if u.user_id == "marie.martin")
    marie = replace(marie, services=replace(marie.services, blf=Blf(
        monitored_users=("jean.dupont", "pieter.peeters", "sophie.lambert"))))
    desc = replace(desc, users=tuple(marie if u.user_id == "marie.martin" else u for u in desc.users))
    directory = Directory([desc])
    device = directory.device_by_mac("001565000202")
    assert device is not None and device.model == "T42S"
    return device, marie, desc.group, directory


def big_group(model: str = "T48G", watched: int = 30) -> tuple[Device, User, Group, Directory]:
    """A receptionist (extension 1000, list URI `reception-blf`) watching `watched` colleagues 1001..."""
    group = Group(id="acme", enterprise_id="acme", name="Acme", domain="acme.example.com")
    others = [
        User(user_id=f"u{i:02d}", group_id="acme", first_name=f"Prénom{i}", last_name=f"Nom{i}",
             extension=str(1000 + i))
        for i in range(1, watched + 1)
    ]
    owner = User(user_id="reception", group_id="acme", first_name="Accueil", last_name="Réception",
                 extension="1000", services=ServiceSettings(blf=Blf(
                     monitored_users=tuple(u.user_id for u in others), list_uri="reception-blf")))
    device = Device(mac="00:15:65:00:00:AA", group_id="acme", model=model, owner="reception", label="Accueil")
    desc = GroupDescription(enterprise=Enterprise(id="acme", name="Acme"), group=group,
                            users=(owner, *others), devices=(device,))
    assert desc.problems() == []
    return device, owner, group, Directory([desc])


def t42s_file() -> bytes:
    device, user, group, directory = demo_t42s()
    return render_device(device, user, group, directory, SERVER, sip_password="demo202")


def t48g_file() -> bytes:
    device, user, group, directory = big_group()
    return render_device(device, user, group, directory, TCP_SERVER, sip_password=None)


def common_file(model: str) -> Callable[[], bytes]:
    return lambda: render_common(model, SERVER)


GOLDEN_CASES: dict[str, Callable[[], bytes]] = {
    "001565000202.cfg": t42s_file,
    "0015650000aa.cfg": t48g_file,
    **{name: common_file(model) for model, name in COMMON_FILES.items()},
}


def key_lines(data: bytes) -> dict[str, str]:
    """`key -> value` of a file, asserting its shape: version line first, comments, `key = value` lines
    with each key once."""
    text = data.decode("utf-8")
    assert text.endswith("\n") and "\r" not in text
    lines = text.split("\n")[:-1]
    assert lines[0] == FILE_VERSION_LINE
    out: dict[str, str] = {}
    for line in lines[1:]:
        if line.startswith("#"):
            continue
        key, sep, value = line.partition(" = ")
        assert sep and key and " " not in key, line
        assert key not in out, f"duplicate key {key}"
        out[key] = value
    return out


def linekeys(lines: dict[str, str]) -> set[int]:
    return {int(k.split(".")[1]) for k in lines if k.startswith("linekey.")}


# -- golden files --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_bytes(name: str) -> None:
    data = GOLDEN_CASES[name]()
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert path.exists(), f"missing golden file {path}: run with UPDATE_GOLDEN=1"
    assert data == path.read_bytes()


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_rendering_is_deterministic(name: str) -> None:
    assert GOLDEN_CASES[name]() == GOLDEN_CASES[name]()


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_every_key_line_is_unique(name: str) -> None:
    key_lines(GOLDEN_CASES[name]())


def test_same_input_in_another_order_gives_the_same_bytes() -> None:
    device, user, group, directory = big_group()
    desc = directory.description(group.id)
    assert desc is not None
    shuffled = Directory([replace(desc, users=tuple(reversed(desc.users)))])
    again = shuffled.user_by_id(user.user_id)
    assert again is not None
    assert (render_device(device, again, group, shuffled, TCP_SERVER, sip_password=None)
            == render_device(device, user, group, directory, TCP_SERVER, sip_password=None))


# -- common file ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", sorted(COMMON_FILES))
def test_common_file(model: str) -> None:
    lines = key_lines(render_common(model, SERVER))
    assert lines["sip.notify_reboot_enable"] == "0"
    assert lines["features.pickup.direct_pickup_code"] == "*97"
    assert lines["features.pickup.direct_pickup_enable"] == "1"
    assert lines["features.feature_key_sync.enable"] == "1"
    assert lines["account.1.subscribe_mwi"] == "1"
    assert lines["account.1.dialoginfo_callpickup"] == "1"
    assert lines["account.1.blf.subscribe_period"] == "1800"
    assert list(lines) == sorted(lines)  # no numbered key needs natural order here


def test_common_file_names() -> None:
    assert COMMON_FILES == {
        "T42G": "y000000000029.cfg", "T42S": "y000000000067.cfg", "T42U": "y000000000116.cfg",
        "T48G": "y000000000035.cfg", "T48S": "y000000000065.cfg", "T48U": "y000000000109.cfg",
    }
    with pytest.raises(ValueError, match="model"):
        render_common("T46S", SERVER)


# -- per-phone file ------------------------------------------------------------------------------------------
def test_t42s_account_and_three_blf_keys() -> None:
    lines = key_lines(t42s_file())
    assert {k: v for k, v in lines.items() if k.startswith("account.")} == {
        "account.1.enable": "1",
        "account.1.label": "Marie Martin",
        "account.1.display_name": "Marie Martin",
        "account.1.auth_name": "202",
        "account.1.user_name": "202",
        "account.1.password": "demo202",
        "account.1.sip_server.1.address": "192.0.2.10",
        "account.1.sip_server.1.port": "5060",
        "account.1.sip_server.1.transport_type": "0",
        "account.1.sip_server.1.expires": "3600",
    }
    for n, (ext, name) in enumerate((("201", "Jean Dupont"), ("203", "Pieter Peeters"),
                                     ("204", "Sophie Lambert")), start=1):
        assert [lines[f"linekey.{n}.{p}"] for p in ("type", "line", "value", "label", "pickup_value")] == [
            "16", "1", ext, name, f"*97{ext}"]
    for n in range(4, 16):
        assert [lines[f"linekey.{n}.{p}"] for p in ("type", "value", "label", "pickup_value")] == ["0", "", "", ""]
    assert linekeys(lines) == set(range(1, 16))
    assert "account.1.blf.blf_list_uri" not in lines


def test_t48g_list_uri_and_thirty_users_truncated_to_29_keys() -> None:
    lines = key_lines(t48g_file())
    assert lines["account.1.blf.blf_list_uri"] == "sip:reception-blf@acme.example.com"
    assert lines["account.1.sip_server.1.transport_type"] == "1"
    assert lines["account.1.sip_server.1.address"] == "pbx.example.com"
    assert lines["account.1.sip_server.1.port"] == "5070"
    assert lines["account.1.label"] == "Accueil"
    assert "account.1.password" not in lines  # no password given: the line is left out
    assert linekeys(lines) == set(range(1, 30))
    assert all(lines[f"linekey.{n}.type"] == "16" for n in range(1, 30))
    assert lines["linekey.29.value"] == "1029" and lines["linekey.29.label"] == "Prénom29 Nom29"
    assert "1030" not in lines.values()  # the 30th monitored user has no key


@pytest.mark.parametrize("model", sorted(KEY_COUNT))
def test_key_count_per_model(model: str) -> None:
    device, user, group, directory = big_group(model, watched=2)
    lines = key_lines(render_device(device, user, group, directory, SERVER, sip_password=None))
    assert KEY_COUNT[model] == (15 if model.startswith("T42") else 29)
    assert linekeys(lines) == set(range(1, KEY_COUNT[model] + 1))
    assert [lines[f"linekey.{n}.type"] for n in range(1, KEY_COUNT[model] + 1)] == (
        ["16", "16"] + ["0"] * (KEY_COUNT[model] - 2))


def test_keys_in_natural_order() -> None:
    keys = list(key_lines(t48g_file()))
    assert keys.index("linekey.2.type") < keys.index("linekey.10.type") < keys.index("linekey.29.type")


def test_names_cannot_inject_lines() -> None:
    device, _owner, group, directory = big_group(watched=2)
    desc = directory.description(group.id)
    assert desc is not None
    evil = "Eve\r\nlinekey.1.type = 15\nx"
    users = tuple(replace(u, first_name=evil) if u.user_id in ("u01", "reception") else u for u in desc.users)
    directory = Directory([replace(desc, users=users)])
    owner = directory.user_by_id("reception")
    assert owner is not None
    device = replace(device, label="Desk\u2028account.1.enable = 0")
    data = render_device(device, owner, group, directory, SERVER, sip_password=None)
    lines = key_lines(data)
    assert lines["linekey.1.type"] == "16"
    assert lines["linekey.1.label"] == "Eve linekey.1.type = 15 x Nom1"
    assert lines["account.1.display_name"] == "Eve linekey.1.type = 15 x Réception"
    assert lines["account.1.label"] == "Desk account.1.enable = 0"
    assert lines["account.1.enable"] == "1"
    assert b"\r" not in data and "\u2028".encode() not in data


def test_password_with_a_line_break_is_refused() -> None:
    device, user, group, directory = demo_t42s()
    with pytest.raises(ValueError, match="control"):
        render_device(device, user, group, directory, SERVER, sip_password="x\nlinekey.1.type = 15")


def test_unknown_or_foreign_monitored_users_are_skipped() -> None:
    device, user, group, directory = demo_t42s()
    desc = directory.description(group.id)
    assert desc is not None
    stranger = User(user_id="stranger", group_id="other", first_name="S", last_name="T", extension="300")
    other = GroupDescription(enterprise=Enterprise(id="o", name="O"),
                             group=Group(id="other", enterprise_id="o", name="O", domain="other.example"),
                             users=(stranger,))
    user = replace(user, services=ServiceSettings(blf=Blf(monitored_users=("gone", "stranger", "jean.dupont"))))
    lines = key_lines(render_device(device, user, group, Directory([desc, other]), SERVER, sip_password=None))
    assert lines["linekey.1.value"] == "201"
    assert lines["linekey.2.type"] == "0"


def test_device_must_be_the_users_in_the_group() -> None:
    device, user, group, directory = demo_t42s()
    jean = directory.user_by_id("jean.dupont")
    assert jean is not None
    with pytest.raises(ValueError, match="belongs to"):
        render_device(device, jean, group, directory, SERVER, sip_password=None)
    with pytest.raises(ValueError, match="group"):
        render_device(device, user, replace(group, id="elsewhere"), directory, SERVER, sip_password=None)


def test_server_is_checked() -> None:
    for bad in ({"host": "pbx example"}, {"host": "pbx\n.example"}, {"host": ""}, {"port": 0},
                {"transport": "sctp"}, {"registration_expires": 10}, {"blf_subscribe_period": 10 ** 6}):
        with pytest.raises(ValueError):
            ProvisioningServer(**{"host": "pbx.example.com", **bad})  # type: ignore[arg-type]
    assert ProvisioningServer(host="2001:db8::1").transport == "udp"


# -- request paths -------------------------------------------------------------------------------------------
def test_file_for_request() -> None:
    directory = Directory([demo_group_description("callconnect.local")])
    phone = directory.device_by_mac("001565000201")
    assert phone is not None
    assert file_for_request("/y000000000035.cfg", directory) == CommonFile("T48G")
    assert file_for_request("y000000000116.cfg", directory) == CommonFile("T42U")
    assert file_for_request("/001565000201.cfg", directory) == DeviceFile(phone)
    assert file_for_request("/0015650002AB.cfg", directory) is None  # well formed, not provisioned
    assert file_for_request("/00156500020A.cfg", directory) is None
    upper = Directory([replace(demo_group_description("callconnect.local"), devices=(
        Device(mac="0015650002AB", group_id="demo", model="T42G", owner="jean.dupont"),))])
    assert file_for_request("/0015650002AB.cfg", upper) == DeviceFile(Device(
        mac="0015650002ab", group_id="demo", model="T42G", owner="jean.dupont"))
    for path in ("/y000000000000.boot", "/Y000000000035.CFG", "/y000000000035.cfg?x=1", "//001565000201.cfg",
                 "/sub/001565000201.cfg", "/00:15:65:00:02:01.cfg", "/001565000201.CFG", "/001565000201",
                 "/0015650002011.cfg", "", "/", "/../001565000201.cfg", "/%30015650002.cfg"):
        assert file_for_request(path, directory) is None, path
