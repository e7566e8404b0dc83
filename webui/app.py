"""The HTTP side of the server: an aiohttp application factory.

Today it serves health and status for operators and load balancers (`/healthz`, `/status`) and, when given
`provisioning`, the Yealink auto-provisioning files (`/provisioning/{file}`, `webui.provisioning`); the user
portal of the guide (profile, settings, BLF, directory, call log, schedules) grows here with its own issue.
Services come in through `create_app` arguments and typed `AppKey`s; this module holds no global state and
knows no SIP.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from webui.provisioning import ProvisioningFiles, add_provisioning_routes

StatusProvider = Callable[[], dict[str, object]]
STATUS_KEY: web.AppKey[StatusProvider] = web.AppKey("status")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def status(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATUS_KEY]())


def create_app(*, running_status: StatusProvider, provisioning: ProvisioningFiles | None = None) -> web.Application:
    app = web.Application()
    app[STATUS_KEY] = running_status
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/status", status)
    if provisioning is not None:
        add_provisioning_routes(app, provisioning)
    return app
