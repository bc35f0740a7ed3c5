"""JSON Schema snippets of the wire shapes; the route table points at them and the OpenAPI
document collects them under ``components/schemas``."""

from __future__ import annotations

from typing import Any

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_UUID = {"type": "string", "format": "uuid"}
_TIME = {"type": "string", "format": "date-time"}
_NTIME = {"type": ["string", "null"], "format": "date-time"}
_CHANNEL = {"type": "string", "enum": ["WhatsApp", "SMS", "Voice", "Email"]}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def array(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


_CAMPAIGN_FIELDS = {
    "name": {"type": "string", "minLength": 1, "maxLength": 100},
    "division": _NSTR,
    "category": _NSTR,
    "campaignType": {"type": "string", "enum": ["SingleMessage", "MultipleMessage"]},
    "executionMode": {"type": "string", "enum": ["Manual", "Scheduled", "AlwaysOn"]},
    "channel": _CHANNEL,
    "templateId": {"type": ["string", "null"], "format": "uuid"},
    "startDate": _NTIME,
    "stopDate": _NTIME,
    "validUntil": _NTIME,
}
_CONTACT_FIELDS = {
    "name": _STR,
    "channel": _CHANNEL,
    "identifier": _STR,
    "correlationIds": {"type": "array", "items": _STR, "maxItems": 3},
}

COMPONENTS: dict[str, dict[str, Any]] = {
    "Error": obj({"message": _STR}, ("message",)),
    "Credentials": obj(
        {"accessToken": _STR, "accessTokenSecret": _STR, "tenant": {"type": "integer"}},
        ("accessToken", "accessTokenSecret", "tenant"),
    ),
    "Token": obj({"token": _STR}, ("token",)),
    "CampaignInput": obj(_CAMPAIGN_FIELDS, ("name",)),
    "Campaign": obj(
        {
            "id": _UUID,
            **_CAMPAIGN_FIELDS,
            "status": {"type": "string", "enum": ["Stopped", "Started"]},
            "createdAt": _TIME,
            "updatedAt": _TIME,
        },
        ("id", "name", "status"),
    ),
    "ContactInput": obj(_CONTACT_FIELDS, ("identifier",)),
    "Contact": obj(
        {"id": _UUID, **_CONTACT_FIELDS, "createdAt": _TIME, "updatedAt": _TIME}, ("id", "identifier")
    ),
    "Deleted": obj({"deleted": {"type": "boolean"}}, ("deleted",)),
    "DndEntry": obj(
        {
            "campaignId": _UUID,
            "campaignName": _STR,
            "category": _NSTR,
            "doNotDisturb": {"type": "boolean"},
            "updatedAt": _TIME,
        },
        ("campaignId", "doNotDisturb"),
    ),
    "DndByCampaign": obj(
        {"campaignId": _UUID, "contactId": _UUID, "doNotDisturb": {"type": "boolean"}},
        ("campaignId", "contactId", "doNotDisturb"),
    ),
    "DndByCategory": obj(
        {"category": _STR, "contactId": _UUID, "doNotDisturb": {"type": "boolean"}},
        ("category", "contactId", "doNotDisturb"),
    ),
    "ManageDnd": obj(
        {
            "campaignId": _UUID,
            "contacts": array(ref("DndContact")),
        },
        ("campaignId", "contacts"),
    ),
    "DndContact": obj(
        {"identifier": _STR, "name": _STR, "channel": _CHANNEL, "doNotDisturb": {"type": "boolean"}},
        ("identifier", "doNotDisturb"),
    ),
    "CampaignData": obj(
        {
            "campaingId": {
                "type": "string",
                "description": "vendor spelling; empty means the template's campaign",
            },
            "templateId": _UUID,
            "typeOfData": {"type": "integer", "enum": [0]},
            "data": {
                "type": "array",
                "maxItems": 1000,
                "items": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        ("templateId", "data"),
    ),
    "CpgUpload": obj(
        {
            "file": {"type": "string", "contentMediaType": "application/octet-stream"},
            "campaignId": _STR,
            "templateId": _UUID,
        },
        ("file", "templateId"),
    ),
    "TaskRef": obj({"taskId": _UUID}, ("taskId",)),
    "Task": obj(
        {
            "taskId": _UUID,
            "kind": {"type": "string", "enum": ["CampaignData", "Dnd"]},
            "state": {"type": "string", "enum": ["Pending", "Running", "Completed", "Failed"]},
            "total": {"type": "integer"},
            "processed": {"type": "integer"},
            "succeeded": {"type": "integer"},
            "failed": {"type": "integer"},
            "message": _NSTR,
            "campaignId": {"type": ["string", "null"], "format": "uuid"},
            "templateId": {"type": ["string", "null"], "format": "uuid"},
            "records": array(ref("TaskRecord")),
            "createdAt": _TIME,
            "updatedAt": _TIME,
        },
        ("taskId", "kind", "state", "total", "processed", "succeeded", "failed", "records"),
    ),
    "TaskRecord": obj(
        {
            "row": {"type": "integer", "minimum": 1},
            "Status": {"type": "string", "enum": ["200", "400", "403", "409"]},
            "message": _NSTR,
        },
        ("row", "Status"),
    ),
    "TemplateInput": obj(
        {
            "name": _STR,
            "columns": array(_STR),
            "phoneColumn": _STR,
            "campaignId": {"type": ["string", "null"]},
            "tenant": {"type": "integer"},
        },
        ("name", "columns", "phoneColumn"),
    ),
    "Template": obj(
        {
            "id": _UUID,
            "name": _STR,
            "columns": array(_STR),
            "phoneColumn": _STR,
            "campaignId": {"type": ["string", "null"]},
            "tenant": {"type": "integer"},
        },
        ("id", "columns", "phoneColumn"),
    ),
    "Records": obj(
        {
            "campaignId": _UUID,
            "count": {"type": "integer"},
            "records": array(
                obj({"phone": _STR, "data": {"type": "object"}, "taskId": _UUID, "createdAt": _TIME})
            ),
        },
        ("campaignId", "count", "records"),
    ),
    "Faults": obj(
        {
            "errorRate": {"type": "number", "minimum": 0, "maximum": 1},
            "errorStatuses": array({"type": "integer", "minimum": 400, "maximum": 599}),
            "latencyMs": {"type": "integer", "minimum": 0},
            "rateLimitPerSecond": {"type": ["integer", "null"]},
            "dropRate": {"type": "number", "minimum": 0, "maximum": 1},
            "seed": {"type": ["integer", "null"]},
            "echoSecrets": {"type": "boolean"},
        }
    ),
    "Stats": obj(
        {
            "operations": {"type": "object", "additionalProperties": {"type": "integer"}},
            "total": {"type": "integer"},
        }
    ),
    "Health": obj({"status": _STR}),
}
