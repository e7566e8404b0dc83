"""The provisioning file: reading, every kind of error message (file + field path), export, the example."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from features.model import ForwardNoAnswer, ServiceSettings
from provisioning.apply import dump_group, load_group_file, loads_group, parse_group
from provisioning.demo import demo_group_description
from provisioning.model import ProvisioningError, provisioning_ha1, sip_ha1

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo-group.toml"


def example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def problems(data: dict[str, Any], source: str = "demo.toml") -> list[str]:
    with pytest.raises(ProvisioningError) as exc:
        parse_group(data, source)
    return list(exc.value.problems)


# -- the example -----------------------------------------------------------------------------------------
def test_example_file_and_demo_module_describe_the_same_group() -> None:
    from_file = load_group_file(EXAMPLE)
    from_code = demo_group_description("callconnect.local")
    assert from_file.canonical() == from_code.canonical()
    assert from_file.portal_passwords == from_code.portal_passwords
    assert from_file.keep_services == from_code.keep_services == frozenset()
    assert from_file.keep_portal_passwords == from_code.keep_portal_passwords == frozenset()


def test_example_values() -> None:
    d = load_group_file(EXAMPLE)
    jean = d.user("jean.dupont")
    assert jean is not None
    assert jean.numbers == ("+3222211201",) and jean.outgoing_cli == "+3222211201"
    assert jean.sip_username == "201"
    assert jean.sip_ha1 == sip_ha1("201", "callconnect.local", "demo201")
    assert jean.portal_password_hash is None and d.portal_passwords["jean.dupont"] == "portal201"
    assert [dev.mac for dev in d.devices] == ["001565000201", "001565000202"]
    assert [c.number for c in d.contacts] == ["+3225550101", "+3225550102"]
    marie = d.user("marie.martin")
    assert marie is not None and marie.outgoing_cli == "+3222211202"  # defaults to the main number


def test_demo_domain_changes_the_realm_of_the_hashes() -> None:
    other = demo_group_description("pbx.example.com")
    jean = other.user("jean.dupont")
    assert jean is not None and jean.sip_ha1 == sip_ha1("201", "pbx.example.com", "demo201")
    assert other.group.domain == "pbx.example.com"


# -- errors ----------------------------------------------------------------------------------------------
def test_error_names_file_and_field() -> None:
    data = example()
    data["users"][2]["services"] = {"forward_no_answer": {"rings": 1}}
    assert problems(data) == ["demo.toml: users[2].services.forward_no_answer.rings: must be 0 or 2..20, got 1"]


def test_every_problem_is_listed() -> None:
    data = example()
    data["group"]["time_zone"] = "Europe/Bruxelles"
    data["group"]["colour"] = "blue"
    data["users"][0]["frist_name"] = "Jean"
    data["users"][1]["numbers"] = ["02 221 12 0x"]
    data["users"][2]["language"] = "de"
    data["users"][3]["services"] = {"voicemail": {"active": "yes"}, "dnd": {"actve": True}}
    data["devices"][0]["model"] = "T46S"
    data["schedules"][0]["monday"]["end"] = "07:00"
    data["trunks"][0]["port"] = "5090"
    data["extra"] = 1
    found = problems(data)
    assert found == [
        "demo.toml: group.time_zone: must be an IANA time zone such as Europe/Brussels, got 'Europe/Bruxelles'",
        "demo.toml: group.colour: unknown key",
        "demo.toml: users[0].frist_name: unknown key",
        "demo.toml: users[1].numbers[0]: '02 221 12 0x' is not a phone number (only digits, spaces, . - / and "
        "a leading +)",
        "demo.toml: users[2].language: must be one of fr, nl, en, got 'de'",
        "demo.toml: users[3].services.dnd.actve: unknown key",
        "demo.toml: users[3].services.voicemail.active: must be true or false, got a string",
        "demo.toml: devices[0].model: must be one of T42G, T42S, T42U, T48G, T48S, T48U, got 'T46S'",
        "demo.toml: schedules[0].monday.end: must be after start (08:30), got 07:00",
        "demo.toml: trunks[0].port: must be an integer, got a string",
        "demo.toml: extra: unknown key",
    ]


def test_cross_entity_problems() -> None:
    data = example()
    data["users"][1]["extension"] = "201"
    data["users"][2]["numbers"] = ["022211201"]
    data["users"][3]["user_id"] = "jean.dupont"
    data["users"][0]["outgoing_cli"] = "02 999 99 99"
    data["devices"][1]["owner"] = "nobody"
    data["users"][0]["services"]["simultaneous_ring"] = {
        "numbers": [{"number": "0470123456"}],
        "criteria": [{"name": "Bureau", "time_schedule": "Heures de boureau"}],
    }
    assert problems(data) == [  # entity problems first, then what crosses entities, in file order
        "demo.toml: users[3].user_id: duplicate user_id 'jean.dupont'",
        "demo.toml: users[0].outgoing_cli: +3229999999 is not one of the group's numbers",
        "demo.toml: users[0].services.blf.monitored_users[2]: unknown user 'sophie.lambert'",
        "demo.toml: users[0].services.simultaneous_ring.criteria[0].time_schedule: unknown time schedule "
        "'Heures de boureau'",
        "demo.toml: users[1].extension: '201' is already the extension of user 'jean.dupont'",
        "demo.toml: users[2].numbers[0]: +3222211201 is already a number of user 'jean.dupont'",
        "demo.toml: devices[1].owner: unknown user 'nobody'",
    ]


def test_credentials_rules() -> None:
    data = example()
    data["users"][0]["sip_ha1_md5"] = "0" * 32
    data["users"][1].pop("sip_password")
    data["users"][1]["sip_ha1_sha256"] = "0" * 64
    data["users"][2]["portal_password_hash"] = "$argon2id$v=19$whatever"
    data["users"][3]["portal_password"] = "short"
    assert problems(data) == [
        "demo.toml: users[0].sip_password: give either sip_password or sip_ha1_md5 + sip_ha1_sha256, not both",
        "demo.toml: users[1].sip_ha1_md5: sip_ha1_md5 and sip_ha1_sha256 go together",
        "demo.toml: users[2].portal_password: give either portal_password or portal_password_hash, not both",
        "demo.toml: users[3].portal_password: must have at least 8 characters",
    ]


def test_device_provisioning_credential_forms() -> None:
    data = example()
    data["devices"][0]["provisioning_password"] = "phone-secret"
    ha1 = provisioning_ha1("001565000202", "other")
    data["devices"][1].update(provisioning_ha1_md5=ha1["MD5"].upper(), provisioning_ha1_sha256=ha1["SHA-256"])
    d = parse_group(data, "demo.toml")
    first, second = d.devices
    assert first.provisioning_ha1 == provisioning_ha1(first.mac, "phone-secret")  # over the normalised MAC
    assert second.provisioning_ha1 == ha1
    text = dump_group(d)
    assert "phone-secret" not in text and "provisioning_ha1_sha256" in text
    assert loads_group(text, "export.toml").canonical() == d.canonical()


def test_device_provisioning_credential_rules() -> None:
    data = example()
    data["devices"][0].update(provisioning_password="x", provisioning_ha1_md5="0" * 32)
    data["devices"][1].update(provisioning_ha1_sha256="0" * 64)
    assert problems(data) == [
        "demo.toml: devices[0].provisioning_password: give either provisioning_password or provisioning_ha1_md5 "
        "+ provisioning_ha1_sha256, not both",
        "demo.toml: devices[1].provisioning_ha1_md5: provisioning_ha1_md5 and provisioning_ha1_sha256 go together",
    ]
    data = example()
    data["devices"][0]["provisioning_password"] = ""
    data["devices"][1].update(provisioning_ha1_md5="zz", provisioning_ha1_sha256="0" * 64)
    assert problems(data) == [
        "demo.toml: devices[0].provisioning_password: must not be empty",
        "demo.toml: devices[1].provisioning_ha1.MD5: must be 32 lower-case hex digits",
    ]
    data = example()
    data["devices"][0].update(mac="nope", provisioning_password="fine")
    assert [p.split(":")[1].strip() for p in problems(data)] == ["devices[0].mac"]


def test_group_feature_codes() -> None:
    data = example()
    assert parse_group(data, "demo.toml").group.feature_codes == "both"  # absent: both styles
    data["group"]["feature_codes"] = "gsm"
    d = parse_group(data, "demo.toml")
    assert d.group.feature_codes == "gsm"
    assert tomllib.loads(dump_group(d))["group"]["feature_codes"] == "gsm"
    assert loads_group(dump_group(d), "export.toml").group.feature_codes == "gsm"
    data["group"]["feature_codes"] = "GSM"
    assert problems(data) == ["demo.toml: group.feature_codes: must be both, star (*72...) or gsm (*21*...#), "
                              "got 'GSM'"]
    data["group"]["feature_codes"] = 2
    assert problems(data) == ["demo.toml: group.feature_codes: must be a string, got an integer"]


def test_missing_sections_and_required_keys() -> None:
    assert problems({"users": [{}]}, "x.toml") == [
        "x.toml: enterprise: is required",
        "x.toml: group: is required",
        "x.toml: users[0].user_id: is required",
        "x.toml: users[0].first_name: is required",
        "x.toml: users[0].last_name: is required",
    ]


def test_not_toml() -> None:
    with pytest.raises(ProvisioningError) as exc:
        loads_group("[group\nid = 1", "broken.toml")
    assert exc.value.problems[0].startswith("broken.toml: not valid TOML:")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ProvisioningError) as exc:
        load_group_file(tmp_path / "missing.toml")
    assert exc.value.problems[0].startswith("missing.toml: cannot read:")


def test_load_from_disk_reports_the_file_name(tmp_path: Path) -> None:
    data = example()
    data["users"][2]["services"] = {"forward_no_answer": {"rings": 1}}
    path = tmp_path / "demo.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    with pytest.raises(ProvisioningError) as exc:
        load_group_file(path)
    assert str(exc.value) == "demo.toml: users[2].services.forward_no_answer.rings: must be 0 or 2..20, got 1"


# -- what an absent key means --------------------------------------------------------------------------------
def test_absent_services_and_portal_password_mean_keep() -> None:
    data = example()
    data["users"][1].pop("services")
    data["users"][2].pop("portal_password")
    d = parse_group(data)
    assert d.keep_services == {"marie.martin"}
    assert d.keep_portal_passwords == {"pieter.peeters"}
    marie = d.user("marie.martin")
    assert marie is not None and marie.services == ServiceSettings()


def test_outgoing_cli_empty_means_none() -> None:
    data = example()
    data["users"][0]["outgoing_cli"] = ""
    jean = parse_group(data).user("jean.dupont")
    assert jean is not None and jean.outgoing_cli is None


def test_group_schedule_level_and_holidays() -> None:
    data = example()
    data["holiday_schedules"] = [{"name": "Noël", "periods": [{"start": "2026-12-24", "end": "2026-12-26"}]}]
    d = parse_group(data)
    assert {s.name for s in d.schedules} == {"Heures de bureau", "Noël"}
    data["schedules"][0]["level"] = "user"
    assert problems(data) == ["demo.toml: schedules[0].level: a group schedule must have level group"]


# -- export ----------------------------------------------------------------------------------------------
def test_dump_then_load_is_the_same_group() -> None:
    original = load_group_file(EXAMPLE)
    text = dump_group(original)
    assert "demo201" not in text and "sip_ha1_md5" in text
    again = loads_group(text, "export.toml")
    assert again.canonical() == original.canonical()
    assert again.keep_portal_passwords == {u.user_id for u in original.users}  # no hash in a file-only dump


def test_dump_writes_only_non_default_settings() -> None:
    d = demo_group_description()
    marie = d.user("marie.martin")
    assert marie is not None
    changed = ServiceSettings(forward_no_answer=ForwardNoAnswer(rings=5))
    users = tuple(u if u.user_id != "marie.martin" else
                  type(u)(**{**{f: getattr(u, f) for f in u.__dataclass_fields__}, "services": changed})
                  for u in d.users)
    text = dump_group(type(d)(enterprise=d.enterprise, group=d.group, users=users, departments=d.departments))
    doc = tomllib.loads(text)
    marie_doc = next(u for u in doc["users"] if u["user_id"] == "marie.martin")
    assert marie_doc["services"] == {"forward_no_answer": {"rings": 5}}
    jean_doc = next(u for u in doc["users"] if u["user_id"] == "jean.dupont")
    assert jean_doc["services"]["voicemail"] == {"active": True}


def test_the_documented_example_is_valid() -> None:
    import re

    doc = (EXAMPLE.parents[1] / "docs" / "provisioning.md").read_text(encoding="utf-8")
    match = re.search(r"## Example.*?```toml\n(.*?)```", doc, re.S)
    assert match is not None
    d = loads_group(match.group(1), "provisioning.md")
    assert [u.user_id for u in d.users] == ["jean.dupont", "marie.martin"]
