"""Compiles the SIP hot path with mypyc (part of mypy) into C extension modules; the rest stays plain Python.

The modules below handle every message and every call: parsing, transactions, dialogs, the B2BUA call machine,
the routing and identity rules, the feature engine and the subscriber model they read. They are strictly typed
already (`mypy` runs in the test command), and mypyc turns those types into native classes and direct calls:
about 1.6x less CPU per call (BENCHMARKS.md). The `.py` files stay the source of truth and run as they are when
`CALLCONNECT_PURE_PYTHON=1` is set at install time (no C compiler needed, slower). Everything else is
configured in pyproject.toml.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from setuptools import setup

COMPILED_MODULES = [
    "sipserver/address.py",
    "sipserver/errors.py",
    "sipserver/events.py",
    "sipserver/ids.py",
    "sipserver/uri.py",
    "sipserver/headers.py",
    "sipserver/message.py",
    "sipserver/parser.py",
    "sipserver/timers.py",
    "sipserver/transaction.py",
    "sipserver/dialog.py",
    "sipserver/digest.py",
    "sipserver/stack.py",
    "sipserver/b2bua/admission.py",
    "sipserver/b2bua/auth.py",
    "sipserver/b2bua/call.py",
    "sipserver/b2bua/cdr.py",
    "sipserver/b2bua/identity.py",
    "sipserver/b2bua/inspection.py",
    "sipserver/b2bua/live.py",
    "sipserver/b2bua/location.py",
    "sipserver/b2bua/registrar.py",
    "sipserver/b2bua/routing.py",
    "sipserver/b2bua/termination.py",
    "sipserver/b2bua/diversion.py",
    "sipserver/b2bua/uac_auth.py",
    "sipserver/aio/application.py",
    "sipserver/aio/calls.py",
    "sipserver/aio/server.py",
    "sipserver/aio/transports.py",
    "sipserver/aio/batching.py",
    "sipserver/aio/loadmonitor.py",
    "features/model.py",
    "features/schedules.py",
    "features/engine.py",
    "provisioning/model.py",
    "provisioning/numbers.py",
]

# The build environment has mypy but not the runtime dependencies (structlog, argon2...): their types are
# unknown there, which is fine for compiling; the strict type check of the whole tree is the test command's.
MYPYC_OPTIONS = ["--ignore-missing-imports", "--no-warn-return-any", "--no-warn-unused-ignores"]


# What the extensions were compiled from: tests/conftest.py refuses to run when a source no longer matches.
SOURCES_MANIFEST = Path("build/compiled-sources.json")


def extensions() -> list[object]:
    if os.environ.get("CALLCONNECT_PURE_PYTHON", "") not in ("", "0"):
        return []
    from mypyc.build import mypycify

    built = list(mypycify([*MYPYC_OPTIONS, *COMPILED_MODULES], opt_level="3", debug_level="0"))
    SOURCES_MANIFEST.parent.mkdir(exist_ok=True)
    SOURCES_MANIFEST.write_text(json.dumps(
        {path: hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in COMPILED_MODULES}, indent=1))
    return built


setup(ext_modules=extensions())
