"""The portal's security state with a fake clock: session expiry and rotation, throttling window,
single-use expiring reset tokens."""

from __future__ import annotations

import pytest

from webui.security import LoginThrottle, ResetTokens, SessionStore, csrf_matches


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sessions_expire_idle_and_absolute() -> None:
    clock = Clock()
    store = SessionStore(idle=60, lifetime=300, clock=clock)
    s = store.create()
    assert store.get(s.id) is s and len(s.id) >= 40 and s.id != s.csrf_token
    clock.now += 61
    assert store.get(s.id) is None
    s = store.create()
    for _ in range(7):
        clock.now += 50
        store.get(s.id)
    assert store.get(s.id) is None  # 300 s at most, however active


def test_rotation_and_destroy_user() -> None:
    store = SessionStore()
    anonymous = store.create("nl")
    logged = store.rotate(anonymous, "u1")
    assert store.get(anonymous.id) is None and logged.user_id == "u1" and logged.language == "nl"
    assert logged.csrf_token != anonymous.csrf_token
    assert csrf_matches(logged, logged.csrf_token) and not csrf_matches(logged, anonymous.csrf_token)
    assert not csrf_matches(logged, None)
    other = store.rotate(store.create(), "u1")
    assert store.destroy_user("u1") == 2 and store.get(other.id) is None


def test_an_administrators_session_is_not_an_end_users() -> None:
    store = SessionStore()
    anonymous = store.create("fr")
    admin = store.rotate(anonymous, None, admin="demo.admin", admin_group="demo")
    assert store.get(anonymous.id) is None and admin.csrf_token != anonymous.csrf_token
    assert (admin.user_id, admin.admin, admin.admin_group) == (None, "demo.admin", "demo")
    user = store.rotate(admin, "u1")  # logging in as a user afterwards drops the administrator
    assert (user.user_id, user.admin, user.admin_group) == ("u1", None, None)
    with pytest.raises(ValueError):
        store.rotate(store.create(), "u1", admin="demo.admin", admin_group="demo")


def test_throttle_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(limit=3, window=100, clock=clock)
    for _ in range(3):
        assert not throttle.blocked("a")
        throttle.failed("a", "peer")
    assert throttle.blocked("a") and throttle.blocked("x", "peer") and not throttle.blocked("b")
    clock.now += 101
    assert not throttle.blocked("a", "peer")


def test_reset_tokens_single_use_expiring_newest_wins() -> None:
    clock = Clock()
    tokens = ResetTokens(lifetime=60, clock=clock)
    first = tokens.issue("u1")
    second = tokens.issue("u1")
    assert tokens.peek(first) is None and tokens.peek(second) == "u1"
    assert tokens.use(second) == "u1" and tokens.use(second) is None
    late = tokens.issue("u2")
    clock.now += 61
    assert tokens.use(late) is None
    assert tokens.use("guess") is None
