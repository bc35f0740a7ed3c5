"""The Lynn sandbox: a persistent emulator of Lynn's Outbound REST API (see docs/sandbox.md).

It imports nothing from the rest of ``lynn_mcp`` so it stays an independent oracle for tests.
"""

from lynn_mcp.sandbox.app import create_app
from lynn_mcp.sandbox.faults import Faults
from lynn_mcp.sandbox.runner import SandboxServer, main
from lynn_mcp.sandbox.seed import (
    OTHER_ACCESS_TOKEN,
    OTHER_ACCESS_TOKEN_SECRET,
    OTHER_CAMPAIGN_ID,
    OTHER_TENANT,
    SEED_ACCESS_TOKEN,
    SEED_ACCESS_TOKEN_SECRET,
    SEED_CAMPAIGN_ID,
    SEED_PHONE_COLUMN,
    SEED_TEMPLATE_COLUMNS,
    SEED_TEMPLATE_ID,
    SEED_TENANT,
)

__all__ = [
    "OTHER_ACCESS_TOKEN",
    "OTHER_ACCESS_TOKEN_SECRET",
    "OTHER_CAMPAIGN_ID",
    "OTHER_TENANT",
    "SEED_ACCESS_TOKEN",
    "SEED_ACCESS_TOKEN_SECRET",
    "SEED_CAMPAIGN_ID",
    "SEED_PHONE_COLUMN",
    "SEED_TEMPLATE_COLUMNS",
    "SEED_TEMPLATE_ID",
    "SEED_TENANT",
    "Faults",
    "SandboxServer",
    "create_app",
    "main",
]
