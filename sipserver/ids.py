"""Fresh identifiers: branches (RFC 3261 §8.1.1.7), tags (§19.3), Call-IDs (§8.1.1.4).

Random enough to be globally unique (every id is fresh bits from `os.urandom`, none derived from another: 96 bits
per branch, 72 per tag, 120 per Call-ID), cheap enough for the hot path: random octets are read and encoded
(url-safe base64, 6 bits per character) 3 KiB at a time, and each id is a slice of that text. The pool is
dropped in a forked child, so parent and child never hand out the same ids.
Knows nothing else."""

from __future__ import annotations

import base64
import os
import threading
from typing import Final

_POOL_OCTETS: Final = 3072  # a multiple of 3: the base64 text has no padding (4096 characters)
_lock: Final = threading.Lock()
_pool = ""
_pos = 0


def _drop_pool() -> None:
    global _pool, _pos
    _pool = ""
    _pos = 0


if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_drop_pool)


def _token(nchars: int) -> str:
    """`nchars` url-safe base64 characters of fresh randomness (6 bits each)."""
    global _pool, _pos
    with _lock:
        pos = _pos
        end = pos + nchars
        if end > len(_pool):
            _pool = base64.urlsafe_b64encode(os.urandom(_POOL_OCTETS)).decode("ascii")
            pos = 0
            end = nchars
        _pos = end
        return _pool[pos:end]


MAGIC_COOKIE: Final = "z9hG4bK"  # RFC 3261 §8.1.1.7


def new_branch() -> str:
    """A fresh Via branch: the magic cookie and 96 random bits (16 url-safe characters), RFC 3261 §8.1.1.7."""
    return MAGIC_COOKIE + _token(16)


def new_tag() -> str:
    """A From/To tag: at least 32 bits of randomness (RFC 3261 §19.3); we use 72 (12 characters)."""
    return _token(12)


def new_call_id(host: str) -> str:
    return f"{_token(20)}@{host}"
