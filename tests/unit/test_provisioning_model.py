"""Provisioning entities, cross-entity checks of a group description, and the Directory snapshot."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from features.model import Blf, Criterion, Schedule, ServiceSettings, SettingError, SimultaneousRing
from features.model import SimultaneousRingNumber as Num
from provisioning.demo import demo_group_description
from provisioning.model import (
    PROVISIONING_REALM,
    Department,
    Device,
    Directory,
    Enterprise,
    Group,
    GroupDescription,
    GroupSchedule,
    Trunk,
    User,
    hash_portal_password,
    normalize_mac,
    parse_source,
    provisioning_ha1,
    sip_ha1,
    verify_portal_password,
)

GROUP = Group(id="g", enterprise_id="e", name="G", domain="pbx.example.com")


def user(user_id: str, **changes: object) -> User:
    base: dict[str, object] = {"user_id": user_id, "group_id": "g", "first_name": "A", "last_name": "B"}
    base.update(changes)
    return User(**base)  # type: ignore[arg-type]


def desc(*users: User, **changes: object) -> GroupDescription:
    d = GroupDescription(enterprise=Enterprise(id="e", name="E"), group=GROUP, users=users)
    return replace(d, **changes)  # type: ignore[arg-type]


# -- entities --------------------------------------------------------------------------------------------
def test_group_checks_time_zone_domain_and_numbers() -> None:
    with pytest.raises(SettingError) as exc:
        Group(id="g", enterprise_id="e", name="G", domain="Bad_Domain", time_zone="Europe/Bruxelles",
              country_code="+32", seconds_per_ring=0, numbers=("022211089",))
    assert {p for p, _ in exc.value.problems} == {"domain", "time_zone", "country_code", "seconds_per_ring",
                                                  "numbers[0]"}
    assert Group(id="g", enterprise_id="e", name="G", domain="192.0.2.1").seconds_per_ring == 5


def test_group_feature_code_style() -> None:
    assert GROUP.feature_codes == "both"
    assert replace(GROUP, feature_codes="gsm").feature_codes == "gsm"
    with pytest.raises(SettingError) as exc:
        replace(GROUP, feature_codes="cellular")  # type: ignore[arg-type]
    assert exc.value.problems == (("feature_codes", "must be both, star (*72...) or gsm (*21*...#), "
                                                    "got 'cellular'"),)


def test_user_defaults_and_checks() -> None:
    u = user("usr22211089", numbers=("+3222211089",))
    assert u.sip_username == "usr22211089"
    assert u.main_number == "+3222211089"
    assert u.language == "fr" and u.display_name == "A B"
    with pytest.raises(SettingError) as exc:
        user("bad id", extension="112", numbers=("022211089",), language="de", sip_ha1={"MD5": "x"},
             portal_password_hash="plain", email="nope", sip_username="a b")
    assert {p for p, _ in exc.value.problems} == {
        "user_id", "extension", "numbers[0]", "language", "sip_ha1", "sip_ha1.MD5", "portal_password_hash",
        "email", "sip_username"}


def test_credentials() -> None:
    ha1 = sip_ha1("201", "callconnect.local", "demo201")
    assert set(ha1) == {"MD5", "SHA-256"} and len(ha1["MD5"]) == 32 and len(ha1["SHA-256"]) == 64
    from sipserver.digest import ha1 as digest_ha1

    assert ha1["MD5"] == digest_ha1("201", "callconnect.local", "demo201", "MD5")
    assert ha1["SHA-256"] == digest_ha1("201", "callconnect.local", "demo201", "SHA-256")
    from argon2 import PasswordHasher
    from argon2.profiles import CHEAPEST

    hasher = PasswordHasher.from_parameters(CHEAPEST)
    stored = hash_portal_password("portal201", hasher)
    assert stored.startswith("$argon2id$")
    assert verify_portal_password(stored, "portal201")
    assert not verify_portal_password(stored, "portal202")
    assert not verify_portal_password("garbage", "portal201")


def test_device_mac_is_normalised() -> None:
    d = Device(mac="00:15:65:AA:BB:CC", group_id="g", model="T48S", owner="u")
    assert d.mac == "001565aabbcc"
    assert normalize_mac("0015.65aa.bbcc") == "001565aabbcc"
    with pytest.raises(SettingError) as exc:
        Device(mac="00:15:65", group_id="g", model="T46S", owner="u")
    assert {p for p, _ in exc.value.problems} == {"mac", "model"}


def test_device_provisioning_credential_is_an_ha1_pair_over_the_mac() -> None:
    ha1 = provisioning_ha1("00:15:65:AA:BB:CC", "s3cret")
    assert ha1 == sip_ha1("001565aabbcc", PROVISIONING_REALM, "s3cret")
    assert ha1["MD5"] == hashlib.md5(b"001565aabbcc:provisioning@callconnect:s3cret").hexdigest()
    d = Device(mac="001565aabbcc", group_id="g", model="T48S", owner="u", provisioning_ha1=ha1)
    assert d.provisioning_ha1 == ha1
    assert "provisioning_ha1" not in repr(d)
    assert Device(mac="001565aabbcc", group_id="g", model="T48S", owner="u").provisioning_ha1 == {}
    with pytest.raises(SettingError) as exc:
        Device(mac="001565aabbcc", group_id="g", model="T48S", owner="u", provisioning_ha1={"MD5": ha1["MD5"]})
    assert [p for p, _ in exc.value.problems] == ["provisioning_ha1"]
    with pytest.raises(SettingError) as exc:
        Device(mac="001565aabbcc", group_id="g", model="T48S", owner="u",
               provisioning_ha1={"MD5": "X" * 32, "SHA-256": ha1["SHA-256"][:10]})
    assert [p for p, _ in exc.value.problems] == ["provisioning_ha1.MD5", "provisioning_ha1.SHA-256"]
    with pytest.raises(ValueError):
        provisioning_ha1("not a mac", "s3cret")


def test_trunk_sources() -> None:
    assert parse_source("192.0.2.1")[1] is None
    assert parse_source("192.0.2.1:5090")[1] == 5090
    assert parse_source("[2001:db8::1]:5090")[1] == 5090
    assert parse_source("2001:db8::1")[1] is None
    assert parse_source("192.0.2.0/24")[0].num_addresses == 256
    for bad in ("host.example:5060", "192.0.2.1:0", "192.0.2.0/24:5060", "192.0.2.1/24"):
        with pytest.raises(ValueError):
            parse_source(bad)
    with pytest.raises(SettingError) as exc:
        Trunk(id="t", group_id="g", name="T", host="carrier", port=70000, transport="sctp",  # type: ignore[arg-type]
              password="x", numbers=("32",), inbound_addresses=("nope",))
    assert {p for p, _ in exc.value.problems} == {"port", "transport", "username", "numbers[0]",
                                                  "inbound_addresses[0]"}
    assert "password" not in repr(Trunk(id="t", group_id="g", name="T", host="h", username="u", password="s3"))


# -- cross-entity checks -------------------------------------------------------------------------------------
def test_demo_description_is_valid() -> None:
    assert demo_group_description().problems() == []


def test_duplicates_and_references() -> None:
    d = desc(
        user("a", extension="201", numbers=("+3222211201",), department_id="nope"),
        user("b", extension="201", numbers=("+3222211201",), outgoing_cli="+3222299999"),
        user("a", sip_username="x"),
        user("c", sip_username="201", extension="1969"),
        devices=(Device(mac="001565000001", group_id="g", model="T42S", owner="ghost"),
                 Device(mac="00:15:65:00:00:01", group_id="g", model="T42S", owner="a")),
    )
    found = dict(d.problems())
    assert found == {
        "users[0].department_id": "unknown department 'nope'",
        "users[1].extension": "'201' is already the extension of user 'a'",
        "users[1].numbers[0]": "+3222211201 is already a number of user 'a'",
        "users[1].outgoing_cli": "+3222299999 is not one of the group's numbers",
        "users[2].user_id": "duplicate user_id 'a'",
        "users[3].sip_username": "'201' is already the extension of user 'a'",
        "users[3].extension": "1969 is the voicemail number",
        "devices[0].owner": "unknown user 'ghost'",
        "devices[1].mac": "duplicate mac '001565000001'",
    }


def test_group_numbers_include_the_group_pool() -> None:
    g = replace(GROUP, numbers=("+3222211000",))
    d = desc(user("a", numbers=("+3222211201",), outgoing_cli="+3222211000"), group=g)
    assert d.problems() == []
    assert d.group_numbers == {"+3222211000", "+3222211201"}


def test_service_references_are_checked() -> None:
    services = ServiceSettings(
        blf=Blf(monitored_users=("b", "ghost", "a"), list_uri="b"),
        simultaneous_ring=SimultaneousRing(numbers=(Num(number="0470123456"),), criteria=(
            Criterion(name="c1", time_schedule="Heures de bureau", holiday_schedule="Noël"),
            Criterion(name="c2", time_schedule="mine"))),
        schedules=(Schedule(name="mine"),),
    )
    office = GroupSchedule(group_id="g", schedule=Schedule(name="Heures de bureau", level="group"))
    d = desc(user("a", services=services), user("b"), schedules=(office,))
    assert dict(d.problems()) == {
        "users[0].services.blf.monitored_users[1]": "unknown user 'ghost'",
        "users[0].services.blf.monitored_users[2]": "a user cannot list themselves",
        "users[0].services.blf.list_uri": "'b' is already used by user 'b'",
        "users[0].services.simultaneous_ring.criteria[0].holiday_schedule": "unknown holiday schedule 'Noël'",
    }


def test_entities_must_belong_to_the_group() -> None:
    d = desc(user("a", group_id="other"), departments=(Department(id="d", group_id="other", name="D"),))
    assert dict(d.problems()) == {"departments[0].group_id": "must be the group id 'g'",
                                  "users[0].group_id": "must be the group id 'g'"}


def test_canonical_order() -> None:
    d = desc(user("b"), user("a"), portal_passwords={"a": "secret123"}, keep_services=frozenset({"a"}))
    c = d.canonical()
    assert [u.user_id for u in c.users] == ["a", "b"]
    assert c.portal_passwords == {} and c.keep_services == frozenset()


# -- Directory ---------------------------------------------------------------------------------------------
@pytest.fixture
def directory() -> Directory:
    demo = demo_group_description()
    other = GroupDescription(
        enterprise=Enterprise(id="acme", name="ACME"),
        group=Group(id="acme", enterprise_id="acme", name="ACME", domain="acme.example"),
        users=(User(user_id="bob", group_id="acme", first_name="Bob", last_name="B", extension="201",
                    sip_username="201", numbers=("+3225550000",)),),
        trunks=(Trunk(id="acme-carrier", group_id="acme", name="ACME carrier", host="198.51.100.7",
                      numbers=("+33", "+3225"), inbound_addresses=("198.51.100.0/24", "2001:db8::7")),),
    )
    return Directory([other, demo], revision=7)


def test_directory_lookups(directory: Directory) -> None:
    demo = directory.group_by_domain("callconnect.local")
    assert demo is not None and demo.id == "demo"
    assert directory.group_by_domain("CallConnect.Local") == demo
    assert directory.group_by_domain("nowhere.example") is None
    assert directory.default_group.id == "acme"  # first by id
    assert directory.revision == 7
    assert [u.extension for u in directory.users_of_group("demo")] == ["201", "202", "203", "204"]
    jean = directory.user_by_id("jean.dupont")
    assert jean is not None and directory.group_of(jean) == demo
    assert directory.user_by_sip_username("202", "callconnect.local") == directory.user_by_id("marie.martin")
    assert directory.user_by_sip_username("201") is None  # "201" exists in both groups: ambiguous
    assert directory.user_by_sip_username("202") == directory.user_by_id("marie.martin")
    assert directory.user_by_sip_username("201", "acme.example") == directory.user_by_id("bob")
    assert directory.user_by_number("+3222211203") == directory.user_by_id("pieter.peeters")
    assert directory.watchers_of("marie.martin") == ("jean.dupont",)
    assert directory.user_by_list_uri("jean.dupont-blf", demo) == jean
    assert directory.device_by_mac("00:15:65:00:02:01") is not None
    assert [d.model for d in directory.devices_of_user("jean.dupont")] == ["T48S"]
    assert directory.description("demo") is not None


@pytest.mark.parametrize(("part", "expected"), [
    ("jean.dupont", "jean.dupont"), ("201", "jean.dupont"), ("202", "marie.martin"),
    ("022211203", "pieter.peeters"), ("+3222211204", "sophie.lambert"), ("0032 2 221 12 04", "sophie.lambert"),
    ("+32 2 221 12 01", "jean.dupont"), ("+3225550000", "bob"),  # E.164 numbers resolve in any group
    ("bob", None), ("999", None), ("112", None), ("", None), ("0470123456", None), ("garbage!", None),
])
def test_resolve_user(directory: Directory, part: str, expected: str | None) -> None:
    demo = directory.group_by_domain("callconnect.local")
    assert demo is not None
    found = directory.resolve_user(part, demo)
    assert (found.user_id if found else None) == expected


def test_trunk_lookups(directory: Directory) -> None:
    assert directory.trunk_by_source("127.0.0.1") is None  # the demo entry names a port
    carrier = directory.trunk_by_source("127.0.0.1", 5090)
    assert carrier is not None and carrier.id == "carrier"
    assert directory.trunk_by_source("127.0.0.1", 5062) is None  # a phone on loopback is not the carrier
    acme = directory.trunk_by_source("198.51.100.99")
    assert acme is not None and acme.id == "acme-carrier"
    assert directory.trunk_by_source("2001:db8:0::7") == acme
    assert directory.trunk_by_source("192.0.2.1") is None
    assert directory.trunk_by_source("not-an-ip") is None
    for number, trunk_id in (("+33123456789", "acme-carrier"), ("+3225551234", "acme-carrier"),
                             ("+3222211089", "carrier"), ("+1555", "carrier")):
        found = directory.trunk_for_number(number)
        assert found is not None and found.id == trunk_id


def test_empty_directory_has_a_placeholder_default_group() -> None:
    empty = Directory(fallback_domain="pbx.example.com")
    assert empty.default_group.domain == "pbx.example.com"
    assert empty.groups == ()
    assert empty.user_by_sip_username("201") is None
    assert empty.trunk_for_number("+3222211089") is None
