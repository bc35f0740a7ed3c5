"""Which tools a server exposes: toolsets, an allowlist, and read-only mode (which wins).

Unknown names fail start-up with a message listing the valid ones, so a typo in an IDE config is
seen at once instead of silently hiding tools.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lynn_mcp.config import TOOLSET_NAMES, Settings, split_names
from lynn_mcp.errors import ConfigError


@dataclass(frozen=True)
class ToolInfo:
    name: str
    toolset: str
    read_only: bool


@dataclass(frozen=True)
class Selection:
    enabled: frozenset[str]
    disabled: Mapping[str, str]
    """Tool name → why it is not offered (said to an agent that calls it anyway)."""


def select_tools(settings: Settings, tools: Mapping[str, ToolInfo]) -> Selection:
    """Apply LYNN_TOOLSETS, LYNN_TOOLS and LYNN_READ_ONLY to the registered tools."""
    toolsets = split_names(settings.toolsets)
    allowlist = split_names(settings.tools)
    if toolsets is not None:
        unknown = sorted(set(toolsets) - set(TOOLSET_NAMES))
        if unknown:
            raise ConfigError(
                f"unknown toolset(s) {', '.join(unknown)} in LYNN_TOOLSETS/--toolsets; "
                f"valid: {', '.join(TOOLSET_NAMES)}"
            )
    if allowlist is not None:
        unknown = sorted(set(allowlist) - set(tools))
        if unknown:
            raise ConfigError(
                f"unknown tool(s) {', '.join(unknown)} in LYNN_TOOLS/--tools; "
                f"valid: {', '.join(sorted(tools))}"
            )
    disabled: dict[str, str] = {}
    for info in tools.values():
        if settings.read_only and not info.read_only:
            disabled[info.name] = "the server runs read-only (LYNN_READ_ONLY)"
        elif toolsets is not None and info.toolset not in toolsets:
            disabled[info.name] = f"its toolset {info.toolset!r} is not enabled (LYNN_TOOLSETS)"
        elif allowlist is not None and info.name not in allowlist:
            disabled[info.name] = "it is not in the tool allowlist (LYNN_TOOLS)"
    return Selection(enabled=frozenset(set(tools) - set(disabled)), disabled=disabled)
