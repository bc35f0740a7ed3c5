"""THE route table: every operation the sandbox serves, with what the OpenAPI document needs.
Starlette routes and ``/openapi.json`` are both built from it, so they cannot drift apart."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from lynn_mcp.sandbox import api_auth, api_campaigns, api_contacts, api_data, api_dnd, sandbox_api
from lynn_mcp.sandbox.dialect import Dialect
from lynn_mcp.sandbox.schemas import array, ref
from lynn_mcp.sandbox.web import Handler

SERVICE = "/api/LynnService"


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str
    summary: str
    handler: Handler
    request: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    status: int = 200
    auth: bool = True
    tag: str = "LynnService"
    request_type: str = "application/json"
    query: tuple[str, ...] = ()

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)


def _api(name: str, method: str, tail: str, summary: str, handler: Handler, **kw: Any) -> Operation:
    return Operation(name, method, f"{SERVICE}/{name}{tail}", summary, handler, **kw)


_T, _C, _K, _TASK = "/{tenant}", "/{tenant}/{campaignId}", "/{tenant}/{contactId}", "/{tenant}/{taskId}"


def _sandbox(name: str, method: str, path: str, summary: str, handler: Handler, **kw: Any) -> Operation:
    return Operation(name, method, path, summary, handler, auth=False, tag="sandbox", **kw)


OPERATIONS: tuple[Operation, ...] = (
    _api(
        "CreateToken",
        "POST",
        "",
        "Exchange access token and secret for a bearer token",
        api_auth.create_token,
        request=ref("Credentials"),
        response=ref("Token"),
        auth=False,
    ),
    Operation(
        "CreateToken",
        "POST",
        "/api/LynnReporting/CreateToken",
        "Same token exchange on the reporting path",
        api_auth.create_token,
        request=ref("Credentials"),
        response=ref("Token"),
        auth=False,
    ),
    _api(
        "GetCampaigns",
        "GET",
        _T,
        "List the tenant's campaigns",
        api_campaigns.get_campaigns,
        response=array(ref("Campaign")),
    ),
    _api("GetCampaign", "GET", _C, "Get one campaign", api_campaigns.get_campaign, response=ref("Campaign")),
    _api(
        "PostCampaign",
        "POST",
        _T,
        "Create a campaign",
        api_campaigns.post_campaign,
        request=ref("CampaignInput"),
        response=ref("Campaign"),
        status=201,
    ),
    _api(
        "PutCampaign",
        "PUT",
        _C,
        "Update a campaign (full or partial)",
        api_campaigns.put_campaign,
        request=ref("CampaignInput"),
        response=ref("Campaign"),
    ),
    _api(
        "DeleteCampaign",
        "DELETE",
        _C,
        "Delete a campaign",
        api_campaigns.delete_campaign,
        response=ref("Deleted"),
    ),
    _api(
        "StartCampaignExecution",
        "POST",
        _C,
        "Start a Manual campaign",
        api_campaigns.start_campaign,
        response=ref("Campaign"),
    ),
    _api(
        "StopCampaignExecution",
        "POST",
        _C,
        "Stop a Manual campaign",
        api_campaigns.stop_campaign,
        response=ref("Campaign"),
    ),
    _api(
        "GetContacts",
        "GET",
        _T,
        "List the tenant's contacts",
        api_contacts.get_contacts,
        response=array(ref("Contact")),
    ),
    _api("GetContact", "GET", _K, "Get one contact", api_contacts.get_contact, response=ref("Contact")),
    _api(
        "PostContact",
        "POST",
        _T,
        "Create a contact",
        api_contacts.post_contact,
        request=ref("ContactInput"),
        response=ref("Contact"),
        status=201,
    ),
    _api(
        "PutContact",
        "PUT",
        _K,
        "Update a contact",
        api_contacts.put_contact,
        request=ref("ContactInput"),
        response=ref("Contact"),
    ),
    _api(
        "DeleteContact",
        "DELETE",
        _K,
        "Delete a contact",
        api_contacts.delete_contact,
        response=ref("Deleted"),
    ),
    _api(
        "GetDnDContact",
        "GET",
        _K,
        "Campaigns where the contact is blacklisted",
        api_dnd.get_dnd_contact,
        response=array(ref("DndEntry")),
    ),
    _api(
        "SetDnDContactByCampaign",
        "POST",
        _T,
        "Blacklist a contact for one campaign",
        api_dnd.set_dnd_by_campaign,
        request=ref("DndByCampaign"),
        response=array(ref("DndEntry")),
    ),
    _api(
        "SetDnDContactByCategory",
        "POST",
        _T,
        "Blacklist a contact for every campaign of a category",
        api_dnd.set_dnd_by_category,
        request=ref("DndByCategory"),
        response=array(ref("DndEntry")),
    ),
    _api(
        "ManageDnDByCampaign",
        "POST",
        _T,
        "Bulk blacklist management (a task)",
        api_dnd.manage_dnd_by_campaign,
        request=ref("ManageDnd"),
        response=ref("TaskRef"),
    ),
    _api(
        "GetDndTaskStatus",
        "GET",
        _TASK,
        "Status of a ManageDnDByCampaign task",
        api_dnd.get_dnd_task_status,
        response=ref("Task"),
    ),
    _api(
        "UploadCampaignDataByTenant",
        "POST",
        _T,
        "Create campaign records from a .cpg file (a task)",
        api_data.upload_campaign_data,
        request=ref("CpgUpload"),
        response=ref("TaskRef"),
        request_type="multipart/form-data",
    ),
    _api(
        "AddCampaingData",
        "POST",
        _T,
        "Add campaign records as JSON rows of a template (a task)",
        api_data.add_campaign_data,
        request=ref("CampaignData"),
        response=ref("TaskRef"),
    ),
    _api(
        "GetTaskStatus",
        "GET",
        _TASK,
        "Status of a campaign data task",
        api_data.get_task_status,
        response=ref("Task"),
    ),
    _sandbox(
        "SandboxCreateTemplate",
        "POST",
        "/sandbox/templates",
        "Create a WhatsApp template",
        sandbox_api.post_template,
        request=ref("TemplateInput"),
        response=ref("Template"),
        status=201,
    ),
    _sandbox(
        "SandboxGetRecords",
        "GET",
        "/sandbox/records",
        "Stored records of a campaign",
        sandbox_api.get_records,
        response=ref("Records"),
        query=("campaignId",),
    ),
    _sandbox(
        "SandboxGetFaults",
        "GET",
        "/sandbox/faults",
        "Current fault injection",
        sandbox_api.get_faults,
        response=ref("Faults"),
    ),
    _sandbox(
        "SandboxSetFaults",
        "POST",
        "/sandbox/faults",
        "Set fault injection for /api/ routes",
        sandbox_api.post_faults,
        request=ref("Faults"),
        response=ref("Faults"),
    ),
    _sandbox(
        "SandboxClearFaults",
        "DELETE",
        "/sandbox/faults",
        "Switch all faults off",
        sandbox_api.delete_faults,
        response=ref("Faults"),
    ),
    _sandbox(
        "SandboxGetStats",
        "GET",
        "/sandbox/stats",
        "Requests received per operation",
        sandbox_api.get_stats,
        response=ref("Stats"),
    ),
    _sandbox(
        "SandboxResetStats",
        "DELETE",
        "/sandbox/stats",
        "Reset the request counters",
        sandbox_api.delete_stats,
        response=ref("Stats"),
    ),
    _sandbox(
        "SandboxHealth", "GET", "/sandbox/health", "Liveness", sandbox_api.health, response=ref("Health")
    ),
)

CONTRACT_ROUTES: Mapping[str, tuple[str, str]] = {
    op.name: (op.method, op.path) for op in OPERATIONS if op.path.startswith(f"{SERVICE}/")
}
"""Each Lynn operation's verb and path as the contract has them: what a dialect may move."""


def in_dialect(dialect: Dialect) -> tuple[Operation, ...]:
    """The route table with the operations the dialect moves at their new verb and path."""
    return tuple(
        replace(op, method=dialect.operations[op.name][0], path=dialect.operations[op.name][1])
        if op.name in dialect.operations and op.path.startswith(f"{SERVICE}/")
        else op
        for op in OPERATIONS
    )


def operation_name(path: str) -> str:
    """The operation a contract path calls: /api/LynnService/<operation>/..."""
    parts = path.split("/")
    return parts[3] if len(parts) > 3 and parts[3] else "unknown"


def _path_pattern(template: str) -> re.Pattern[str]:
    return re.compile("/".join("[^/]+" if p.startswith("{") else re.escape(p) for p in template.split("/")))


def operation_names(operations: tuple[Operation, ...]) -> Callable[[str], str]:
    """`operation_name`, which also knows the paths a dialect moved operations to."""
    moved = [
        (_path_pattern(op.path), op.name)
        for op in operations
        if op.name in CONTRACT_ROUTES and op.path != CONTRACT_ROUTES[op.name][1]
    ]
    if not moved:
        return operation_name

    def name_of(path: str) -> str:
        return next((name for regex, name in moved if regex.fullmatch(path)), None) or operation_name(path)

    return name_of
