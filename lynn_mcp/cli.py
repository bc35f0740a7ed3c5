"""`lynn-mcp`: serve MCP over stdio (default) or HTTP, or run the sandbox, the demo, the doctor.

Serving, telemetry runs when the standard `OTEL_*` variables ask for it (server/telemetry.py) and is
flushed when serving ends; over HTTP, SIGTERM and SIGINT shut down gracefully within
`LYNN_SHUTDOWN_GRACE_S` and exit 0 (server/http.py).

Heavy modules (the sandbox, uvicorn, rich) are imported only by the commands that need them, so an
IDE spawning `lynn-mcp` over stdio pays for the MCP SDK and our tools alone. In stdio mode nothing
but MCP messages is written to stdout: logs and messages go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lynn_mcp.config import Settings

SUBCOMMANDS = ("sandbox", "demo", "doctor")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lynn-mcp",
        description=(
            "MCP server for Lynn's Outbound API. Subcommands: `sandbox` (run the Lynn emulator), "
            "`demo` (a guided session on the sandbox), `doctor` (check your configuration; "
            "`doctor --contract` checks Lynn's answers against the contract)."
        ),
    )
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    parser.add_argument(
        "--sandbox", action="store_true", help="start the embedded Lynn sandbox and use it (no Lynn account)"
    )
    parser.add_argument("--base-url", help="Lynn API origin (LYNN_BASE_URL)")
    parser.add_argument("--tenant", type=int, help="Lynn tenant number (LYNN_TENANT)")
    parser.add_argument("--toolsets", help="comma-separated: campaigns,contacts,dnd,data (LYNN_TOOLSETS)")
    parser.add_argument("--tools", help="comma-separated tool allowlist (LYNN_TOOLS)")
    parser.add_argument(
        "--read-only", action="store_true", default=None, help="offer read-only tools only (LYNN_READ_ONLY)"
    )
    parser.add_argument(
        "--operations-file",
        help="TOML dialect file: operation verbs/paths, field and value renames (LYNN_OPERATIONS_FILE)",
    )
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (LYNN_LOG_LEVEL)")
    return parser


def _fail(message: str, code: int = 2) -> int:
    print(f"lynn-mcp: {message}", file=sys.stderr)
    return code


def load_settings(overrides: dict[str, Any]) -> Settings:
    """Settings from env/.env with CLI overrides; raises SystemExit(2) with a readable message."""
    from lynn_mcp import config

    try:
        return config.load_settings(overrides)
    except config.InvalidSettings as exc:
        raise SystemExit(_fail(f"invalid configuration: {exc}")) from None


@contextmanager
def embedded_sandbox() -> Iterator[dict[str, Any]]:
    """Run the sandbox in this process (temporary database) and yield settings pointing at it."""
    from lynn_mcp.sandbox import (
        SEED_ACCESS_TOKEN,
        SEED_ACCESS_TOKEN_SECRET,
        SEED_TENANT,
        SandboxServer,
    )

    with SandboxServer() as sandbox:
        url = sandbox.base_url
        print(f"lynn-mcp: sandbox running at {url} (console: {url}/)", file=sys.stderr)
        yield {
            "base_url": sandbox.base_url,
            "tenant": SEED_TENANT,
            "access_token": SEED_ACCESS_TOKEN,
            "access_token_secret": SEED_ACCESS_TOKEN_SECRET,
            "token": None,
        }


def _no_logging_setup(level: str = "INFO") -> None:
    """Stands in for the SDK's configure_logging once install_redaction has configured logging."""


def _skip_sdk_logging_setup() -> None:
    """MCPServer() calls the SDK's configure_logging, which imports rich and builds a RichHandler
    (~20 ms of every stdio start) only to hand it to logging.basicConfig: a no-op once
    install_redaction has given the root logger its handler. Skip it on our start path."""
    from mcp.server.mcpserver import server as sdk_server

    if hasattr(sdk_server, "configure_logging"):
        sdk_server.configure_logging = _no_logging_setup


def serve(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    from lynn_mcp.errors import ConfigError
    from lynn_mcp.redaction import install_redaction, register_secret
    from lynn_mcp.server import build_server
    from lynn_mcp.server.telemetry import start_telemetry

    settings = load_settings(overrides)
    install_redaction(settings.log_level)
    # Before anything can log: LYNN_HTTP_TOKEN and LYNN_SIGNING_KEY are never seen by the Lynn client.
    for secret in settings.secret_values():
        register_secret(secret)
    _skip_sdk_logging_setup()
    try:
        server = build_server(settings, served_over="http" if args.http else "stdio")
    except ConfigError as exc:
        return _fail(exc.for_agent())
    telemetry = start_telemetry(server)  # None, importing nothing, unless OTEL_* variables ask for it
    try:
        if not args.http:
            server.run("stdio")
            return 0
        from lynn_mcp.server.http import run_http

        return run_http(server, settings, host=args.host, port=args.port)
    finally:
        if telemetry is not None:
            telemetry.shutdown()  # what is still buffered is exported before the process ends


def run_subcommand(name: str, argv: list[str]) -> int:
    """Each subcommand imports its own (heavier) module only when it runs."""
    exit_code: int
    if name == "demo":
        from lynn_mcp import demo

        exit_code = demo.main(argv)
    elif name == "doctor":
        from lynn_mcp import doctor

        exit_code = doctor.main(argv)
    else:
        from lynn_mcp.sandbox import runner

        exit_code = runner.main(argv)
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return run_subcommand(argv[0], argv[1:])
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {
        "base_url": args.base_url,
        "tenant": args.tenant,
        "toolsets": args.toolsets,
        "tools": args.tools,
        "read_only": args.read_only,
        "operations_file": args.operations_file,
        "log_level": args.log_level,
    }
    if args.sandbox:
        with embedded_sandbox() as sandbox_settings:
            return serve(args, {**overrides, **sandbox_settings})
    return serve(args, overrides)
