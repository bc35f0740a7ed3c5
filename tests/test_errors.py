"""The error tree: every LynnError subclass states its own code, and errors.py's docstring lists them all."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import lynn_mcp
from lynn_mcp import errors
from lynn_mcp.errors import ERROR_CODES, LynnError, NotFound


def every_lynn_error() -> set[type[LynnError]]:
    """Every subclass defined anywhere in lynn_mcp (each module imported first; not the sandbox,
    which has its own errors, nor __main__, which would run the CLI)."""
    for module in pkgutil.walk_packages(lynn_mcp.__path__, prefix="lynn_mcp."):
        if module.name.startswith("lynn_mcp.sandbox") or module.name == "lynn_mcp.__main__":
            continue
        importlib.import_module(module.name)
    found: set[type[LynnError]] = set()
    pending = [LynnError]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub.__module__.startswith("lynn_mcp."):
                found.add(sub)
            pending.append(sub)
    return found


def test_a_subclass_that_forgets_its_code_is_refused() -> None:
    with pytest.raises(TypeError, match="must state its own `code`"):

        class ForgotItsCode(NotFound):  # would otherwise answer not_found for something else
            pass

    class StatesItsCode(NotFound):
        code = "not_found"

    assert StatesItsCode("gone").for_agent().startswith("not_found: gone.")


def test_the_docstring_tree_lists_every_error_and_each_code_is_known() -> None:
    assert errors.__doc__ is not None
    tree = dict(re.findall(r"^  \+ (\w+)\s+(\w+)", errors.__doc__, flags=re.MULTILINE))
    found = every_lynn_error()
    assert {cls.__name__ for cls in found} == set(tree)
    for cls in found:
        assert "code" in vars(cls)
        assert tree[cls.__name__] == cls.code, cls.__name__
        assert cls.code in ERROR_CODES, cls.__name__
