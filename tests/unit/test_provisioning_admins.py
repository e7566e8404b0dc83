"""Group administrators in the provisioning file and the stores: read and checked like every entry (paths
`administrators[i].…`), unique across groups, passwords only as Argon2id (kept when unchanged or absent),
exported and re-applied without change, kept by both stores."""

from __future__ import annotations

import tomllib
from dataclasses import replace

import pytest

from provisioning.apply import dump_group, group_document, loads_group, parse_group
from provisioning.demo import DEMO_ADMIN, DEMO_ADMIN_PASSWORD, demo_group_description
from provisioning.model import GroupAdministrator, ProvisioningError, verify_portal_password
from provisioning.store import ChangeCount, ChangedMeanwhile, SubscriberStore
from tests.unit.test_provisioning_store import EXAMPLE, store

__all__ = ["store"]  # both stores, as in test_provisioning_store


def document() -> dict[str, object]:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def problems(data: dict[str, object]) -> list[tuple[str, str]]:
    with pytest.raises(ProvisioningError) as exc:
        parse_group(data, "demo.toml")
    assert len(exc.value.fields) == len(exc.value.problems)
    assert exc.value.problems[0] == f"demo.toml: {exc.value.fields[0][0]}: {exc.value.fields[0][1]}"
    return list(exc.value.fields)


def test_the_example_has_the_demo_administrator() -> None:
    desc = parse_group(document(), "demo.toml")
    assert desc.administrators == (GroupAdministrator(username=DEMO_ADMIN, group_id="demo",
                                                      name="Administrateur Demo", language="fr"),)
    assert desc.admin_passwords == {DEMO_ADMIN: DEMO_ADMIN_PASSWORD}


def test_administrator_entries_are_checked_with_their_paths() -> None:
    data = document()
    data["administrators"] = [
        {"username": "bad name", "name": "", "language": "de", "password": "short"},
        {"username": "ok", "name": "A", "password": "longenough", "password_hash": "$argon2id$x"},
        {"username": "ok2", "name": "B", "password_hash": "plain"},
        {"name": "C", "colour": "red"},
    ]
    found = problems(data)
    assert ("administrators[0].password", "must have at least 8 characters") in found
    assert ("administrators[0].language", "must be one of fr, nl, en, got 'de'") in found
    assert ("administrators[1].password", "give either password or password_hash, not both") in found
    assert ("administrators[2].password_hash", "must be an Argon2id hash ($argon2id$...)") in found
    assert ("administrators[3].username", "is required") in found
    assert ("administrators[3].colour", "unknown key") in found


def test_duplicate_administrators_are_refused() -> None:
    data = document()
    data["administrators"] = [{"username": "a", "name": "A"}, {"username": "a", "name": "B"}]
    assert problems(data) == [("administrators[1].username", "duplicate username 'a'")]


async def test_passwords_are_hashed_and_kept(store: SubscriberStore) -> None:
    await store.apply_group(demo_group_description())
    first = (await store.export_group("demo")).administrators[0]
    assert first.password_hash is not None and verify_portal_password(first.password_hash, DEMO_ADMIN_PASSWORD)
    assert (await store.apply_group(demo_group_description())).summary() == "group demo: no changes"
    no_password = replace(demo_group_description(), admin_passwords={})
    assert (await store.apply_group(no_password)).summary() == "group demo: no changes"
    assert (await store.export_group("demo")).administrators[0].password_hash == first.password_hash
    changed = replace(demo_group_description(), admin_passwords={DEMO_ADMIN: "another-one"})
    report = await store.apply_group(changed)
    assert report.count("administrators") == ChangeCount(updated=1)
    again = (await store.export_group("demo")).administrators[0]
    assert again.password_hash is not None and verify_portal_password(again.password_hash, "another-one")
    directory = await store.load_directory()
    described = directory.description("demo")
    assert described is not None and described.administrator(DEMO_ADMIN) is not None


async def test_export_then_apply_changes_nothing(store: SubscriberStore) -> None:
    await store.apply_group(demo_group_description())
    text = dump_group(await store.export_group("demo"))
    assert "[[administrators]]" in text and "password_hash" in text and DEMO_ADMIN_PASSWORD not in text
    assert (await store.apply_group(loads_group(text))).summary() == "group demo: no changes"
    assert parse_group(group_document(await store.export_group("demo"))).administrators[0].username == DEMO_ADMIN


async def test_an_administrator_name_belongs_to_one_group(store: SubscriberStore) -> None:
    await store.apply_group(demo_group_description())
    data = document()
    data["group"] = {**data["group"], "id": "other", "domain": "other.local"}  # type: ignore[dict-item]
    data["enterprise"] = {"id": "other", "name": "Other"}
    for key in ("users", "devices", "departments", "trunks"):
        data.pop(key)
    with pytest.raises(ProvisioningError) as exc:
        await store.apply_group(parse_group(data, "other.toml"))
    assert exc.value.fields == (("administrators[0].username", "administrator 'demo.admin' already belongs to "
                                                               "group 'demo'"),)
    data["administrators"] = []
    assert (await store.apply_group(parse_group(data, "other.toml"))).changed
    assert [a.username for a in (await store.export_group("other")).administrators] == []


async def test_an_expected_group_makes_the_apply_conditional(store: SubscriberStore) -> None:
    await store.apply_group(demo_group_description())
    read = await store.export_group("demo")
    jean = read.user("jean.dupont")
    assert jean is not None
    await store.update_services("jean.dupont", replace(jean.services, dnd=replace(jean.services.dnd, active=True)))
    renamed = replace(demo_group_description(), group=replace(read.group, name="Renamed"))
    with pytest.raises(ChangedMeanwhile):
        await store.apply_group(renamed, expected=read)
    assert (await store.export_group("demo")).group.name == "Demo"
    report = await store.apply_group(renamed, expected=await store.export_group("demo"))
    assert report.count("group") == ChangeCount(updated=1)
