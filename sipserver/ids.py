"""Fresh identifiers: branches (RFC 3261 §8.1.1.7), tags (§19.3), Call-IDs (§8.1.1.4).

Random enough to be globally unique, cheap enough for the hot path (one `os.urandom` read per id).
Knows nothing else."""

from __future__ import annotations

import base64
import os


def _token(nbytes: int) -> str:
    return base64.urlsafe_b64encode(os.urandom(nbytes)).rstrip(b"=").decode("ascii")


MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7


def new_branch() -> str:
    """A fresh Via branch: the magic cookie and 96 random bits (16 url-safe characters), RFC 3261 §8.1.1.7."""
    return MAGIC_COOKIE + _token(12)


def new_tag() -> str:
    """A From/To tag: at least 32 bits of randomness (RFC 3261 §19.3); we use 72."""
    return _token(9)


def new_call_id(host: str) -> str:
    return f"{_token(15)}@{host}"
