"""`lynn-mcp doctor`: check the configuration against Lynn, step by step, and say what to fix.

Steps, each printed as it runs: the configuration (secrets shown only as set/not set), reaching
the base URL, exchanging the credentials for a token, one read-only call (GetCampaigns), and the
operation table in use. The first failing step ends the run with its own exit code:

    0  everything works
    2  configuration missing or invalid (variables, base URL, operations file)
    3  Lynn cannot be reached (connection refused, unknown host, TLS, timeout)
    4  Lynn refused the credentials (access token and secret, or LYNN_TOKEN)
    5  Lynn refused the tenant (the credentials belong to another tenant)
    6  Lynn answered, but not as expected (unknown path, server error, unreadable answer)

docs/troubleshooting.md lists every message with its fix. Nothing here prints a secret.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import sys
import textwrap
from collections.abc import Sequence
from enum import IntEnum
from typing import Any, TextIO

import anyio
import httpx2

from lynn_mcp.config import InvalidSettings, Settings, load_settings
from lynn_mcp.errors import (
    ConfigError,
    Forbidden,
    LynnError,
    NotFound,
    Timeout,
    Unauthorized,
    UpstreamUnavailable,
)
from lynn_mcp.lynn.client import LynnClient
from lynn_mcp.lynn.operations import OperationTable, load_operations

WIDTH = 100  # readable in a narrow terminal or a CI log


class Exit(IntEnum):
    OK = 0
    CONFIG = 2
    UNREACHABLE = 3
    CREDENTIALS = 4
    TENANT = 5
    UNEXPECTED = 6


class Problem(Exception):
    """A failed check: what is wrong and how to fix it, in plain words."""

    def __init__(self, exit_code: Exit, what: str, fix: str) -> None:
        super().__init__(what)
        self.exit_code, self.what, self.fix = exit_code, what, fix


class Report:
    """Prints each check as `[ ok ]` / `[FAIL]` lines; the fix goes under the failing one."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def line(self, text: str = "") -> None:
        print(text, file=self._out, flush=True)

    def ok(self, text: str) -> None:
        self.line(f"[ ok ] {text}")

    def fail(self, problem: Problem) -> None:
        self.line(textwrap.fill(problem.what, WIDTH, initial_indent="[FAIL] ", subsequent_indent=" " * 7))
        self.line(
            textwrap.fill(problem.fix, WIDTH, initial_indent="       fix: ", subsequent_indent=" " * 12)
        )


def _settings(overrides: dict[str, Any]) -> Settings:
    try:
        return load_settings(overrides)
    except InvalidSettings as exc:
        raise Problem(
            Exit.CONFIG,
            f"the configuration is invalid: {exc}",
            "correct the variables named above (environment, .env file or command-line flags)",
        ) from None


def check_configuration(settings: Settings, report: Report) -> OperationTable:
    report.line("Configuration (secrets are shown only as set / not set):")
    for name, value in settings.masked().items():
        report.line(f"  {name:<26} {value}")
    missing = settings.missing()
    if missing:
        raise Problem(
            Exit.CONFIG,
            "the configuration is incomplete: " + "; ".join(missing),
            "set the variables named above in the server's environment (or a .env file) and run "
            "`lynn-mcp doctor` again; `lynn-mcp sandbox` prints working values for a local try",
        )
    try:
        table = load_operations(settings.operations_file)
    except ConfigError as exc:
        raise Problem(
            Exit.CONFIG, exc.message, "fix the file, or unset LYNN_OPERATIONS_FILE to use the built-in table"
        ) from None
    report.ok("configuration complete")
    return table


async def check_reachable(settings: Settings, report: Report) -> None:
    """Any HTTP answer from the origin counts: this step is about the network, not the API."""
    timeout = httpx2.Timeout(settings.timeout, connect=settings.connect_timeout)
    try:
        async with httpx2.AsyncClient(timeout=timeout, follow_redirects=False) as http:
            response = await http.get(settings.base_url + "/")
    except httpx2.TimeoutException:
        raise Problem(
            Exit.UNREACHABLE,
            f"{settings.base_url} did not answer within {settings.connect_timeout:g} s",
            "check LYNN_BASE_URL, your network, VPN or proxy; raise LYNN_CONNECT_TIMEOUT on a slow link",
        ) from None
    except httpx2.ConnectError as exc:
        raise Problem(
            Exit.UNREACHABLE,
            f"cannot connect to {settings.base_url} ({_connect_reason(exc)})",
            "check LYNN_BASE_URL (spelling, port, https) and that the host is reachable from this "
            "machine; for the sandbox, start `lynn-mcp sandbox` and use the URL it prints",
        ) from None
    except httpx2.TransportError as exc:
        raise Problem(
            Exit.UNREACHABLE,
            f"the connection to {settings.base_url} failed ({type(exc).__name__})",
            "check LYNN_BASE_URL and any proxy between this machine and Lynn",
        ) from None
    report.ok(f"reached {settings.base_url} (HTTP {response.status_code})")


def _connect_reason(exc: httpx2.ConnectError) -> str:
    """The OS-level cause, found by walking the chain (httpx2 wraps it two or three times)."""
    cause: BaseException | None = exc
    for _ in range(10):
        if cause is None:
            break
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused: nothing listens on that port"
        if isinstance(cause, socket.gaierror):
            return "unknown host name: check the spelling, or your DNS"
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed: check the https URL, or a proxy replacing certificates"
        cause = cause.__cause__ or cause.__context__
    return str(exc) or type(exc).__name__


async def check_lynn(settings: Settings, table: OperationTable, report: Report) -> None:
    """Exchange the credentials (if any) and call GetCampaigns, telling the two failures apart."""
    exchanging = settings.access_token is not None and settings.access_token_secret is not None
    async with LynnClient(settings, operations=table) as client:
        try:
            campaigns = await client.list_campaigns()
        except LynnError as exc:
            raise _problem(exc, settings, table, exchanged=client.token_exchanges > 0) from None
        if exchanging:
            report.ok(f"token exchange accepted for tenant {settings.tenant}")
        else:
            report.ok("LYNN_TOKEN accepted")
    report.ok(f"read-only call GetCampaigns answered: {len(campaigns)} campaign(s)")


def _problem(exc: LynnError, settings: Settings, table: OperationTable, *, exchanged: bool) -> Problem:
    tenant = settings.tenant
    if isinstance(exc, Unauthorized):
        if settings.access_token is not None and not exchanged:
            return Problem(
                Exit.CREDENTIALS,
                f"Lynn refused the access token and secret for tenant {tenant} (CreateToken answered 401)",
                "check LYNN_ACCESS_TOKEN and LYNN_ACCESS_TOKEN_SECRET (copy them again from Lynn's admin "
                f"screen; an administrator can create a new pair), and that the pair was issued for tenant "
                f"{tenant}",
            )
        return Problem(
            Exit.CREDENTIALS,
            "Lynn refused the bearer token (401): LYNN_TOKEN is wrong or has expired",
            "unset LYNN_TOKEN and set LYNN_ACCESS_TOKEN and LYNN_ACCESS_TOKEN_SECRET instead, so lynn-mcp "
            "can renew tokens itself",
        )
    if isinstance(exc, Forbidden):
        return Problem(
            Exit.TENANT,
            f"Lynn accepted the credentials but refused tenant {tenant} (403): they belong to another tenant",
            "set LYNN_TENANT to the tenant number the credentials were issued for (Lynn's admin screen "
            "shows it), or use credentials of this tenant",
        )
    if isinstance(exc, NotFound):
        operation = table["GetCampaigns"]
        return Problem(
            Exit.UNEXPECTED,
            f"Lynn has no {operation.method} {operation.path} (404): this deployment's paths differ "
            f"from the operation table ({table.source})",
            "point LYNN_OPERATIONS_FILE at a TOML file with your deployment's verbs and paths "
            "(see README, 'Operation table'); check LYNN_BASE_URL points at the API host",
        )
    if isinstance(exc, Timeout | UpstreamUnavailable) and "could not reach" in exc.message:
        return Problem(Exit.UNREACHABLE, exc.message, "check LYNN_BASE_URL and the network")
    return Problem(
        Exit.UNEXPECTED,
        f"Lynn answered, but not as expected: {exc.message}",
        exc.hint or "try again in a minute; if it persists, check the operation table and LYNN_BASE_URL",
    )


def print_operations(table: OperationTable, report: Report) -> None:
    report.line(f"Operation table in use ({table.source}):")
    for name in table.names():
        operation = table[name]
        report.line(f"  {name:<28} {operation.method:<6} {operation.path}")


async def diagnose(overrides: dict[str, Any], out: TextIO) -> Exit:
    report = Report(out)
    try:
        settings = _settings(overrides)
        # The doctor reports the first failure as it is; retries would only delay the answer.
        settings = settings.model_copy(update={"max_retries": 0})
        table = check_configuration(settings, report)
        await check_reachable(settings, report)
        await check_lynn(settings, table, report)
    except Problem as problem:
        report.fail(problem)
        report.line(f"lynn-mcp doctor: failed (exit {int(problem.exit_code)}); see docs/troubleshooting.md")
        return problem.exit_code
    print_operations(table, report)
    report.line("lynn-mcp doctor: all checks passed; the server is ready for your MCP client.")
    return Exit.OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lynn-mcp doctor",
        description="Check the Lynn configuration step by step and say what to fix.",
        epilog="Exit codes: 0 ok, 2 configuration, 3 unreachable, 4 credentials, 5 tenant, 6 unexpected.",
    )
    parser.add_argument("--base-url", help="Lynn API origin (LYNN_BASE_URL)")
    parser.add_argument("--tenant", type=int, help="Lynn tenant number (LYNN_TENANT)")
    parser.add_argument(
        "--operations-file", help="TOML override of operation verbs/paths (LYNN_OPERATIONS_FILE)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    overrides = {"base_url": args.base_url, "tenant": args.tenant, "operations_file": args.operations_file}
    return int(anyio.run(diagnose, overrides, sys.stdout))
