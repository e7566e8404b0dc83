"""The HTTP side of the server: an aiohttp application factory.

It serves health and status for operators and load balancers (`/healthz`, `/status`); when given
`provisioning`, the Yealink auto-provisioning files (`/provisioning/{file}`, `webui.provisioning`); when given
`portal`, the user portal of the guide (`webui.views`, HTML) and its REST API (`webui.api`, `/api/v1`), both
over `webui.services` (with the BLF tab's live lamps, `webui.lamp_stream`, when the portal has a
`LampFeed`), and the group administrator's pages (`webui.admin_views`, `/admin`) and API
(`webui.admin_api`, `/api/v1/admin`) over `webui.admin_service` (refused when the portal has none), and
the API tokens of both (`webui.token_api`, `/api/v1/tokens`).
Every answer carries the security headers (`webui.web`). Services come in through
`create_app` arguments and typed `AppKey`s; this module holds no global state and knows no SIP.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from webui.account_views import add_account_routes
from webui.admin_api import add_admin_api_routes
from webui.admin_views import add_admin_routes
from webui.api import add_api_routes
from webui.lamp_stream import setup_lamp_streams
from webui.mailbox import add_mailbox_routes
from webui.provisioning import ProvisioningFiles, add_provisioning_routes
from webui.token_api import add_token_api_routes
from webui.views import add_portal_routes
from webui.web import PORTAL_KEY, STATIC, Portal, security_headers_middleware, session_middleware, setup_templates

__all__ = ["STATUS_KEY", "create_app"]

StatusProvider = Callable[[], dict[str, object]]
STATUS_KEY: web.AppKey[StatusProvider] = web.AppKey("status")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def status(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATUS_KEY]())


def create_app(*, running_status: StatusProvider, provisioning: ProvisioningFiles | None = None,
               portal: Portal | None = None) -> web.Application:
    app = web.Application(middlewares=[security_headers_middleware, session_middleware],
                          client_max_size=2 * 1024 * 1024)
    app[STATUS_KEY] = running_status
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/status", status)
    if provisioning is not None:
        add_provisioning_routes(app, provisioning)
    if portal is not None:
        app[PORTAL_KEY] = portal
        setup_templates(app)
        setup_lamp_streams(app)
        add_portal_routes(app)
        add_api_routes(app)
        add_admin_routes(app)  # without an admin service every admin page and operation is refused (403)
        add_admin_api_routes(app)
        add_token_api_routes(app)
        add_account_routes(app)
        add_mailbox_routes(app)
        if portal.voicemail is not None and hasattr(portal.voicemail, "close"):
            store = portal.voicemail

            async def close_voicemail(_: web.Application) -> None:
                store.close()

            app.on_cleanup.append(close_voicemail)
        if portal.tokens is not None and hasattr(portal.tokens, "close"):
            tokens = portal.tokens

            async def close_tokens(_: web.Application) -> None:
                await tokens.close()

            app.on_cleanup.append(close_tokens)
        app.router.add_static("/static/", STATIC)
    return app
