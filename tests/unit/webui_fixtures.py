"""Shared fixtures of the portal's unit tests: the demo group in the in-memory store, the real aiohttp app
with its real service layer, a fake click-to-dial that records calls, the real live call state behind the
BLF lamps (`live`), and log-in helpers. `reload()` takes a new directory snapshot after a store change, as
the server does when provisioning changes. API tokens live in a real SQLite database under `tmp_path`."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from blf.lamp import LiveLamps
from provisioning.demo import demo_group_description
from provisioning.model import Directory
from provisioning.store import InMemorySubscriberStore
from sipserver.b2bua.live import LiveCalls
from storage.api_tokens import ApiTokenStore
from webui.admin_service import AdminService
from webui.app import create_app
from webui.manuals import DEFAULT_MANUALS_DIR
from webui.services import PortalService
from webui.web import Portal

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class FakeDialer:
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail: Exception | None = None

    async def __call__(self, user_id: str, number: str) -> None:
        if self.fail is not None:
            raise self.fail
        self.calls.append((user_id, number))


@dataclass
class Row:
    direction: str
    started_at: float
    other_number: str
    other_name: str


@dataclass
class Env:
    client: TestClient
    store: InMemorySubscriberStore
    portal: Portal
    dialer: FakeDialer
    logs: dict[str, list[Row]]
    live: LiveCalls = field(default_factory=LiveCalls)
    directory: list[Directory] = field(default_factory=list)  # the one snapshot the services read

    async def reload(self) -> None:
        self.directory[0] = await self.store.load_directory()

    async def csrf(self, path: str = "/login") -> str:
        response = await self.client.get(path)
        match = CSRF.search(await response.text())
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    async def login(self, username: str = "201", password: str = "portal201") -> str:
        token = await self.csrf()
        response = await self.client.post("/login", data={"csrf_token": token, "username": username,
                                                          "password": password}, allow_redirects=False)
        assert response.status == 303, await response.text()
        return await self.csrf("/portal/profile")

    async def admin_login(self, username: str = "demo.admin", password: str = "demoadmin1") -> str:
        token = await self.csrf()
        response = await self.client.post("/login", data={"csrf_token": token, "username": username,
                                                          "password": password, "user_type": "groupadmin"},
                                          allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/admin/users", await response.text()
        return await self.csrf("/admin/users")

    async def api_admin_login(self, username: str = "demo.admin", password: str = "demoadmin1") -> str:
        response = await self.client.post("/api/v1/admin/session", json={"username": username,
                                                                         "password": password})
        assert response.status == 200, await response.text()
        return str((await response.json())["csrf_token"])

    async def api_login(self, username: str = "201", password: str = "portal201") -> str:
        response = await self.client.post("/api/v1/session", json={"username": username, "password": password})
        assert response.status == 200, await response.text()
        return str((await response.json())["csrf_token"])


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    # cheap Argon2id parameters: the same algorithm and checks, a fraction of the test time
    store = InMemorySubscriberStore(password_hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    await store.apply_group(demo_group_description("callconnect.local"))
    directory = [await store.load_directory()]
    logs: dict[str, list[Row]] = {}

    async def read_log(user_id: str, limit: int) -> list[Row]:
        return logs.get(user_id, [])[:limit]

    dialer = FakeDialer()
    service = PortalService(store, lambda: directory[0], call_log=read_log, click_to_dial=dialer)
    admin = AdminService(store, lambda: directory[0])
    live = LiveCalls()
    portal = Portal(service=service, manuals_dir=DEFAULT_MANUALS_DIR, admin=admin, lamps=LiveLamps(live),
                    tokens=ApiTokenStore(tmp_path / "data"))
    app = create_app(running_status=lambda: {}, portal=portal)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Env(client, store, portal, dialer, logs, live, directory)
    finally:
        await client.close()
