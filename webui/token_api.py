"""API tokens under `/api/v1/tokens`: an end user or a group administrator makes, lists and revokes the bearer
tokens their scripts use (`Authorization: Bearer cc_…`, RFC 6750 §2.1, checked by `webui.web`).

Tokens are managed from a logged-in session only (cookie and CSRF token): a token cannot make or revoke
tokens, so a leaked one cannot entrench itself. The token is in the answer that makes it and nowhere else
afterwards. The portal's Profile tab offers the same (`webui.views`) through `make_token` / `tokens_of` /
`revoke_token`.

It knows aiohttp and `TokenStore`; no SIP, no storage.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, Final

from aiohttp import web

from webui.security import (
    TOKEN_NAME_MISSING,
    TOKEN_NAME_TOO_LONG,
    ApiTokenInfo,
    Session,
    TokenStore,
    token_name_problem,
    token_owner,
)
from webui.web import CSRF_HEADER, PORTAL_KEY, current_session, require_csrf

__all__ = ["TOKEN_PROBLEMS", "TokenRefused", "add_token_api_routes", "make_token", "revoke_token", "tokens_of"]

PREFIX: Final = "/api/v1/tokens"
LOG_IN_FIRST: Final = "Log in first."
TOO_MANY_TOKENS: Final = "You have the most tokens allowed: revoke one first."
TOKEN_PROBLEMS: Final = (TOKEN_NAME_MISSING, TOKEN_NAME_TOO_LONG, LOG_IN_FIRST, TOO_MANY_TOKENS)
"""What `TokenRefused` says (in English in the API; the Profile tab translates it)."""


class TokenRefused(Exception):
    """A token could not be made: `field` ("name") and the message to show next to it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _store(request: web.Request) -> TokenStore:
    tokens = request.app[PORTAL_KEY].tokens
    if tokens is None:
        raise web.HTTPNotFound(text='{"error": "API tokens are not offered here"}', content_type="application/json")
    return tokens


def _owner(request: web.Request, *, write: bool = False) -> str:
    session = current_session(request)
    owner = token_owner(session) if session is not None else None
    if session is None or owner is None:
        raise web.HTTPUnauthorized(text='{"error": "log in first"}', content_type="application/json")
    if session.token_id is not None:
        raise web.HTTPForbidden(text='{"error": "tokens are made and revoked from a logged-in session"}',
                                content_type="application/json")
    if write:
        require_csrf(request, request.headers.get(CSRF_HEADER))
    return owner


def describe(token: ApiTokenInfo) -> dict[str, Any]:
    return {"id": token.id, "name": token.name, "created_at": token.created_at, "last_used_at": token.last_used_at}


async def tokens_of(store: TokenStore, session: Session) -> Sequence[ApiTokenInfo]:
    owner = token_owner(session)
    return await store.list(owner) if owner is not None else []


async def make_token(store: TokenStore, session: Session, name: object) -> tuple[str, ApiTokenInfo]:
    """A new token named `name` for the session's user or administrator; raises TokenRefused."""
    owner = token_owner(session)
    problem = token_name_problem(name)
    if owner is None or problem is not None:
        raise TokenRefused("name", problem or LOG_IN_FIRST)
    assert isinstance(name, str)
    made = await store.create(owner, name.strip(), time.time())
    if made is None:
        raise TokenRefused("name", TOO_MANY_TOKENS)
    return made


async def revoke_token(store: TokenStore, session: Session, token_id: str) -> bool:
    owner = token_owner(session)
    return owner is not None and len(token_id) <= 40 and await store.revoke(owner, token_id)


async def tokens_get(request: web.Request) -> web.Response:
    owner = _owner(request)
    return web.json_response([describe(t) for t in await _store(request).list(owner)])


async def tokens_post(request: web.Request) -> web.Response:
    _owner(request, write=True)
    store = _store(request)
    try:
        body = json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        return web.json_response({"error": "the body must be JSON"}, status=400)
    if not isinstance(body, dict):
        return web.json_response({"error": "the body must be a JSON object"}, status=400)
    session = current_session(request)
    assert session is not None
    try:
        token, kept = await make_token(store, session, body.get("name"))
    except TokenRefused as refused:
        return web.json_response({"errors": [{"field": refused.field, "message": refused.message}]}, status=422)
    return web.json_response({**describe(kept), "token": token}, status=201)


async def token_delete(request: web.Request) -> web.Response:
    _owner(request, write=True)
    session = current_session(request)
    assert session is not None
    if not await revoke_token(_store(request), session, request.match_info["token_id"]):
        return web.json_response({"error": "no such token"}, status=404)
    return web.json_response({"deleted": True})


def add_token_api_routes(app: web.Application) -> None:
    app.router.add_get(PREFIX, tokens_get)
    app.router.add_post(PREFIX, tokens_post)
    app.router.add_delete(PREFIX + "/{token_id}", token_delete)
