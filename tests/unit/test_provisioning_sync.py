"""Which phones get a check-sync after a directory change (`provisioning.sync`): exactly those whose files
would be served with other bytes, new phones included, removed phones not."""

from __future__ import annotations

from dataclasses import replace

from features.model import Blf, DoNotDisturb
from provisioning.demo import demo_group_description
from provisioning.model import Device, Directory, GroupDescription, User, provisioning_ha1
from provisioning.sync import devices_to_resync, file_digests, rendered_files
from provisioning.yealink import ProvisioningServer, render_common, render_device

SERVER = ProvisioningServer(host="192.0.2.10", port=5060, transport="tcp")
JEAN_PHONE, MARIE_PHONE = "001565000201", "001565000202"


def demo() -> GroupDescription:
    return demo_group_description()


def with_user(desc: GroupDescription, user_id: str, **changes: object) -> GroupDescription:
    users = tuple(replace(u, **changes) if u.user_id == user_id else u for u in desc.users)  # type: ignore[arg-type]
    return replace(desc, users=users)


def with_devices(desc: GroupDescription, *devices: Device) -> GroupDescription:
    return replace(desc, devices=devices)


def user(desc: GroupDescription, user_id: str) -> User:
    found = desc.user(user_id)
    assert found is not None
    return found


def macs(old: GroupDescription, new: GroupDescription) -> list[str]:
    return [d.mac for d in devices_to_resync(Directory([old]), Directory([new]), SERVER)]


def test_the_same_snapshot_resyncs_nobody() -> None:
    assert macs(demo(), demo()) == []
    assert devices_to_resync(Directory([demo()], revision=1), Directory([demo()], revision=2), SERVER) == []


def test_a_new_blf_selection_resyncs_the_owners_phone_only() -> None:
    old = demo()
    jean = user(old, "jean.dupont")
    new = with_user(old, "jean.dupont", services=replace(jean.services, blf=Blf(
        monitored_users=("sophie.lambert", "marie.martin"), list_uri=jean.services.blf.list_uri)))
    changed = devices_to_resync(Directory([old]), Directory([new]), SERVER)
    assert [d.mac for d in changed] == [JEAN_PHONE]
    assert changed[0] == Directory([new]).device_by_mac(JEAN_PHONE)


def test_a_renamed_colleague_resyncs_her_phone_and_the_phones_watching_her() -> None:
    new = with_user(demo(), "marie.martin", last_name="Dubois")  # her account label, Jean's key label
    assert macs(demo(), new) == [JEAN_PHONE, MARIE_PHONE]
    new = with_user(demo(), "sophie.lambert", last_name="Leroy")  # no phone of her own, on Jean's keys
    assert macs(demo(), new) == [JEAN_PHONE]


def test_new_phones_are_listed_and_removed_ones_are_not() -> None:
    jean_phone, marie_phone = demo().devices
    only_marie = with_devices(demo(), marie_phone)
    assert macs(only_marie, demo()) == [JEAN_PHONE]
    assert macs(demo(), only_marie) == []
    moved = replace(jean_phone, owner="pieter.peeters")  # the same MAC, another account: a new file
    assert macs(demo(), with_devices(demo(), moved, marie_phone)) == [JEAN_PHONE]


def test_device_label_and_model_changes_are_listed() -> None:
    jean_phone, marie_phone = demo().devices
    relabelled = with_devices(demo(), replace(jean_phone, label="Accueil"), marie_phone)
    assert macs(demo(), relabelled) == [JEAN_PHONE]
    remodelled = with_devices(demo(), jean_phone, replace(marie_phone, model="T42U"))
    assert macs(demo(), remodelled) == [MARIE_PHONE]


def test_changes_the_files_do_not_show_resync_nobody() -> None:
    jean_phone, marie_phone = demo().devices
    credential = replace(jean_phone, provisioning_ha1=provisioning_ha1(jean_phone.mac, "new-secret"))
    assert macs(demo(), with_devices(demo(), credential, marie_phone)) == []
    marie = user(demo(), "marie.martin")
    dnd = with_user(demo(), "marie.martin", services=replace(marie.services, dnd=DoNotDisturb(active=True)))
    assert macs(demo(), dnd) == []
    assert macs(demo(), with_user(demo(), "pieter.peeters", email="pieter@elsewhere.example")) == []


def test_another_server_address_resyncs_every_phone() -> None:
    directory = Directory([demo()])
    before = file_digests(directory, SERVER)
    moved = ProvisioningServer(host="192.0.2.11", port=5060, transport="tcp")
    assert [d.mac for d in devices_to_resync(before, directory, moved)] == [JEAN_PHONE, MARIE_PHONE]


def test_digests_of_the_last_notified_snapshot_can_stand_for_it() -> None:
    old, new = Directory([demo()]), Directory([with_user(demo(), "marie.martin", first_name="Maria")])
    assert devices_to_resync(file_digests(old, SERVER), new, SERVER) == devices_to_resync(old, new, SERVER)
    assert set(file_digests(old, SERVER)) == {JEAN_PHONE, MARIE_PHONE}


def test_what_is_compared_is_what_the_http_side_serves() -> None:
    directory = Directory([demo()])
    phone = directory.device_by_mac(MARIE_PHONE)
    assert phone is not None
    marie, group = directory.user_by_id("marie.martin"), directory.group_by_id("demo")
    assert marie is not None and group is not None
    assert rendered_files(phone, directory, SERVER) == (
        render_common("T42S", SERVER) + render_device(phone, marie, group, directory, SERVER, sip_password=None))
    orphan = replace(phone, owner="nobody")
    assert rendered_files(orphan, directory, SERVER) is None
    assert rendered_files(replace(phone, group_id="elsewhere"), directory, SERVER) is None
