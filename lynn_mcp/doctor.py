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
    7  (--contract) Lynn's answers differ from the contract: each difference is named

`--contract` replaces the single GetCampaigns call with the contract check
(`lynn/contract_check.py`): every read-only operation, or with `--writes` (asked first) every
operation on a scratch campaign and contact, held against the contract's shapes. It prints one
table, the dialect-file lines it can infer, and writes a JSON report (`--report FILE`) a user can
send us. docs/troubleshooting.md lists every message with its fix. Nothing here prints a secret:
every line and the report pass through the redaction registry, and phone numbers are masked.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import ssl
import sys
import textwrap
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any, TextIO

import anyio
import httpx2

from lynn_mcp import __version__
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
from lynn_mcp.lynn.contract_check import SCRATCH_PREFIX, ContractCheck, check_contract
from lynn_mcp.lynn.operations import OperationTable, load_operations
from lynn_mcp.redaction import map_strings, redact, register_secret

WIDTH = 100  # readable in a narrow terminal or a CI log
DEFAULT_REPORT = Path("lynn-mcp-contract.json")
# A phone number: 8-15 digits, maybe a leading + and single spaces or dashes between digits, not
# part of a longer word or id (a uuid's all-digit groups are joined to the rest by dashes).
_PHONE = re.compile(r"(?<![\w+-])\+?\d(?:[ -]?\d){7,14}(?![\w-])")


class Exit(IntEnum):
    OK = 0
    CONFIG = 2
    UNREACHABLE = 3
    CREDENTIALS = 4
    TENANT = 5
    UNEXPECTED = 6
    CONTRACT = 7


class Problem(Exception):
    """A failed check: what is wrong and how to fix it, in plain words."""

    def __init__(self, exit_code: Exit, what: str, fix: str) -> None:
        super().__init__(what)
        self.exit_code, self.what, self.fix = exit_code, what, fix


def mask_phones(text: str) -> str:
    """`text` with every phone number's digits but the last two masked: `+56 9 7000-0001` ->
    `+** * ****-**01`."""

    def mask(match: re.Match[str]) -> str:
        number = match.group()
        keep = len(number) - 2
        return re.sub(r"\d", "*", number[:keep]) + number[keep:]

    return _PHONE.sub(mask, text)


def shown(text: str) -> str:
    """What may leave the doctor: no secret we hold, no phone number."""
    return mask_phones(redact(text))


class Report:
    """Prints each check as `[ ok ]` / `[FAIL]` lines; the fix goes under the failing one."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def line(self, text: str = "") -> None:
        print(shown(text), file=self._out, flush=True)

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
    if not table.wire.is_plain:
        report.line("Field and value renames in use:")
        for line in table.wire.toml().splitlines():
            report.line(f"  {line}" if line else "")


async def run_contract_check(
    settings: Settings, table: OperationTable, report: Report, *, writes: bool, report_file: Path
) -> Exit:
    """The contract check: one table of calls, the differences under each, the dialect lines it can
    infer, and the JSON report."""
    async with LynnClient(settings, operations=table) as client:
        try:
            check = await check_contract(client, writes=writes)
        except LynnError as exc:
            raise _problem(exc, settings, table, exchanged=client.token_exchanges > 0) from None
    print_contract(check, report)
    write_contract_report(check, settings, table, report_file)
    written = f"Report written to {report_file} (no secrets, phones masked): attach it to any question."
    report.line(textwrap.fill(written, WIDTH, subsequent_indent="  "))
    if check.matches:
        called = sum(1 for call in check.calls if call.verdict != "skipped")
        report.ok(f"every answer matches the contract ({called} calls)")
        return Exit.OK
    differences = len({(d.where, d.what) for call in check.calls for d in call.differences if d.fails})
    raise Problem(
        Exit.CONTRACT,
        f"Lynn's answers differ from the contract in {differences} place(s), named above",
        "add the suggested lines, and the verbs and paths of any operation answered 404 or 405, to the "
        "file LYNN_OPERATIONS_FILE names (docs/lynn-api-contract.md, 'Dialect files'), then run "
        "`lynn-mcp doctor --contract` again",
    )


def print_contract(check: ContractCheck, report: Report) -> None:
    mode = "with writes on a scratch campaign and contact" if check.writes else "read-only"
    report.line(f"Contract check ({mode}):")
    report.line(f"  {'operation':<26} {'called on':<30} {'status':<7} result")
    not_called: dict[str, list[str]] = {}  # why -> operations, one line each below the table
    for call in check.calls:
        if call.verdict == "skipped":
            not_called.setdefault(call.differences[0].what, []).append(call.operation)
            continue
        verdict = "DIFFERS" if call.verdict == "differs" else "ok"
        report.line(f"  {call.operation:<26} {call.subject[:30]:<30} {call.status:<7} {verdict}")
        for difference in call.differences:
            label = "" if difference.fails else "note: "
            _indented(report, f"{label}{difference.where}: {difference.what}", 6)
    for why, operations in not_called.items():
        _indented(report, f"Not checked: {', '.join(operations)} ({why})", 2)
    for left in check.left_behind:
        _indented(report, f"left behind: scratch {left} (delete it by hand; its name starts 'lynn-mcp')", 2)
    suggestion = check.suggestion()
    if suggestion:
        report.line("Suggested dialect lines (for LYNN_OPERATIONS_FILE):")
        for line in suggestion.splitlines():
            report.line(f"  {line}" if line else "")


def _indented(report: Report, text: str, indent: int) -> None:
    report.line(textwrap.fill(text, WIDTH, initial_indent=" " * indent, subsequent_indent=" " * (indent + 2)))


def write_contract_report(
    check: ContractCheck, settings: Settings, table: OperationTable, path: Path
) -> None:
    """The JSON report: the check and where it ran, every string redacted and phone-masked."""
    document = {
        "lynn_mcp_version": __version__,
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_url": settings.base_url,
        "tenant": settings.tenant,
        "operations_file": Path(table.source).name if table.source != "built-in" else "built-in",
        **check.as_json(),
    }
    path.write_text(json.dumps(map_strings(document, shown), indent=2) + "\n", encoding="utf-8")


def ask_on_terminal(question: str) -> bool:
    """A yes from whoever runs the doctor (stdin); no answer is a no."""
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def writes_question(settings: Settings) -> str:
    question = (
        f"--writes creates a campaign and a contact named '{SCRATCH_PREFIX} ...' in tenant "
        f"{settings.tenant}, updates, starts and stops the campaign (it holds no records: nothing is "
        "sent), sets and clears the contact's blacklist entries, and deletes both again. Go on? [y/N]"
    )
    return textwrap.fill(question, WIDTH) + " "


async def diagnose(
    overrides: dict[str, Any],
    out: TextIO,
    *,
    contract: bool = False,
    writes: bool = False,
    report_file: Path = DEFAULT_REPORT,
    ask: Callable[[str], bool] = ask_on_terminal,
) -> Exit:
    """Run the checks and print them to `out`; `contract` runs the contract check instead of the
    single read-only call, `writes` adds the write operations if `ask` says yes."""
    report = Report(out)
    try:
        settings = _settings(overrides)
        # The doctor reports the first failure as it is; retries would only delay the answer.
        settings = settings.model_copy(update={"max_retries": 0})
        for secret in settings.secret_values():  # as the server does: no line can show one
            register_secret(secret)
        table = check_configuration(settings, report)
        await check_reachable(settings, report)
        if contract:
            if writes and not ask(shown(writes_question(settings))):
                report.line("Writes not confirmed: running the read-only checks only.")
                writes = False
            await run_contract_check(settings, table, report, writes=writes, report_file=report_file)
        else:
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
        epilog=(
            "Exit codes: 0 ok, 2 configuration, 3 unreachable, 4 credentials, 5 tenant, 6 unexpected, "
            "7 the answers differ from the contract (--contract)."
        ),
    )
    parser.add_argument("--base-url", help="Lynn API origin (LYNN_BASE_URL)")
    parser.add_argument("--tenant", type=int, help="Lynn tenant number (LYNN_TENANT)")
    parser.add_argument(
        "--operations-file",
        help="TOML dialect file: operation verbs/paths, field and value renames (LYNN_OPERATIONS_FILE)",
    )
    parser.add_argument(
        "--contract",
        action="store_true",
        help="call every read-only operation and check each answer against the contract",
    )
    parser.add_argument(
        "--writes",
        action="store_true",
        help="with --contract: also run the write operations on a scratch campaign and contact "
        "(created and deleted again; asks first)",
    )
    parser.add_argument("--yes", action="store_true", help="with --writes: do not ask")
    parser.add_argument(
        "--report",
        type=Path,
        default=DEFAULT_REPORT,
        help=f"with --contract: where to write the JSON report (default {DEFAULT_REPORT})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if (args.writes or args.yes) and not args.contract:
        parser.error("--writes and --yes go with --contract")
    overrides = {"base_url": args.base_url, "tenant": args.tenant, "operations_file": args.operations_file}

    async def run() -> Exit:
        return await diagnose(
            overrides,
            sys.stdout,
            contract=args.contract,
            writes=args.writes,
            report_file=args.report,
            ask=(lambda question: True) if args.yes else ask_on_terminal,
        )

    return int(anyio.run(run))
