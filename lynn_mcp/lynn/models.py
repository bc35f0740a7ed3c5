"""Lynn's wire objects as pydantic models.

Python names are snake_case; the wire is camelCase (aliases), except the vendor's own oddities
(`campaingId`, the per-record `Status`). Responses keep going when Lynn adds fields or new enum
values (extra fields ignored, enums read as plain strings); request bodies forbid unknown fields so
a typo never reaches Lynn silently.

Each model names the contract shape it reads or writes (`wire_shape`, a name in `shapes.SHAPES`):
a deployment's dialect renames fields per shape, and the client applies those renames on the way
out and back, so the models only ever see the contract's names.
"""

from __future__ import annotations

from typing import ClassVar, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from lynn_mcp.lynn.untrusted import UntrustedMessage, UntrustedName

Channel = Literal["WhatsApp", "SMS", "Voice", "Email"]
CampaignType = Literal["SingleMessage", "MultipleMessage"]
ExecutionMode = Literal["Manual", "Scheduled", "AlwaysOn"]
TERMINAL_TASK_STATES: Final = frozenset({"Completed", "Failed"})
"""A task in one of these states changes no more (Lynn's others: Pending, Running)."""


class WireResponse(BaseModel):
    """Base for what Lynn sends: camelCase aliases, unknown fields tolerated."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")
    wire_shape: ClassVar[str]


class WireRequest(BaseModel):
    """Base for what we send: camelCase aliases, unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    wire_shape: ClassVar[str]


class Campaign(WireResponse):
    wire_shape = "Campaign"

    id: str
    name: UntrustedName
    division: UntrustedName | None = None
    category: UntrustedName | None = None
    campaign_type: str | None = None
    execution_mode: str | None = None
    channel: str | None = None
    template_id: str | None = None
    start_date: str | None = None
    stop_date: str | None = None
    valid_until: str | None = None
    status: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class CampaignFields(WireRequest):
    """Body of PostCampaign and PutCampaign (PutCampaign accepts a partial body)."""

    wire_shape = "Campaign"

    name: str | None = None
    division: str | None = None
    category: str | None = None
    campaign_type: CampaignType | None = None
    execution_mode: ExecutionMode | None = None
    channel: Channel | None = None
    template_id: str | None = None
    start_date: AwareDatetime | None = None
    stop_date: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class Contact(WireResponse):
    wire_shape = "Contact"

    id: str
    name: UntrustedName | None = None
    channel: str | None = None
    identifier: UntrustedName | None = None
    correlation_ids: list[str] = Field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None


class ContactFields(WireRequest):
    """Body of PostContact and PutContact."""

    wire_shape = "Contact"

    name: str | None = None
    channel: Channel | None = None
    identifier: str | None = None
    correlation_ids: list[str] | None = None


class DndEntry(WireResponse):
    wire_shape = "DndEntry"

    campaign_id: str
    campaign_name: UntrustedName | None = None
    category: UntrustedName | None = None
    do_not_disturb: bool
    updated_at: str | None = None


class DndContactRow(WireRequest):
    """One row of ManageDnDByCampaign."""

    wire_shape = "DndContact"

    identifier: str
    name: str | None = None
    channel: Channel | None = None
    do_not_disturb: bool


class IssuedToken(WireResponse):
    wire_shape = "Token"

    token: str


class TaskRef(WireResponse):
    wire_shape = "TaskRef"

    task_id: str


class TaskRecord(WireResponse):
    wire_shape = "TaskRecord"

    row: int
    status: str = Field(alias="Status")
    message: UntrustedMessage | None = None


class Task(WireResponse):
    wire_shape = "Task"

    task_id: str
    kind: str | None = None
    state: str
    total: int = 0
    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    message: UntrustedMessage | None = None
    campaign_id: str | None = None
    """The campaign the task's rows went to (the template's own one when none was given)."""
    records: list[TaskRecord] = Field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_TASK_STATES


class Deleted(WireResponse):
    wire_shape = "Deleted"

    deleted: bool = True
