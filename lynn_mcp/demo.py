"""`lynn-mcp demo`: a guided session on the sandbox, through a real MCP client over stdio.

It starts the Lynn sandbox in this process (temporary database), spawns `python -m lynn_mcp` as an
IDE would, and walks the session an agent would have: list campaigns, create a Manual campaign on
the demo template, blacklist a contact, load the bundled 5,000-row sample with load_campaign_data
(progress bar fed by MCP progress notifications), show the report by reason, start and stop the
campaign (this program answers the server's confirmation questions as the human), and ends with
the client configuration to use the server from an IDE and the URL of the sandbox's console.

`--quiet` prints one line; any failure exits 1, so the demo doubles as an end-to-end smoke test.
rich is imported here only: the stdio server's start-up must not pay for it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lynn_mcp.sandbox import (
    SEED_ACCESS_TOKEN,
    SEED_ACCESS_TOKEN_SECRET,
    SEED_TEMPLATE_ID,
    SEED_TENANT,
    SandboxServer,
)

WIDTH = 100
CAMPAIGN_NAME = "Summer coupons (demo)"
BLACKLISTED_PHONE = "56966666666"  # a seeded sandbox contact; also a row of the sample file
SESSION_TIMEOUT_S = 300
# Rows Lynn itself refused carry its per-row status; say what each means to a person.
REASON_LABELS = {
    "403": "403: blacklisted for this campaign",
    "409": "409: already a record of the campaign",
    "400": "400: refused by Lynn",
}


class DemoFailed(Exception):
    """A step did not do what the demo expects; the message says which and why."""


def sample_file() -> Path:
    """The bundled CSV (inside the package, so it ships in the wheel)."""
    return Path(str(resources.files("lynn_mcp") / "data" / "sample_contacts.csv"))


def server_command() -> tuple[str, list[str]]:
    """How an IDE would start this server: the installed script if there is one, else `-m lynn_mcp`."""
    script = Path(sys.executable).with_name("lynn-mcp")
    return (str(script), []) if script.exists() else (sys.executable, ["-m", "lynn_mcp"])


def client_configuration() -> dict[str, Any]:
    """The `mcpServers` entry for Claude Desktop, Cursor and others (no secret in it)."""
    command, args = server_command()
    return {"mcpServers": {"lynn": {"command": command, "args": [*args, "--sandbox"]}}}


class Narrator:
    """Everything the demo says goes through here, so --quiet is one switch."""

    def __init__(self, console: Console, quiet: bool) -> None:
        self.console = console
        self.quiet = quiet
        self.step_no = 0

    def step(self, title: str, explanation: str) -> None:
        self.step_no += 1
        if not self.quiet:
            self.console.print()
            self.console.rule(f"[bold]{self.step_no}. {title}", align="left")
            self.console.print(explanation, style="dim")

    def say(self, *renderables: Any) -> None:
        if not self.quiet:
            self.console.print(*renderables)

    def call(self, tool: str, arguments: dict[str, Any]) -> None:
        if not self.quiet:
            shown = json.dumps(arguments, ensure_ascii=False)
            self.console.print(f"[cyan]→ {tool}[/] {shown}", highlight=False, overflow="fold")


async def call_tool(
    client: Client, narrator: Narrator, tool: str, arguments: dict[str, Any], **options: Any
) -> dict[str, Any]:
    """Call one tool; a tool error fails the demo with the server's own words."""
    narrator.call(tool, arguments)
    result: CallToolResult = await client.call_tool(tool, arguments, **options)
    if result.is_error or result.structured_content is None:
        text = " ".join(getattr(block, "text", "") for block in result.content)
        raise DemoFailed(f"{tool} failed: {text}")
    structured: dict[str, Any] = result.structured_content
    return structured


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    out = Table(title=title, title_justify="left", expand=False)
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*(str(cell) if cell is not None else "" for cell in row))
    return out


def answer_as_human(narrator: Narrator, asked: list[str]) -> Any:
    """An elicitation callback that approves, after showing what the server asked the human."""

    async def elicitation(context: Any, params: ElicitRequestParams) -> ElicitResult:
        message = getattr(params, "message", "")
        asked.append(message)
        narrator.say(
            Panel(message, title="the server asks the human", width=WIDTH - 4, border_style="yellow")
        )
        schema = getattr(params, "requested_schema", None) or {}
        content: dict[str, str | int | float | bool | list[str] | None] = {
            name: True
            for name, spec in (schema.get("properties") or {}).items()
            if isinstance(spec, dict) and spec.get("type") == "boolean"
        }
        narrator.say(f"[yellow]human:[/] accept {json.dumps(content)}")
        return ElicitResult(action="accept", content=content)

    return elicitation


async def session(client: Client, narrator: Narrator, asked: list[str], work: Path) -> None:
    narrator.step("List campaigns", "What an agent does first: see what exists (list_campaigns).")
    listed = await call_tool(client, narrator, "list_campaigns", {})
    narrator.say(
        table(
            f"{listed['total']} campaign(s)",
            ["id", "name", "status", "mode", "category"],
            [
                [c["id"], c["name"], c.get("status"), c.get("execution_mode"), c.get("category")]
                for c in listed["campaigns"]
            ],
        )
    )

    narrator.step("Create a Manual campaign", "Bound to the sandbox's WhatsApp template (create_campaign).")
    campaign = await call_tool(
        client,
        narrator,
        "create_campaign",
        {"name": CAMPAIGN_NAME, "template_id": SEED_TEMPLATE_ID, "category": "Promotions"},
    )
    campaign_id = campaign["id"]
    narrator.say(f"created [bold]{campaign['name']}[/] ({campaign_id}), status {campaign.get('status')}")

    narrator.step(
        "Blacklist a contact",
        f"The customer with phone {BLACKLISTED_PHONE} opted out: blacklist them for this campaign "
        "before loading (set_dnd_for_campaign), then read their do-not-disturb state (get_contact_dnd).",
    )
    found = await call_tool(client, narrator, "list_contacts", {"identifier_contains": BLACKLISTED_PHONE})
    if not found["contacts"]:
        raise DemoFailed(f"no contact has the phone {BLACKLISTED_PHONE}")
    contact = found["contacts"][0]
    await call_tool(
        client, narrator, "set_dnd_for_campaign", {"contact_id": contact["id"], "campaign_id": campaign_id}
    )
    dnd = await call_tool(client, narrator, "get_contact_dnd", {"contact_id": contact["id"]})
    narrator.say(
        table(
            f"do-not-disturb of {contact.get('name')} ({contact.get('identifier')})",
            ["campaign", "category", "do not disturb"],
            [
                [e.get("campaign_name") or e["campaign_id"], e.get("category"), e["do_not_disturb"]]
                for e in dnd["entries"]
            ],
        )
    )
    if not any(e["campaign_id"] == campaign_id and e["do_not_disturb"] for e in dnd["entries"]):
        raise DemoFailed("the contact is not blacklisted for the new campaign")

    await load(client, narrator, campaign_id, work)

    narrator.step(
        "Start and stop the campaign",
        "Starting messages real people, so the server asks the human to confirm (MCP elicitation); "
        "this demo answers as the human.",
    )
    started = await call_tool(client, narrator, "start_campaign", {"campaign_id": campaign_id})
    narrator.say(f"status: [bold green]{started.get('status')}[/]")
    if started.get("status") != "Started":
        raise DemoFailed(f"start_campaign left the campaign {started.get('status')}")
    stopped = await call_tool(client, narrator, "stop_campaign", {"campaign_id": campaign_id})
    narrator.say(f"status: [bold]{stopped.get('status')}[/]")
    if stopped.get("status") != "Stopped":
        raise DemoFailed(f"stop_campaign left the campaign {stopped.get('status')}")
    if not asked:
        raise DemoFailed("start_campaign ran without asking the human to confirm")


async def load(client: Client, narrator: Narrator, campaign_id: str, work: Path) -> None:
    # A copy: the loader writes its results file next to the input, never inside the package.
    path = work / sample_file().name
    path.write_bytes(sample_file().read_bytes())
    narrator.step(
        "Load the sample file",
        f"{path.name}: 5,000 rows with bad phones, duplicates and the blacklisted customer. "
        "load_campaign_data checks, chunks, sends and waits; progress arrives as MCP notifications.",
    )
    arguments = {"file_path": str(path), "template_id": SEED_TEMPLATE_ID, "campaign_id": campaign_id}
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=narrator.console,
        disable=narrator.quiet,
        transient=False,
    )
    bar = progress.add_task("loading rows", total=None)

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.update(bar, completed=done, total=total, description=(message or "loading rows")[:40])

    with progress:
        report = await call_tool(
            client, narrator, "load_campaign_data", arguments, progress_callback=on_progress
        )
    narrator.step("The report", "Every row ends accepted, rejected (with its reason) or unprocessed.")
    narrator.say(
        table(
            f"load_campaign_data: {report['state']}",
            ["submitted", "accepted", "rejected", "unprocessed"],
            [[report["submitted"], report["accepted"], report["rejected"], report["unprocessed"]]],
        )
    )
    by_reason = report.get("rejected_by_reason") or {}
    narrator.say(
        table(
            "rejected by reason",
            ["reason", "rows"],
            [[REASON_LABELS.get(reason, reason), rows] for reason, rows in sorted(by_reason.items())],
        )
    )
    examples = report.get("examples") or []
    if examples:
        narrator.say(table("first examples", ["row"], [[text] for text in examples[:6]]))
    if report.get("results_path"):
        narrator.say(f"every row's outcome: {report['results_path']}")
    if report["accepted"] + report["rejected"] + report["unprocessed"] != report["submitted"]:
        raise DemoFailed("the report's counts do not add up")
    if report["unprocessed"] or not report["accepted"] or not report["rejected"]:
        raise DemoFailed(f"unexpected load outcome: {report}")


def _innermost(exc: BaseException) -> str:
    """The first leaf of an exception group (anyio task groups wrap what really happened)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return str(exc) or type(exc).__name__


def server_environment(sandbox: SandboxServer) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LYNN_")}
    env.update(
        LYNN_BASE_URL=sandbox.base_url,
        LYNN_TENANT=str(SEED_TENANT),
        LYNN_ACCESS_TOKEN=SEED_ACCESS_TOKEN,
        LYNN_ACCESS_TOKEN_SECRET=SEED_ACCESS_TOKEN_SECRET,
        LYNN_LOG_LEVEL="WARNING",
    )
    return env


async def run_demo(quiet: bool, out: TextIO) -> int:
    console = Console(file=out, width=min(WIDTH, Console(file=out).width), highlight=False)
    narrator = Narrator(console, quiet)
    asked: list[str] = []
    narrator.say(
        Panel(
            "A real MCP client drives lynn-mcp over stdio against the built-in Lynn sandbox "
            "(no Lynn account needed). Each step shows the tool called and what came back.",
            title="lynn-mcp demo",
            width=WIDTH - 4,
        )
    )
    command, args = server_command()
    with tempfile.TemporaryDirectory(prefix="lynn-demo-") as work, SandboxServer(task_delay_ms=2) as sandbox:
        server_log_path = Path(work) / "server.log"
        params = StdioServerParameters(command=command, args=args, env=server_environment(sandbox), cwd=work)
        failure: str | None = None
        try:
            with (
                server_log_path.open("w", encoding="utf-8") as server_log,
                anyio.fail_after(SESSION_TIMEOUT_S),
            ):
                transport = stdio_client(params, errlog=server_log)
                async with Client(
                    transport, mode="legacy", elicitation_callback=answer_as_human(narrator, asked)
                ) as client:
                    try:
                        await session(client, narrator, asked, Path(work))
                    except DemoFailed as exc:  # caught here, before the client's task group wraps it
                        failure = str(exc)
        except TimeoutError:
            failure = f"no answer within {SESSION_TIMEOUT_S} s"
        # As a smoke test, the demo must turn *any* failure (a crashed server, a broken pipe, an
        # SDK error) into a readable message and exit 1, never a traceback or a hang.
        except Exception as exc:
            failure = f"{type(exc).__name__}: {_innermost(exc)}"
        if failure is not None:
            console.print(f"[bold red]demo failed at step {narrator.step_no}:[/] {failure}")
            tail = server_log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            if tail.strip():
                console.print(Panel(tail, title="server log (tail)", width=WIDTH - 4))
            return 1
        if quiet:
            console.print(f"lynn-mcp demo: ok ({narrator.step_no} steps)")
            return 0
        narrator.step(
            "Use it from your IDE",
            "Add this to your MCP client's configuration (Claude Desktop, Cursor, ...): it runs the same "
            "server with its own sandbox. For your Lynn tenant, drop --sandbox and set LYNN_TENANT, "
            'LYNN_ACCESS_TOKEN and LYNN_ACCESS_TOKEN_SECRET in "env"; `lynn-mcp doctor` checks them.',
        )
        console.print_json(json.dumps(client_configuration()))
        await show_console(narrator, sandbox.base_url, wait=sys.stdin.isatty() and out.isatty())
    return 0


async def show_console(narrator: Narrator, base_url: str, *, wait: bool) -> None:
    """The sandbox console's URL, last. At a terminal the sandbox stays up until Enter, so the
    person can look; otherwise (a pipe, CI) the demo ends at once and the sandbox with it."""
    narrator.step(
        "See what the agent did",
        "The sandbox's read-only console shows the campaigns, each one's records with their Status, "
        "the tasks with their progress and the blacklist, as Lynn's campaign data screen does.",
    )
    narrator.say(f"sandbox console: [bold]{base_url}/[/]")
    if wait:
        narrator.say("[dim]Press Enter to stop the sandbox (its data is temporary).[/]")
        await anyio.to_thread.run_sync(sys.stdin.readline)
    else:
        narrator.say("[dim]It stops with the demo; `lynn-mcp sandbox` runs one that stays.[/]")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lynn-mcp demo",
        description="A guided session on the built-in sandbox, through a real MCP client.",
    )
    parser.add_argument("--quiet", action="store_true", help="print one line; exit 1 on any failure")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    return int(anyio.run(run_demo, args.quiet, sys.stdout))
