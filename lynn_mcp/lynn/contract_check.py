"""The contract check (`lynn-mcp doctor --contract`): every operation against the configured Lynn.

Read-only, it calls GetCampaigns, GetCampaign on a listed campaign, GetContacts, GetContact and
GetDnDContact on a listed contact, and GetTaskStatus and GetDndTaskStatus on an unknown task id
(which must answer 404: no operation lists tasks). With `writes`, it then creates a scratch campaign
and contact, updates, starts and stops them, sets and clears their blacklist entries, runs one
ManageDnDByCampaign task to its end, and deletes both again (in a `finally`: whatever failed,
what was created is deleted, or named as left behind).

Every answer goes through the configured dialect (`OperationTable.wire`) and is then held against
the contract (`conformance.read_answer`). Renames it infers are used for the rest of the run, so
one run of a deployment in an unknown dialect gets as far as it can (the scratch campaign is
created with the name field the listed campaigns showed) and names every difference it met.

Nothing here prints: `doctor.py` shows the result, redacted, and writes the report file.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import anyio
import pydantic_core

from lynn_mcp.errors import Forbidden, InvalidArgument, LynnError, Unauthorized
from lynn_mcp.lynn.client import LynnClient
from lynn_mcp.lynn.conformance import Difference, Reading, read_answer
from lynn_mcp.lynn.dialect import WireDialect, render_toml
from lynn_mcp.lynn.retry import Sleep
from lynn_mcp.lynn.shapes import EXCHANGES, SHAPES, TASK_STATES

TASK_WAIT_S: Final = 60.0
"""How long the scratch ManageDnDByCampaign task may take before the check stops waiting."""
SCRATCH_PREFIX: Final = "lynn-mcp contract check"

Verdict = Literal["ok", "differs", "skipped"]
READ_ONLY: Final = frozenset(
    {
        "GetCampaigns",
        "GetCampaign",
        "GetContacts",
        "GetContact",
        "GetDnDContact",
        "GetTaskStatus",
        "GetDndTaskStatus",
    }
)


@dataclass
class Call:
    """One operation called, and how its answer compared with the contract."""

    operation: str
    method: str
    path: str
    subject: str
    """What it was called on: `listed campaign`, `unknown id`, `scratch contact`..."""
    status: str = "-"
    verdict: Verdict = "ok"
    differences: list[Difference] = field(default_factory=list)


@dataclass
class ContractCheck:
    """Everything a contract check found."""

    calls: list[Call] = field(default_factory=list)
    renames: dict[str, dict[str, str]] = field(default_factory=dict)
    """Inferred field renames: shape -> {contract field: this deployment's field}."""
    value_guesses: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    unknown_values: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    writes: bool = False
    left_behind: list[str] = field(default_factory=list)
    """Scratch objects that could not be deleted (kind and id), for the user to delete."""

    @property
    def matches(self) -> bool:
        return all(call.verdict != "differs" for call in self.calls)

    def suggestion(self) -> str:
        """Dialect-file lines for what the check could infer; comments for what it could not."""
        text = render_toml(self.renames, self.value_guesses)
        if self.value_guesses:
            text = "# value renames below are guessed from a finished task: check them\n" + text
        for (shape, name), seen in sorted(self.unknown_values.items()):
            guessed = self.value_guesses.get((shape, name), {}).values()
            for value in sorted(seen - set(guessed)):
                choices = ", ".join(SHAPES[shape][name].values)
                text += f'# [values."{shape}.{name}"]: which of {choices} is {value!r}?\n'
        return text

    def as_json(self) -> dict[str, Any]:
        return {
            "writes": self.writes,
            "matches": self.matches,
            "calls": [
                {
                    "operation": call.operation,
                    "method": call.method,
                    "path": call.path,
                    "subject": call.subject,
                    "status": call.status,
                    "verdict": call.verdict,
                    "differences": [
                        {"where": d.where, "what": d.what, "fails": d.fails} for d in call.differences
                    ],
                }
                for call in self.calls
            ],
            "suggested_dialect": self.suggestion(),
            "left_behind": self.left_behind,
        }


class _Checker:
    def __init__(self, client: LynnClient, sleep: Sleep) -> None:
        self.client = client
        self.sleep = sleep
        self.result = ContractCheck()

    def wire(self) -> WireDialect:
        """The configured dialect, with what this run inferred on top (for the bodies it sends)."""
        return self.client.operations.wire.merged(self.result.renames)

    async def answer(
        self, operation: str, subject: str, ids: dict[str, str] | None = None, body: Any = None
    ) -> Any:
        """Call `operation`, record how its answer compares, and return the answer in contract
        names (None when there was no usable answer)."""
        call, view = await self._call(operation, subject, ids, body)
        self.result.calls.append(call)
        return view

    async def expect_missing(self, operation: str, ids: dict[str, str]) -> None:
        """Call `operation` on an id Lynn cannot know: the contract answers 404."""
        call, view = await self._call(operation, "unknown id", ids, None, missing_ok=True)
        if view is not None:
            call.verdict = "differs"
            call.differences.append(Difference(operation, "answered an unknown id; the contract answers 404"))
        self.result.calls.append(call)

    async def _call(
        self,
        operation: str,
        subject: str,
        ids: dict[str, str] | None,
        body: Any,
        *,
        missing_ok: bool = False,
    ) -> tuple[Call, Any]:
        exchange = EXCHANGES[operation]
        table_entry = self.client.operations[operation]
        call = Call(operation, table_entry.method, table_entry.path, subject)
        sent = None if body is None or exchange.sends is None else self.wire().to_lynn(exchange.sends, body)
        try:
            raw = await self.client.call(operation, ids, json=sent, retry=False)
        except (Unauthorized, Forbidden):
            raise  # the doctor's own steps say what to fix about credentials and tenants
        except LynnError as exc:
            if exc.status is None and isinstance(exc, InvalidArgument):
                call.verdict = "skipped"
                call.differences.append(Difference(operation, f"not called: {exc.message}", fails=False))
                return call, None
            if exc.status is None:
                raise  # not reached: the doctor's network step explains it
            call.status = str(exc.status)
            if missing_ok and exc.status == 404:
                return call, None
            call.verdict = "differs"
            call.differences.append(Difference(operation, _status_meaning(exc)))
            return call, None
        call.status = "2xx"
        if not raw or exchange.answers is None:
            return call, {}
        try:
            document = pydantic_core.from_json(raw)
        except ValueError:
            call.verdict = "differs"
            call.differences.append(Difference(operation, "answered with something that is not JSON"))
            return call, None
        document = self.client.operations.wire.from_lynn(exchange.answers, document)
        reading = read_answer(exchange.answers, document, as_list=exchange.answers_list)
        self._learn(reading)
        call.differences.extend(reading.differences)
        if any(difference.fails for difference in reading.differences):
            call.verdict = "differs"
        return call, reading.view

    def _learn(self, reading: Reading) -> None:
        for shape, renames in reading.renames.items():
            for contract, wire in renames.items():
                self.result.renames.setdefault(shape, {}).setdefault(contract, wire)
        for key, values in reading.unknown_values.items():
            self.result.unknown_values.setdefault(key, set()).update(values)

    async def finished_task(self, operation: str, task_id: str) -> None:
        """Poll the task until its state is not Pending or Running; record the last answer only."""
        deadline = time.monotonic() + TASK_WAIT_S
        pause = 0.05
        while True:
            call, view = await self._call(operation, "scratch task", {"taskId": task_id}, None)
            state = view.get("state") if isinstance(view, dict) else None
            if not isinstance(state, str) or state not in ("Pending", "Running"):
                break
            if time.monotonic() > deadline:
                call.verdict = "differs"
                call.differences.append(
                    Difference(operation, f"the task was still {state} after {TASK_WAIT_S:g} s")
                )
                break
            await self.sleep(pause)
            pause = min(pause * 2, 1.0)
        self.result.calls.append(call)
        # A state we do not know, on a task that has stopped moving: if it processed every row, it is
        # this deployment's word for Completed. A guess, and the suggestion says so.
        unknown_state = isinstance(state, str) and state not in TASK_STATES and isinstance(view, dict)
        if unknown_state and view.get("total") and view.get("processed") == view.get("total"):
            self.result.value_guesses.setdefault(("Task", "state"), {})["Completed"] = str(state)


def _status_meaning(exc: LynnError) -> str:
    status = exc.status
    if status == 404:
        return (
            f"answered 404 ({exc.message}): no such path on this deployment, or it takes another verb; "
            "set this operation's `path` (and `method`) in LYNN_OPERATIONS_FILE"
        )
    if status == 405:
        return f"answered 405: this path takes another verb; set this operation's `method` ({exc.message})"
    if status in (400, 422):
        return f"answered {status}: Lynn refused the body, perhaps a field named otherwise ({exc.message})"
    return f"answered {status}: {exc.message}"


def _first_id(listed: Any) -> str | None:
    if isinstance(listed, list):
        for item in listed:
            if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]:
                return str(item["id"])
    return None


def _id_of(view: Any, key: str = "id") -> str | None:
    value = view.get(key) if isinstance(view, dict) else None
    return value if isinstance(value, str) and value else None


async def check_contract(
    client: LynnClient, *, writes: bool = False, sleep: Sleep = anyio.sleep
) -> ContractCheck:
    """Run the check (see the module docstring). Raises `Unauthorized`/`Forbidden` as the first call
    meets them, and a `LynnError` without a status when Lynn cannot be reached."""
    checker = _Checker(client, sleep)
    checker.result.writes = writes
    campaign_id = _first_id(await checker.answer("GetCampaigns", "the tenant"))
    if campaign_id is not None:
        await checker.answer("GetCampaign", "a listed campaign", {"campaignId": campaign_id})
    contact_id = _first_id(await checker.answer("GetContacts", "the tenant"))
    if contact_id is not None:
        await checker.answer("GetContact", "a listed contact", {"contactId": contact_id})
        await checker.answer("GetDnDContact", "a listed contact", {"contactId": contact_id})
    unknown_task = {"taskId": str(uuid.uuid4())}
    await checker.expect_missing("GetTaskStatus", unknown_task)
    await checker.expect_missing("GetDndTaskStatus", unknown_task)
    if writes:
        await _scratch_round(checker)
    _account_for_the_rest(checker, writes=writes)
    return checker.result


NOT_WRITTEN: Final = {
    "UploadCampaignDataByTenant": "they need a template and add records",
    "AddCampaingData": "they need a template and add records",
}


def _account_for_the_rest(checker: _Checker, *, writes: bool) -> None:
    """A row for every operation the table has not shown yet, so none goes unmentioned."""
    client, calls = checker.client, checker.result.calls
    token = client.operations["CreateToken"]
    if client.token_exchanges:
        calls.insert(0, Call("CreateToken", token.method, token.path, "the access token and secret", "2xx"))
    called = {call.operation for call in calls}
    for name in EXCHANGES:
        if name in called:
            continue
        if name == "CreateToken":
            why = "LYNN_TOKEN is set: no token exchange was needed"
        elif name in NOT_WRITTEN:
            why = NOT_WRITTEN[name]
        elif not writes and name not in READ_ONLY:
            why = "writes: --writes checks them on a scratch campaign and contact"
        else:
            why = "nothing to call them on: see the rows above"
        entry = client.operations[name]
        calls.append(
            Call(
                name,
                entry.method,
                entry.path,
                "-",
                verdict="skipped",
                differences=[Difference(name, why, fails=False)],
            )
        )


async def _scratch_round(checker: _Checker) -> None:
    tag = secrets.token_hex(4)
    category = f"lynn-mcp-check-{tag}"
    phone = "00" + "".join(secrets.choice("0123456789") for _ in range(10))  # no country code starts 0
    campaign_id = contact_id = None
    try:
        campaign = {
            "name": f"{SCRATCH_PREFIX} {tag}",
            "category": category,
            "campaignType": "SingleMessage",
            "executionMode": "Manual",
            "channel": "WhatsApp",
        }
        campaign_id = _id_of(await checker.answer("PostCampaign", "scratch campaign", body=campaign))
        if campaign_id is not None:
            ids = {"campaignId": campaign_id}
            await checker.answer("GetCampaign", "scratch campaign", ids)
            await checker.answer("PutCampaign", "scratch campaign", ids, body={"division": SCRATCH_PREFIX})
            await checker.answer("StartCampaignExecution", "scratch campaign (no records)", ids)
            await checker.answer("StopCampaignExecution", "scratch campaign", ids)
        contact = {"name": f"{SCRATCH_PREFIX} {tag}", "channel": "WhatsApp", "identifier": phone}
        contact_id = _id_of(await checker.answer("PostContact", "scratch contact", body=contact))
        if contact_id is not None:
            ids = {"contactId": contact_id}
            await checker.answer("GetContact", "scratch contact", ids)
            await checker.answer(
                "PutContact", "scratch contact", ids, body={"name": f"{SCRATCH_PREFIX} {tag}."}
            )
        if campaign_id is not None and contact_id is not None:
            await _scratch_blacklist(checker, campaign_id, contact_id, category, phone)
    finally:
        if contact_id is not None:
            await _delete(checker, "DeleteContact", "contact", {"contactId": contact_id})
        if campaign_id is not None:
            await _delete(checker, "DeleteCampaign", "campaign", {"campaignId": campaign_id})


async def _scratch_blacklist(
    checker: _Checker, campaign_id: str, contact_id: str, category: str, phone: str
) -> None:
    pair = {"campaignId": campaign_id, "contactId": contact_id}
    await checker.answer("SetDnDContactByCampaign", "scratch contact", body={**pair, "doNotDisturb": True})
    await checker.answer("GetDnDContact", "scratch contact", {"contactId": contact_id})
    by_category = {"category": category, "contactId": contact_id, "doNotDisturb": False}
    await checker.answer("SetDnDContactByCategory", "scratch contact", body=by_category)
    rows = {"campaignId": campaign_id, "contacts": [{"identifier": phone, "doNotDisturb": False}]}
    task_id = _id_of(await checker.answer("ManageDnDByCampaign", "scratch contact", body=rows), "taskId")
    if task_id is not None:
        await checker.finished_task("GetDndTaskStatus", task_id)


async def _delete(checker: _Checker, operation: str, kind: str, ids: dict[str, str]) -> None:
    """Delete a scratch object; one that may still exist is named in `left_behind`."""
    calls = checker.result.calls
    before = len(calls)
    try:
        await checker.answer(operation, f"scratch {kind}", ids)
    finally:
        if len(calls) == before or calls[-1].status != "2xx":
            checker.result.left_behind.append(f"{kind} {next(iter(ids.values()))}")
