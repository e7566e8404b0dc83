"""Checks for the whole test session."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCES_MANIFEST = REPO_ROOT / "build" / "compiled-sources.json"  # written by setup.py when it compiles


def stale_compiled_modules(root: Path = REPO_ROOT, manifest: Path = SOURCES_MANIFEST) -> list[str]:
    """Sources whose mypyc-compiled extension (setup.py) was built from other contents: Python imports the
    extension, so the tests would run yesterday's code."""
    extensions = [e for package in ("sipserver", "features", "provisioning") for e in (root / package).rglob("*.so")]
    if not extensions:
        return []  # the sources run as they are
    built_from: dict[str, str] = json.loads(manifest.read_text()) if manifest.exists() else {}
    stale = []
    for extension in extensions:
        source = extension.with_name(extension.name.split(".", 1)[0] + ".py")
        relative = str(source.relative_to(root))
        if built_from.get(relative) != hashlib.sha256(source.read_bytes()).hexdigest():
            stale.append(relative)
    return sorted(stale)


def pytest_sessionstart(session: pytest.Session) -> None:
    stale = stale_compiled_modules()
    if stale:
        raise pytest.UsageError(
            f"compiled modules built from other sources: {', '.join(stale)}. Rebuild them with "
            f"`python setup.py build_ext --inplace` (./scripts/test does), or delete the *.so files to run the "
            f"sources as they are."
        )
