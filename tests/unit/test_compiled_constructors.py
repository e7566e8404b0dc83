"""The dataclasses of the compiled SIP hot path (setup.py) have hand-written constructors.

mypyc compiles every method written in the source, but `@dataclass` generates `__init__` at import time, and
that one runs interpreted: a frozen dataclass of three fields takes about 0.9 µs to build against 0.05 µs for a
compiled `__init__`, and a call builds dozens of them (URIs, Vias, events, actions). So these classes are
declared `@dataclass(init=False, ...)` with an explicit `__init__`; what was `frozen=True` keeps its
immutability as `Final` fields (mypy rejects assignments, compiled code raises) and its hash as
`unsafe_hash=True`. The subscriber and feature models (features/, provisioning/) are built when the directory
loads, not per message, and keep generated constructors.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import types
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def compiled_hot_path_modules() -> list[str]:
    """Module names of setup.py's COMPILED_MODULES under sipserver/, read without running setup.py."""
    tree = ast.parse((REPO_ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "COMPILED_MODULES" for target in node.targets):
            paths = ast.literal_eval(node.value)
            return [p.removesuffix(".py").replace("/", ".") for p in paths if p.startswith("sipserver/")]
    raise AssertionError("setup.py has no COMPILED_MODULES list")


def dataclasses_defined_in(module_name: str) -> list[type]:
    module = importlib.import_module(module_name)
    return [obj for obj in vars(module).values()
            if inspect.isclass(obj) and obj.__module__ == module_name and dataclasses.is_dataclass(obj)]


def test_the_hot_path_list_is_read() -> None:
    modules = compiled_hot_path_modules()
    assert "sipserver.parser" in modules and "sipserver.b2bua.call" in modules


@pytest.mark.parametrize("module_name", compiled_hot_path_modules())
def test_dataclasses_of_compiled_modules_write_their_own_constructor(module_name: str) -> None:
    generated = [cls.__qualname__ for cls in dataclasses_defined_in(module_name)
                 if vars(cls)["__dataclass_params__"].init]
    assert not generated, f"{module_name}: declare these @dataclass(init=False, ...) with an __init__: {generated}"


@pytest.mark.parametrize("module_name", compiled_hot_path_modules())
def test_constructors_are_compiled_when_the_module_is(module_name: str) -> None:
    module = importlib.import_module(module_name)
    if not str(getattr(module, "__file__", "")).endswith(".so"):
        return  # this install runs the sources as they are (CALLCONNECT_PURE_PYTHON=1)
    interpreted = [cls.__qualname__ for cls in dataclasses_defined_in(module_name)
                   if isinstance(vars(cls).get("__init__"), types.FunctionType)]
    assert not interpreted, f"{module_name}: these constructors run interpreted: {interpreted}"
