"""Tool result models: small, flat and shared, because every output schema costs the agent tokens.

Text fields that come from Lynn (names, categories, messages) are data, not instructions; they are
cleaned of control, bidi and invisible characters when the client parses Lynn's answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, Field

from lynn_mcp.models import Campaign, Contact, DndEntry, Task

EXAMPLES_SHOWN = 20


class CampaignSummary(BaseModel):
    id: str
    name: str
    status: str | None = None
    execution_mode: str | None = None
    category: str | None = None

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignSummary:
        return cls(
            id=campaign.id,
            name=campaign.name,
            status=campaign.status,
            execution_mode=campaign.execution_mode,
            category=campaign.category,
        )


class CampaignDetail(CampaignSummary):
    division: str | None = None
    campaign_type: str | None = None
    channel: str | None = None
    template_id: str | None = None
    start_date: str | None = None
    stop_date: str | None = None
    valid_until: str | None = None
    updated_at: str | None = None

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignDetail:
        return cls.model_validate(campaign.model_dump(include=set(cls.model_fields)))


class CampaignPage(BaseModel):
    campaigns: list[CampaignSummary]
    total: int = Field(description="Matches before paging.")
    next_cursor: str | None = None


class ContactView(BaseModel):
    id: str
    name: str | None = None
    channel: str | None = None
    identifier: str | None = None
    correlation_ids: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, contact: Contact) -> ContactView:
        return cls.model_validate(contact.model_dump(include=set(cls.model_fields)))


class ContactPage(BaseModel):
    contacts: list[ContactView]
    total: int = Field(description="Matches before paging.")
    next_cursor: str | None = None


class Deleted(BaseModel):
    id: str
    deleted: bool


class DndState(BaseModel):
    campaign_id: str
    campaign_name: str | None = None
    category: str | None = None
    do_not_disturb: bool


_DND_FIELDS = set(DndState.model_fields)


class DndList(BaseModel):
    contact_id: str
    entries: list[DndState] = Field(description="One per campaign.")

    @classmethod
    def of(cls, contact_id: str, entries: Iterable[DndEntry]) -> DndList:
        return cls(
            contact_id=contact_id,
            entries=[
                DndState.model_validate(e.model_dump(include=set(DndState.model_fields))) for e in entries
            ],
        )


class RowIssue(BaseModel):
    row: int = Field(description="1-based row in submission order.")
    status: str
    message: str | None = None


class TaskProgress(BaseModel):
    task_id: str
    state: str = Field(description="Pending, Running, Completed or Failed.")
    total: int
    processed: int
    succeeded: int
    failed: int
    message: str | None = None
    failed_by_status: dict[str, int] = Field(
        default_factory=dict, description="400 invalid, 403 blacklisted, 409 duplicate."
    )
    examples: list[RowIssue] = Field(default_factory=list, description="First failed rows.")

    @classmethod
    def of(cls, task: Task) -> TaskProgress:
        failures = [record for record in task.records if record.status != "200"]
        return cls(
            task_id=task.task_id,
            state=task.state,
            total=task.total,
            processed=task.processed,
            succeeded=task.succeeded,
            failed=task.failed,
            message=task.message,
            failed_by_status=dict(Counter(record.status for record in failures)),
            examples=[
                RowIssue(row=r.row, status=r.status, message=r.message) for r in failures[:EXAMPLES_SHOWN]
            ],
        )
