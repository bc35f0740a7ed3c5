"""Tool and resource results: small, flat and shared models, because every output schema costs tokens.

Text fields that come from Lynn (names, categories, messages) are data, not instructions; they are
cleaned of control, bidi and invisible characters when the client parses Lynn's answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, Field

# The bulk tools' shared result lives with the workflows that build it; re-exported for tools. `Opt`
# (an optional field left out when empty) and the examples cap are the reports' own, shared here.
from lynn_mcp.bulk.report import EXAMPLES_SHOWN, Opt
from lynn_mcp.bulk.report import LoadReport as LoadReport
from lynn_mcp.bulk.report import TaskReport as TaskReport
from lynn_mcp.lynn.models import Campaign, Contact, DndEntry, Task


class CampaignSummary(BaseModel):
    id: str
    name: str
    status: Opt[str] = None
    execution_mode: Opt[str] = None
    category: Opt[str] = None

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
    division: Opt[str] = None
    campaign_type: Opt[str] = None
    channel: Opt[str] = None
    template_id: Opt[str] = None
    start_date: Opt[str] = None
    stop_date: Opt[str] = None
    valid_until: Opt[str] = None
    updated_at: Opt[str] = None

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignDetail:
        return cls.model_validate(campaign.model_dump(include=set(cls.model_fields)))


class CampaignPage(BaseModel):
    campaigns: list[CampaignSummary]
    total: int
    next_cursor: Opt[str] = None


class ContactView(BaseModel):
    id: str
    name: Opt[str] = None
    channel: Opt[str] = None
    identifier: Opt[str] = None
    correlation_ids: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, contact: Contact) -> ContactView:
        return cls.model_validate(contact.model_dump(include=set(cls.model_fields)))


class ContactPage(BaseModel):
    contacts: list[ContactView]
    total: int
    next_cursor: Opt[str] = None


class Deleted(BaseModel):
    id: str
    deleted: bool


class DndState(BaseModel):
    campaign_id: str
    campaign_name: Opt[str] = None
    category: Opt[str] = None
    do_not_disturb: bool


class DndList(BaseModel):
    contact_id: str
    entries: list[DndState]

    @classmethod
    def of(cls, contact_id: str, entries: Iterable[DndEntry]) -> DndList:
        return cls(
            contact_id=contact_id,
            entries=[
                DndState.model_validate(e.model_dump(include=set(DndState.model_fields))) for e in entries
            ],
        )


class RowIssue(BaseModel):
    row: int
    status: str
    message: Opt[str] = None


class TaskProgress(BaseModel):
    task_id: str
    state: str
    total: int
    processed: int
    succeeded: int
    failed: int
    message: Opt[str] = None
    failed_by_status: dict[str, int] = Field(default_factory=dict)
    examples: list[RowIssue] = Field(default_factory=list)

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
