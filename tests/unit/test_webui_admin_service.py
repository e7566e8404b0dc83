"""`webui.admin_service` on its own: an edit made while the group changes under it (a user's setting, another
process) is made again on the new state, so neither change is lost; refused edits carry provision apply's
paths, relative to the edited entry for a form."""

from __future__ import annotations

from dataclasses import replace

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

from provisioning.demo import demo_group_description
from provisioning.model import GroupDescription
from provisioning.store import ApplyReport, InMemorySubscriberStore
from webui.admin_service import AdminService, ChangeRefused


class Racing(InMemorySubscriberStore):
    """Jean switches DND on in his portal just before the administrator's first apply lands."""

    raced = 0

    async def apply_group(self, desc: GroupDescription, *, dry_run: bool = False,
                          expected: GroupDescription | None = None) -> ApplyReport:
        if expected is not None and not self.raced:
            self.raced += 1
            jean = await self.get_user("jean.dupont")
            assert jean is not None
            await self.update_services("jean.dupont", replace(jean.services, dnd=replace(jean.services.dnd,
                                                                                         active=True)))
        return await super().apply_group(desc, dry_run=dry_run, expected=expected)


async def test_an_edit_racing_a_users_change_loses_neither() -> None:
    store = Racing(password_hasher=PasswordHasher.from_parameters(CHEAPEST))
    await store.apply_group(demo_group_description())
    service = AdminService(store, lambda: None)  # type: ignore[arg-type,return-value]
    await service.save_user("demo", "marie.martin", {"extension": "212"})
    assert store.raced == 1
    jean, marie = await store.get_user("jean.dupont"), await store.get_user("marie.martin")
    assert jean is not None and jean.services.dnd.active
    assert marie is not None and marie.extension == "212"


async def test_refused_edits_carry_the_provisioning_paths() -> None:
    store = InMemorySubscriberStore(password_hasher=PasswordHasher.from_parameters(CHEAPEST))
    await store.apply_group(demo_group_description())
    service = AdminService(store, lambda: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ChangeRefused) as info:
        await service.save_user("demo", "marie.martin", {"extension": "201", "numbers": ["bad"]})
    assert info.value.focus == "users[1]"
    assert [p for p, _ in info.value.problems] == ["users[1].numbers[0]"]
    assert info.value.fields() == {"numbers[0]": info.value.problems[0][1]}
    with pytest.raises(ChangeRefused) as info:
        await service.save_user("demo", "marie.martin", {"extension": "201"})
    assert info.value.fields("user") == {"user.extension": "'201' is already the extension of user 'jean.dupont'"}


async def test_a_new_sip_user_name_needs_a_new_sip_password() -> None:
    store = InMemorySubscriberStore(password_hasher=PasswordHasher.from_parameters(CHEAPEST))
    await store.apply_group(demo_group_description())
    service = AdminService(store, lambda: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ChangeRefused) as info:
        await service.save_user("demo", "marie.martin", {"sip_username": "marie"})
    assert info.value.fields() == {"sip_password": "is required when the SIP user name changes (the stored hash "
                                                   "covers the user name)"}
    await service.save_user("demo", "marie.martin", {"sip_username": "202"})  # unchanged: fine
    await service.save_user("demo", "marie.martin", {"sip_username": "marie", "sip_password": "new-one"})
    marie = await store.get_user("marie.martin")
    assert marie is not None and marie.sip_username == "marie"
