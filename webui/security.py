"""The portal's security state: sessions with their CSRF token, login throttling, password-reset tokens.

- `SessionStore`: server-side sessions keyed by a 256-bit random id (the cookie holds only the id). Every
  visitor gets one (the login form needs a CSRF token too). A session is logged in as an end user
  (`user_id`) or as a group administrator (`admin` with `admin_group`), never both. `rotate()` gives a new
  id at login, `destroy()` ends it at logout, `destroy_user()` ends every session of a user (password
  changed, user deleted). Sessions expire after `idle` seconds without use and `lifetime` seconds at most.
- `LoginThrottle`: failed logins counted per user name and per client address in a sliding window; past the
  limit, further attempts are refused without checking the password until the window has passed.
- `ResetTokens`: single-use, short-lived password-reset tokens; only their SHA-256 is kept, so a memory dump
  cannot be replayed, and using one removes it.
- API tokens (`TokenStore`, kept by `storage.api_tokens`): who owns one (`token_owner()`, `parse_owner()`);
  a request with a token gets a `Session` of its own that is never stored (`token_id` set) and needs no CSRF
  token, since the browser never adds a bearer token by itself.

Pure state with an injected clock; it knows no HTTP, no storage and no users beyond their ids.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from webui.i18n import DEFAULT_LANGUAGE, Language

__all__ = ["MAX_TOKEN_NAME", "TOKEN_NAME_MISSING", "TOKEN_NAME_TOO_LONG", "ApiTokenInfo", "LoginThrottle",
           "ResetTokens", "Session", "SessionStore", "TokenStore", "csrf_matches", "parse_owner",
           "token_name_problem", "token_owner"]

Clock = Callable[[], float]


@dataclass(slots=True)
class Session:
    id: str
    csrf_token: str
    created: float
    last_seen: float
    user_id: str | None = None
    admin: str | None = None  # a group administrator's user name (then user_id is None)
    admin_group: str | None = None  # the group that administrator manages
    language: Language = DEFAULT_LANGUAGE
    flash: list[str] = field(default_factory=list)
    token_id: str | None = None  # set: the request's API token, a session that is never stored


def csrf_matches(session: Session, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(session.csrf_token.encode(), token.encode())


MAX_TOKEN_NAME: Final = 60
TOKEN_NAME_MISSING: Final = "Give the token a name."
TOKEN_NAME_TOO_LONG: Final = "At most 60 characters, without control characters."


class ApiTokenInfo(Protocol):
    """What is kept of a token (never the token itself)."""

    @property
    def id(self) -> str: ...
    @property
    def owner(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def created_at(self) -> float: ...
    @property
    def last_used_at(self) -> float | None: ...


class TokenStore(Protocol):
    """Where API tokens are kept (`storage.api_tokens.ApiTokenStore`); only their digests are."""

    async def create(self, owner: str, name: str, now: float) -> tuple[str, ApiTokenInfo] | None: ...
    async def list(self, owner: str) -> Sequence[ApiTokenInfo]: ...
    async def revoke(self, owner: str, token_id: str) -> bool: ...
    async def exists(self, token_id: str) -> bool: ...
    async def authenticate(self, token: str, now: float) -> ApiTokenInfo | None: ...


def token_owner(session: Session) -> str | None:
    """Who a token made in `session` belongs to: `user:<id>`, `admin:<group>:<username>`, None if nobody."""
    if session.user_id is not None:
        return f"user:{session.user_id}"
    if session.admin is not None and session.admin_group is not None:
        return f"admin:{session.admin_group}:{session.admin}"
    return None


def parse_owner(owner: str) -> tuple[str | None, tuple[str, str] | None]:
    """`(user_id, None)`, `(None, (group_id, username))`, or `(None, None)` for an owner we do not know."""
    kind, _, rest = owner.partition(":")
    if kind == "user" and rest:
        return rest, None
    group, _, username = rest.partition(":")
    if kind == "admin" and group and username:
        return None, (group, username)
    return None, None


def token_name_problem(name: object) -> str | None:
    """What is wrong with a token's name, or None."""
    if not isinstance(name, str) or not name.strip():
        return TOKEN_NAME_MISSING
    if len(name.strip()) > MAX_TOKEN_NAME or not name.isprintable():
        return TOKEN_NAME_TOO_LONG
    return None


class SessionStore:
    def __init__(self, *, idle: float = 1800.0, lifetime: float = 12 * 3600.0, clock: Clock = time.time,
                 max_sessions: int = 100_000) -> None:
        self._sessions: dict[str, Session] = {}
        self.idle = idle
        self.lifetime = lifetime
        self._clock = clock
        self._max = max_sessions

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, language: Language = DEFAULT_LANGUAGE) -> Session:
        now = self._clock()
        if len(self._sessions) >= self._max:
            self.expire()
            if len(self._sessions) >= self._max:  # still full: drop the oldest anonymous ones first
                for sid in sorted(self._sessions, key=lambda s: (self._sessions[s].user_id is not None
                                                                  or self._sessions[s].admin is not None,
                                                                  self._sessions[s].last_seen))[:self._max // 10]:
                    del self._sessions[sid]
        session = Session(id=secrets.token_urlsafe(32), csrf_token=secrets.token_urlsafe(32), created=now,
                          last_seen=now, language=language)
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen > self.idle or now - session.created > self.lifetime:
            del self._sessions[session_id]
            return None
        session.last_seen = now
        return session

    def is_live(self, session: Session) -> bool:
        """Whether `session` is still valid (not logged out, not expired), without counting as a use: a page
        left open with a live stream must not keep its session from expiring."""
        now = self._clock()
        return (self._sessions.get(session.id) is session and now - session.last_seen <= self.idle
                and now - session.created <= self.lifetime)

    def rotate(self, session: Session, user_id: str | None, *, admin: str | None = None,
               admin_group: str | None = None) -> Session:
        """A new session (new id, new CSRF token) carrying `session`'s language, logged in as `user_id` (or
        as the administrator `admin` of `admin_group`); the old id stops working (session fixation)."""
        if user_id is not None and admin is not None:
            raise ValueError("a session is an end user's or an administrator's, not both")
        self._sessions.pop(session.id, None)
        fresh = self.create(session.language)
        fresh.user_id = user_id
        fresh.admin, fresh.admin_group = (admin, admin_group) if admin is not None else (None, None)
        return fresh

    def destroy(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    def destroy_admin(self, username: str) -> int:
        """End every session of the group administrator `username` (password changed, account removed)."""
        ids = [sid for sid, s in self._sessions.items() if s.admin == username]
        for sid in ids:
            del self._sessions[sid]
        return len(ids)

    def destroy_user(self, user_id: str) -> int:
        ids = [sid for sid, s in self._sessions.items() if s.user_id == user_id]
        for sid in ids:
            del self._sessions[sid]
        return len(ids)

    def expire(self) -> None:
        now = self._clock()
        for sid in [sid for sid, s in self._sessions.items()
                    if now - s.last_seen > self.idle or now - s.created > self.lifetime]:
            del self._sessions[sid]


class LoginThrottle:
    """At most `limit` failures per key (user name, client address) within `window` seconds."""

    def __init__(self, *, limit: int = 5, window: float = 300.0, clock: Clock = time.time) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        cutoff = self._clock() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def blocked(self, *keys: str) -> bool:
        return any(len(self._recent(key)) >= self.limit for key in keys)

    def failed(self, *keys: str) -> None:
        now = self._clock()
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


@dataclass(frozen=True, slots=True)
class _Reset:
    user_id: str
    expires: float


class ResetTokens:
    def __init__(self, *, lifetime: float = 1800.0, clock: Clock = time.time) -> None:
        self.lifetime = lifetime
        self._clock = clock
        self._tokens: dict[str, _Reset] = {}

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def issue(self, user_id: str) -> str:
        now = self._clock()
        for key in [k for k, r in self._tokens.items() if r.expires <= now or r.user_id == user_id]:
            del self._tokens[key]  # one live token per user: the newest link wins
        token = secrets.token_urlsafe(32)
        self._tokens[self._key(token)] = _Reset(user_id, now + self.lifetime)
        return token

    def peek(self, token: str) -> str | None:
        """The user a valid token is for, without using it (to show the form)."""
        reset = self._tokens.get(self._key(token))
        if reset is None or reset.expires <= self._clock():
            return None
        return reset.user_id

    def use(self, token: str) -> str | None:
        """The user of a valid token, which is then gone; None for an unknown, used or expired token."""
        reset = self._tokens.pop(self._key(token), None)
        if reset is None or reset.expires <= self._clock():
            return None
        return reset.user_id
