"""The SubscriberStore contract, run against the in-memory store and the SQLite store alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

from features.model import Blf, DoNotDisturb, ForwardAlways, ServiceSettings, SettingError
from provisioning.apply import apply_file, dump_group, export_group_file, load_group_file, loads_group
from provisioning.demo import demo_group_description
from provisioning.model import (
    Enterprise,
    Group,
    GroupDescription,
    ProvisioningError,
    User,
    hash_portal_password,
    verify_portal_password,
)
from provisioning.store import ChangeCount, InMemorySubscriberStore, SubscriberStore
from storage.subscribers import SqliteSubscriberStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo-group.toml"
HASHER = PasswordHasher.from_parameters(CHEAPEST)  # tests only: real hashes use the argon2-cffi defaults


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SubscriberStore]:
    s: SubscriberStore
    if request.param == "memory":
        s = InMemorySubscriberStore(password_hasher=HASHER)
    else:
        s = await SqliteSubscriberStore.open(tmp_path / "data", password_hasher=HASHER)
    yield s
    await s.close()


def demo() -> GroupDescription:
    return demo_group_description()


def other_group(**changes: object) -> GroupDescription:
    d = GroupDescription(
        enterprise=Enterprise(id="acme", name="ACME"),
        group=Group(id="acme", enterprise_id="acme", name="ACME", domain="acme.example"),
        users=(User(user_id="bob", group_id="acme", first_name="Bob", last_name="B", extension="201",
                    numbers=("+3225550000",)),),
    )
    return replace(d, **changes)  # type: ignore[arg-type]


async def test_empty_store(store: SubscriberStore) -> None:
    assert store.has_changed()  # nothing loaded yet
    directory = await store.load_directory()
    assert not store.has_changed()
    assert directory.groups == ()
    assert await store.list_groups() == []
    assert await store.get_user("jean.dupont") is None
    with pytest.raises(KeyError):
        await store.export_group("demo")


async def test_apply_creates_then_reports_no_changes(store: SubscriberStore) -> None:
    report = await store.apply_group(demo())
    assert report.changed
    assert report.count("users") == ChangeCount(created=4)
    assert report.count("devices") == ChangeCount(created=2)
    assert report.summary().startswith("group demo: enterprise 1 created; group 1 created;")
    again = await store.apply_group(demo())
    assert not again.changed
    assert again.summary() == "group demo: no changes" == str(again)


async def test_next_load_sees_the_change(store: SubscriberStore) -> None:
    before = await store.load_directory()
    assert not store.has_changed()
    await store.apply_group(demo())
    assert store.has_changed()
    after = await store.load_directory()
    assert not store.has_changed()
    assert after.revision != before.revision
    assert [u.user_id for u in after.users_of_group("demo")] == [
        "jean.dupont", "marie.martin", "pieter.peeters", "sophie.lambert"]
    await store.apply_group(demo())  # no change, no new revision
    assert not store.has_changed()


async def test_the_stored_group_equals_the_description(store: SubscriberStore) -> None:
    await store.apply_group(demo())
    stored = await store.export_group("demo")
    expected = demo().canonical()
    assert replace(stored, users=(), administrators=()) == replace(expected, users=(), administrators=())
    for got, want in zip(stored.users, expected.users, strict=True):
        assert got.portal_password_hash is not None
        assert verify_portal_password(got.portal_password_hash, f"portal{got.extension}")
        assert replace(got, portal_password_hash=None) == want
    (admin,) = stored.administrators
    assert admin.password_hash is not None and verify_portal_password(admin.password_hash, "demoadmin1")
    assert replace(admin, password_hash=None) == expected.administrators[0]


async def test_declarative_update_and_delete(store: SubscriberStore) -> None:
    await store.apply_group(demo())
    d = demo()
    jean_blf = ServiceSettings(blf=Blf(monitored_users=("marie.martin",)))
    users = tuple(replace(u, first_name="Jeannot", services=jean_blf) if u.user_id == "jean.dupont" else u
                  for u in d.users if u.user_id != "sophie.lambert")
    report = await store.apply_group(replace(d, users=users, devices=d.devices[:1], contacts=d.contacts[1:]))
    assert report.count("users") == ChangeCount(updated=1, deleted=1)
    assert report.count("devices") == ChangeCount(deleted=1)
    assert report.count("contacts") == ChangeCount(deleted=1)
    assert await store.get_user("sophie.lambert") is None
    jean = await store.get_user("jean.dupont")
    assert jean is not None and jean.first_name == "Jeannot"


async def test_broken_description_changes_nothing(store: SubscriberStore) -> None:
    await store.apply_group(demo())
    before = await store.export_group("demo")
    await store.load_directory()
    d = demo()
    bad_users = (*d.users[:3], replace(d.users[3], extension="201"))
    with pytest.raises(ProvisioningError) as exc:
        await store.apply_group(replace(d, users=bad_users, contacts=()))
    assert exc.value.problems == ("users[3].extension: '201' is already the extension of user 'jean.dupont'",)
    assert await store.export_group("demo") == before
    assert not store.has_changed()


async def test_broken_file_changes_nothing(store: SubscriberStore, tmp_path: Path) -> None:
    await apply_file(store, EXAMPLE)
    before = await store.export_group("demo")
    await store.load_directory()
    text = EXAMPLE.read_text(encoding="utf-8").replace('language = "nl"', 'language = "de"')
    text = text.replace('name = "Support informatique"', 'name = "Support informatique"\nnumbr = "1"')
    bad = tmp_path / "demo.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ProvisioningError) as exc:
        await apply_file(store, bad)
    assert exc.value.problems == ("demo.toml: users[2].language: must be one of fr, nl, en, got 'de'",
                                  "demo.toml: contacts[1].numbr: unknown key")
    assert await store.export_group("demo") == before
    assert not store.has_changed()


async def test_dry_run_writes_nothing(store: SubscriberStore) -> None:
    report = await store.apply_group(demo(), dry_run=True)
    assert report.changed and report.dry_run and "dry run" in report.summary()
    assert await store.list_groups() == []


async def test_export_apply_round_trip(store: SubscriberStore, tmp_path: Path) -> None:
    await apply_file(store, EXAMPLE)
    user = await store.get_user("marie.martin")
    assert user is not None
    await store.update_services("marie.martin", ServiceSettings(dnd=DoNotDisturb(active=True)))
    text = await export_group_file(store, "demo", tmp_path / "export.toml")
    assert (tmp_path / "export.toml").read_text(encoding="utf-8") == text
    assert "portal_password_hash" in text and "demo201" not in text and "portal201" not in text
    report = await apply_file(store, tmp_path / "export.toml")
    assert report.summary() == "group demo: no changes"
    assert dump_group(await store.export_group("demo")) == text


async def test_export_applies_to_an_empty_store(store: SubscriberStore, tmp_path: Path) -> None:
    await apply_file(store, EXAMPLE)
    exported = await store.export_group("demo")
    fresh = InMemorySubscriberStore(password_hasher=HASHER)
    await fresh.apply_group(loads_group(dump_group(exported)))
    assert await fresh.export_group("demo") == exported


async def test_portal_changes_survive_a_file_without_them(store: SubscriberStore) -> None:
    await apply_file(store, EXAMPLE)
    mine = ServiceSettings(forward_always=ForwardAlways(active=True, number="0470123456"))
    await store.update_services("marie.martin", mine)
    new_hash = hash_portal_password("my own secret", HASHER)
    await store.set_portal_password("marie.martin", new_hash)
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        'portal_password = "portal202"\n\n[users.services.voicemail]\nactive = true\n', "")
    d = loads_group(text)
    assert "marie.martin" in d.keep_services and "marie.martin" in d.keep_portal_passwords
    report = await store.apply_group(d)
    assert not report.changed
    marie = await store.get_user("marie.martin")
    assert marie is not None and marie.services == mine and marie.portal_password_hash == new_hash
    # ... whereas the full demo file resets them, declaratively
    report = await store.apply_group(load_group_file(EXAMPLE))
    assert report.count("users") == ChangeCount(updated=1)
    marie = await store.get_user("marie.martin")
    assert marie is not None and marie.services == demo().users[1].services
    assert marie.portal_password_hash is not None
    assert verify_portal_password(marie.portal_password_hash, "portal202")


async def test_seeding_the_demo_keeps_user_changes(store: SubscriberStore) -> None:
    await store.apply_group(demo_group_description(keep_user_settings=True))
    jean = await store.get_user("jean.dupont")
    assert jean is not None and jean.services.voicemail.active  # a new user gets the demo settings
    await store.update_services("jean.dupont", ServiceSettings())
    report = await store.apply_group(demo_group_description(keep_user_settings=True))
    assert not report.changed
    jean = await store.get_user("jean.dupont")
    assert jean is not None and jean.services == ServiceSettings()


async def test_kept_settings_that_became_invalid_are_reported(store: SubscriberStore) -> None:
    await store.apply_group(demo())
    d = demo()
    users = tuple(replace(u, services=ServiceSettings()) for u in d.users if u.user_id != "marie.martin")
    without_marie = replace(d, users=users, devices=d.devices[:1], keep_services=frozenset({"jean.dupont"}))
    with pytest.raises(ProvisioningError) as exc:
        await store.apply_group(without_marie)
    assert exc.value.problems == (
        "users[0].services.blf.monitored_users[0]: unknown user 'marie.martin' (current setting kept: the file "
        "has no services table for this user)",)


async def test_update_services(store: SubscriberStore) -> None:
    await store.apply_group(demo())
    await store.load_directory()
    settings = ServiceSettings(blf=Blf(monitored_users=("jean.dupont",)), dnd=DoNotDisturb(active=True))
    await store.update_services("marie.martin", settings)
    assert store.has_changed()
    directory = await store.load_directory()
    marie = directory.user_by_id("marie.martin")
    assert marie is not None and marie.services == settings
    assert directory.watchers_of("jean.dupont") == ("marie.martin",)
    with pytest.raises(SettingError) as exc:
        await store.update_services("marie.martin", ServiceSettings(blf=Blf(monitored_users=("ghost",))))
    assert exc.value.problems == (("services.blf.monitored_users[0]", "unknown user 'ghost'"),)
    with pytest.raises(KeyError):
        await store.update_services("ghost", settings)
    assert not store.has_changed()


async def test_set_portal_password(store: SubscriberStore) -> None:
    await store.apply_group(demo())
    await store.load_directory()
    await store.set_portal_password("jean.dupont", hash_portal_password("n3w-password", HASHER))
    assert store.has_changed()
    jean = await store.get_user("jean.dupont")
    assert jean is not None and jean.portal_password_hash is not None
    assert verify_portal_password(jean.portal_password_hash, "n3w-password")
    with pytest.raises(SettingError):
        await store.set_portal_password("jean.dupont", "clear text")
    with pytest.raises(KeyError):
        await store.set_portal_password("ghost", hash_portal_password("x", HASHER))


async def test_groups_cannot_share_numbers_ids_or_domains(store: SubscriberStore) -> None:
    await store.apply_group(demo())
    clash = other_group(
        group=Group(id="acme", enterprise_id="acme", name="ACME", domain="callconnect.local"),
        users=(User(user_id="jean.dupont", group_id="acme", first_name="J", last_name="D",
                    numbers=("+3222211201",)),),
    )
    with pytest.raises(ProvisioningError) as exc:
        await store.apply_group(clash)
    assert exc.value.problems == (
        "group.domain: domain callconnect.local already belongs to group 'demo'",
        "users[0].user_id: user id 'jean.dupont' already belongs to group 'demo'",
        "users[0].numbers[0]: number +3222211201 already belongs to group 'demo'",
    )
    assert [g.id for g in await store.list_groups()] == ["demo"]


async def test_the_feature_code_style_is_stored(store: SubscriberStore) -> None:
    await store.apply_group(demo())
    assert (await store.export_group("demo")).group.feature_codes == "both"
    star = replace(demo(), group=replace(demo().group, feature_codes="star"))
    report = await store.apply_group(star)
    assert report.count("group") == ChangeCount(updated=1)
    assert report.count("users") == ChangeCount()
    assert (await store.export_group("demo")).group.feature_codes == "star"
    group = (await store.load_directory()).group_by_id("demo")
    assert group is not None and group.feature_codes == "star"
    assert [g.feature_codes for g in await store.list_groups()] == ["star"]
    assert not (await store.apply_group(star)).changed


async def test_two_groups(store: SubscriberStore) -> None:
    await store.apply_group(demo())
    report = await store.apply_group(other_group())
    assert report.count("users") == ChangeCount(created=1)
    directory = await store.load_directory()
    assert [g.id for g in directory.groups] == ["acme", "demo"]
    acme = directory.group_by_domain("acme.example")
    assert acme is not None
    bob = directory.resolve_user("201", acme)
    assert bob is not None and bob.user_id == "bob"
    assert (await store.apply_group(demo())).summary() == "group demo: no changes"
    # an enterprise renamed by one group's file is renamed for all its groups
    renamed = replace(demo(), enterprise=Enterprise(id="demo", name="Demo SA"))
    assert (await store.apply_group(renamed)).count("enterprise") == ChangeCount(updated=1)
    assert (await store.export_group("demo")).enterprise.name == "Demo SA"
