"""The contract's JSON shapes (docs/lynn-api-contract.md), by the names a dialect file uses.

Every body we send and every answer we read has one of these shapes. Field names are the contract's
wire names (camelCase, the vendor's `campaingId` and per-record `Status` included). Three things
read this table: the dialect file's validation (`[fields.Campaign]` must name a Campaign field),
the client's renaming (which field holds a nested shape), and `lynn-mcp doctor --contract` (what an
answer must hold, of which type, with which values). The pydantic models in `models.py` read the
same wire names; a test keeps the two in agreement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

Kind = Literal["string", "datetime", "integer", "boolean", "strings", "objects", "file"]
CHANNELS: Final = ("WhatsApp", "SMS", "Voice", "Email")
TASK_STATES: Final = ("Pending", "Running", "Completed", "Failed")


@dataclass(frozen=True, slots=True)
class WireField:
    """One field of a shape: its JSON kind, whether null is allowed, its closed set of values (if
    the contract names one) and, for a list of objects, the shape of each item (None: free keys)."""

    kind: Kind
    nullable: bool = False
    values: tuple[str, ...] = ()
    items: str | None = None


_S, _T, _I, _B = WireField("string"), WireField("datetime"), WireField("integer"), WireField("boolean")
_NS, _NT = WireField("string", nullable=True), WireField("datetime", nullable=True)
_CHANNEL = WireField("string", values=CHANNELS)

_CAMPAIGN_WRITABLE: dict[str, WireField] = {
    "name": _S,
    "division": _NS,
    "category": _NS,
    "campaignType": WireField("string", values=("SingleMessage", "MultipleMessage")),
    "executionMode": WireField("string", values=("Manual", "Scheduled", "AlwaysOn")),
    "channel": _CHANNEL,
    "templateId": _NS,
    "startDate": _NT,
    "stopDate": _NT,
    "validUntil": _NT,
}

SHAPES: Final[Mapping[str, Mapping[str, WireField]]] = MappingProxyType(
    {
        # The token exchange: CreateToken's body and its answer.
        "Credentials": {"accessToken": _S, "accessTokenSecret": _S, "tenant": _I},
        "Token": {"token": _S},
        # A campaign as Lynn answers it; PostCampaign and PutCampaign send its writable fields.
        "Campaign": {
            "id": _S,
            **_CAMPAIGN_WRITABLE,
            "status": WireField("string", values=("Stopped", "Started")),
            "createdAt": _T,
            "updatedAt": _T,
        },
        # A contact as Lynn answers it; PostContact and PutContact send name, channel, identifier
        # and correlationIds.
        "Contact": {
            "id": _S,
            "name": _S,
            "channel": _CHANNEL,
            "identifier": _S,
            "correlationIds": WireField("strings"),
            "createdAt": _T,
            "updatedAt": _T,
        },
        "Deleted": {"deleted": _B},
        "DndEntry": {
            "campaignId": _S,
            "campaignName": _S,
            "category": _NS,
            "doNotDisturb": _B,
            "updatedAt": _T,
        },
        # Request bodies of SetDnDContactByCampaign, SetDnDContactByCategory, ManageDnDByCampaign
        # (whose `contacts` are DndContact rows).
        "DndByCampaign": {"campaignId": _S, "contactId": _S, "doNotDisturb": _B},
        "DndByCategory": {"category": _S, "contactId": _S, "doNotDisturb": _B},
        "ManageDnd": {"campaignId": _S, "contacts": WireField("objects", items="DndContact")},
        "DndContact": {
            "identifier": _S,
            "name": WireField("string", nullable=True),
            "channel": WireField("string", nullable=True, values=CHANNELS),
            "doNotDisturb": _B,
        },
        # AddCampaingData's body; the keys of each `data` row are the template's columns, never renamed.
        "CampaignData": {"campaingId": _S, "templateId": _S, "typeOfData": _I, "data": WireField("objects")},
        # UploadCampaignDataByTenant's multipart form: the file part and two text fields.
        "CpgUpload": {"file": WireField("file"), "campaignId": _S, "templateId": _S},
        "TaskRef": {"taskId": _S},
        "Task": {
            "taskId": _S,
            "kind": WireField("string", values=("CampaignData", "Dnd")),
            "state": WireField("string", values=TASK_STATES),
            "total": _I,
            "processed": _I,
            "succeeded": _I,
            "failed": _I,
            "message": _NS,
            "campaignId": _NS,
            "templateId": _NS,
            "records": WireField("objects", items="TaskRecord"),
            "createdAt": _T,
            "updatedAt": _T,
        },
        "TaskRecord": {
            "row": _I,
            "Status": WireField("string", values=("200", "400", "403", "409")),
            "message": _NS,
        },
    }
)


@dataclass(frozen=True, slots=True)
class Exchange:
    """What one operation sends (a shape, or None) and answers (a shape, a list of it, or nothing
    to check)."""

    sends: str | None
    answers: str | None
    answers_list: bool = False


EXCHANGES: Final[Mapping[str, Exchange]] = MappingProxyType(
    {
        "CreateToken": Exchange("Credentials", "Token"),
        "GetCampaigns": Exchange(None, "Campaign", answers_list=True),
        "GetCampaign": Exchange(None, "Campaign"),
        "PostCampaign": Exchange("Campaign", "Campaign"),
        "PutCampaign": Exchange("Campaign", "Campaign"),
        "DeleteCampaign": Exchange(None, "Deleted"),
        "StartCampaignExecution": Exchange(None, "Campaign"),
        "StopCampaignExecution": Exchange(None, "Campaign"),
        "GetContacts": Exchange(None, "Contact", answers_list=True),
        "GetContact": Exchange(None, "Contact"),
        "PostContact": Exchange("Contact", "Contact"),
        "PutContact": Exchange("Contact", "Contact"),
        "DeleteContact": Exchange(None, "Deleted"),
        "GetDnDContact": Exchange(None, "DndEntry", answers_list=True),
        "SetDnDContactByCampaign": Exchange("DndByCampaign", "DndEntry", answers_list=True),
        "SetDnDContactByCategory": Exchange("DndByCategory", "DndEntry", answers_list=True),
        "ManageDnDByCampaign": Exchange("ManageDnd", "TaskRef"),
        "GetDndTaskStatus": Exchange(None, "Task"),
        "UploadCampaignDataByTenant": Exchange("CpgUpload", "TaskRef"),
        "AddCampaingData": Exchange("CampaignData", "TaskRef"),
        "GetTaskStatus": Exchange(None, "Task"),
    }
)


def nested_shapes(shape: str) -> dict[str, str]:
    """Field -> item shape, for the fields of `shape` that hold a list of another shape."""
    return {name: field.items for name, field in SHAPES[shape].items() if field.items is not None}
