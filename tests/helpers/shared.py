"""Where the shared, read-only reference tree (`shared/`) lives.

The repository's parent directory holds `shared/` next to the checkout, both on developer machines and in
CI (`Path(__file__).resolve().parents[3] / "shared"`). The environment variable `CALLCONNECT_SHARED`
overrides it.
Tests only ever READ from this tree.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "CALLCONNECT_SHARED"


class SharedTreeMissing(RuntimeError):
    """The shared reference tree could not be found: the tests that need it cannot run."""


def shared_dir() -> Path:
    """The `shared/` directory (raises SharedTreeMissing with the places looked at when absent)."""
    override = os.environ.get(ENV_VAR)
    candidate = Path(override) if override else Path(__file__).resolve().parents[3] / "shared"
    if not candidate.is_dir():
        how = f"${ENV_VAR}={override!r}" if override else f"the checkout's parent directory ({candidate})"
        raise SharedTreeMissing(
            f"shared reference tree not found: looked at {how}; "
            f"place shared/ next to the repository or set {ENV_VAR} to its path"
        )
    return candidate


def shared_path(*parts: str) -> Path:
    """A path inside `shared/` that must exist (e.g. `shared_path("conformance", "torture")`)."""
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        raise SharedTreeMissing(f"{path} is missing from the shared reference tree ({shared_dir()})")
    return path


def torture_dir() -> Path:
    return shared_path("conformance", "torture")
