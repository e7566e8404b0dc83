"""Fixtures of the group administrator tests: the demo group and a second group ("other", with its own user
and administrator) in the in-memory store, the real app with the real admin and portal services, and the
directory snapshot the login looks administrators up in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from provisioning.demo import demo_group_description
from provisioning.model import Enterprise, Group, GroupAdministrator, GroupDescription, User, sip_ha1
from provisioning.store import InMemorySubscriberStore
from tests.unit.webui_fixtures import Env, FakeDialer
from webui.admin_service import AdminService
from webui.app import create_app
from webui.manuals import DEFAULT_MANUALS_DIR
from webui.services import PortalService
from webui.web import Portal

__all__ = ["OTHER", "admin_env", "other_group"]

OTHER = "other"


def other_group() -> GroupDescription:
    return GroupDescription(
        enterprise=Enterprise(id="acme", name="Acme"),
        group=Group(id=OTHER, enterprise_id="acme", name="Other", domain="other.local"),
        users=(User(user_id="olivier.autre", group_id=OTHER, first_name="Olivier", last_name="Autre",
                    extension="301", numbers=("+3222213301",), sip_username="301",
                    sip_ha1=sip_ha1("301", "other.local", "demo301")),),
        administrators=(GroupAdministrator(username="other.admin", group_id=OTHER, name="Other admin"),),
        admin_passwords={"other.admin": "otheradmin1"},
        portal_passwords={"olivier.autre": "portal301"},
    )


@pytest.fixture
async def admin_env() -> AsyncIterator[Env]:
    store = InMemorySubscriberStore(password_hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    await store.apply_group(demo_group_description("callconnect.local"))
    await store.apply_group(other_group())
    directory = await store.load_directory()
    dialer = FakeDialer()
    service = PortalService(store, lambda: directory, click_to_dial=dialer)
    portal = Portal(service=service, manuals_dir=DEFAULT_MANUALS_DIR, admin=AdminService(store, lambda: directory))
    client = TestClient(TestServer(create_app(running_status=lambda: {}, portal=portal)))
    await client.start_server()
    try:
        yield Env(client, store, portal, dialer, {})
    finally:
        await client.close()
