"""The layers' import rules, read from the source (AST; nothing is imported or run).

    leaves   config, errors, redaction, signing   import only each other
    lynn/    the Lynn HTTP side                   never mcp, server or bulk
    bulk/    rows from files to Lynn and back     never mcp or server
    server/  the MCP face                         anything above
    sandbox/ the Lynn emulator                    nothing of lynn_mcp outside itself
    cli, demo, doctor, __main__                   entry points: anything

Imports inside functions and under TYPE_CHECKING count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lynn_mcp"
LEAVES = frozenset({"lynn_mcp.config", "lynn_mcp.errors", "lynn_mcp.redaction", "lynn_mcp.signing"})
ENTRY_POINTS = frozenset({"lynn_mcp.cli", "lynn_mcp.demo", "lynn_mcp.doctor", "lynn_mcp.__main__"})
MCP = ("mcp", "mcp_types")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(module: str, source: str, *, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:  # `from lynn_mcp import server` names a module too
                yield node.lineno, f"{target}.{alias.name}"


def imports_in(path: Path) -> Iterator[tuple[int, str]]:
    return imports_of(
        module_name(path), path.read_text(encoding="utf-8"), is_package=path.name == "__init__.py"
    )


def within(name: str, *prefixes: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def violation(module: str, imported: str) -> str | None:
    """Why `module` may not import `imported`, or None when the layers allow it."""
    ours = within(imported, "lynn_mcp") and imported != "lynn_mcp"
    if within(module, "lynn_mcp.sandbox"):
        if ours and not within(imported, "lynn_mcp.sandbox"):
            return "the sandbox imports nothing of lynn_mcp outside itself"
        return None
    if any(within(module, leaf) for leaf in LEAVES):
        if within(imported, *MCP):
            return "a leaf never imports mcp"
        if ours and not any(within(imported, leaf) for leaf in LEAVES):
            return "a leaf imports only other leaves"
        return None
    if within(module, "lynn_mcp.lynn"):
        if within(imported, *MCP, "lynn_mcp.server", "lynn_mcp.bulk"):
            return "lynn/ never imports mcp, server or bulk"
        return None
    if within(module, "lynn_mcp.bulk"):
        if within(imported, *MCP, "lynn_mcp.server"):
            return "bulk/ never imports mcp or server"
        return None
    if within(module, "lynn_mcp.server") or module in ENTRY_POINTS or module == "lynn_mcp":
        return None
    return "a module outside the layers: put it in lynn/, bulk/, server/ or make it a leaf"


def test_every_import_follows_the_layers() -> None:
    broken = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {module} imports {imported}: {why}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for module in [module_name(path)]
        for line, imported in imports_in(path)
        if (why := violation(module, imported)) is not None
    ]
    assert broken == []


@pytest.mark.parametrize(
    ("module", "imported", "allowed"),
    [
        ("lynn_mcp.lynn.client", "mcp.types", False),
        ("lynn_mcp.lynn.client", "lynn_mcp.bulk.loader", False),
        ("lynn_mcp.lynn.client", "lynn_mcp.server.state", False),
        ("lynn_mcp.lynn.client", "lynn_mcp.errors", True),
        ("lynn_mcp.bulk.loader", "lynn_mcp.lynn.client", True),
        ("lynn_mcp.bulk.loader", "mcp_types", False),
        ("lynn_mcp.bulk.loader", "lynn_mcp.server.tools.base", False),
        ("lynn_mcp.server.consent", "lynn_mcp.bulk.loads", True),
        ("lynn_mcp.errors", "lynn_mcp.lynn.models", False),
        ("lynn_mcp.redaction", "lynn_mcp.config", True),
        ("lynn_mcp.redaction.registry", "lynn_mcp.redaction.patterns", True),
        ("lynn_mcp.redaction.logs", "lynn_mcp.lynn.client", False),
        ("lynn_mcp.sandbox.app", "lynn_mcp.errors", False),
        ("lynn_mcp.sandbox.app", "lynn_mcp.sandbox.store", True),
        ("lynn_mcp.somewhere", "json", False),
    ],
)
def test_the_rules_themselves(module: str, imported: str, allowed: bool) -> None:
    """The checker would fail on a forbidden import (and only on one)."""
    assert (violation(module, imported) is None) == allowed


def test_relative_and_lazy_imports_count() -> None:
    source = """
from ..errors import LynnError
from . import models
def later():
    from lynn_mcp.server.state import AppState
"""
    names = [name for _, name in imports_of("lynn_mcp.lynn.client", source)]
    assert "lynn_mcp.errors" in names
    assert "lynn_mcp.lynn.models" in names
    reasons = {
        violation("lynn_mcp.lynn.client", name) for name in names if name.startswith("lynn_mcp.server")
    }
    assert reasons == {"lynn/ never imports mcp, server or bulk"}
    assert module_name(PACKAGE / "bulk" / "__init__.py") == "lynn_mcp.bulk"
