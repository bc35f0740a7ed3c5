"""The one result shape of every bulk tool (`LoadReport`) and the tally that builds it.

`TaskReport` is the same shape for one Lynn task (get_task_status, get_dnd_task_status,
add_campaign_data): `LoadReport` adds only what a load has and a task has not (elapsed time, the
results file and the resume handle).

Accounting rule, checked whenever a report is built:
`submitted = accepted + already_in_campaign + rejected + unprocessed`.
`already_in_campaign` counts rows Lynn answered `409` for because the campaign already holds a record
of that phone (a re-run without its resume handle, or rows loaded before): they are there, not
rejected. `rejected_by_reason` keys are local reason codes (`invalid_phone`, `duplicate_in_file`,
...) or Lynn's record statuses (`400`, `403`).

A report stays small however large the load: at most `EXAMPLES_SHOWN` examples, the first and last
`TASK_IDS_SHOWN // 2` task ids (with `task_count` when more were made), and a message of at most
`MESSAGE_MAX_CHARS` characters.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Final, Self, TypeVar

from pydantic import BaseModel, Field, model_validator

from lynn_mcp.lynn.models import Task

__all__ = ["EXAMPLES_SHOWN", "LoadReport", "Opt", "Tally", "TaskReport", "cap_message", "example"]

EXAMPLES_SHOWN: Final = 20
"""Rejected rows shown in a report (and failed records in a task's result)."""
TASK_IDS_SHOWN: Final = 20
MESSAGE_MAX_CHARS: Final = 1000
ALREADY_IN_CAMPAIGN: Final = "409"
"""Lynn's record status for a phone the campaign already holds."""
T = TypeVar("T")


def _is_none(value: object) -> bool:
    return value is None


def _is_zero(value: object) -> bool:
    return value == 0


# Optional result fields are left out when empty rather than sent as null: shorter results, and an
# output schema that needs no `null` branches. Every tool result model uses this one (tools/results.py).
Opt = Annotated[T | None, Field(exclude_if=_is_none)]


def cap_message(message: str) -> str:
    """A report's message cut to MESSAGE_MAX_CHARS (notes and Lynn's text could make it grow)."""
    if len(message) <= MESSAGE_MAX_CHARS:
        return message
    return message[: MESSAGE_MAX_CHARS - 1].rstrip() + "…"


def example(row: int, status: str, message: str | None) -> str:
    """One rejected row for a report: `row 12: 403 phone ... is on this campaign's blacklist`."""
    return f"row {row}: {status} {message}" if message else f"row {row}: {status}"


# No docstrings on these models: a docstring becomes a schema description, paid in every tools/list.
class TaskReport(BaseModel):
    state: str
    submitted: int
    accepted: int
    rejected: int
    unprocessed: int
    # Left out when 0: an output schema lists only guaranteed fields (server.guaranteed_fields_only).
    already_in_campaign: int = Field(default=0, exclude_if=_is_zero)
    rejected_by_reason: dict[str, int] = Field(default_factory=dict)
    examples: list[str] = Field(default_factory=list)
    task_ids: list[str] = Field(default_factory=list)
    task_count: Opt[int] = None
    campaign_id: Opt[str] = None
    message: Opt[str] = None

    @model_validator(mode="after")
    def _counts_add_up(self) -> Self:
        if self.submitted != self.accepted + self.already_in_campaign + self.rejected + self.unprocessed:
            raise ValueError(
                f"accounting error: submitted {self.submitted} != accepted {self.accepted} + "
                f"already_in_campaign {self.already_in_campaign} + rejected {self.rejected} + "
                f"unprocessed {self.unprocessed}"
            )
        if self.rejected != sum(self.rejected_by_reason.values()):
            raise ValueError("accounting error: rejected_by_reason does not sum to rejected")
        return self

    @classmethod
    def of_task(cls, task: Task, **extra: object) -> Self:
        """A Lynn task in the shared shape: records 200 accepted, 409 already in the campaign, others
        rejected, the rest unprocessed.

        `extra` sets further fields of a subclass (e.g. `elapsed_s` of a LoadReport).
        """
        tally = Tally()
        for record in task.records:
            if record.status == "200":
                tally.accepted += 1
            elif record.status == ALREADY_IN_CAMPAIGN:
                tally.already_in_campaign += 1
            else:
                tally.reject(record.row, record.status, record.message)
        submitted = max(task.total, len(task.records))
        tally.unprocessed = submitted - len(task.records)
        tally.task_ids.append(task.task_id)
        tally.campaign_id = task.campaign_id
        report = tally.report(task.state, submitted, message=task.message)
        return cls.model_validate({**report.model_dump(include=set(cls.model_fields)), **extra})


class LoadReport(TaskReport):
    elapsed_s: Opt[float] = None
    results_path: Opt[str] = None
    resume: Opt[str] = None


class Tally:
    """Running counts of one load. Not thread-safe; all updates happen on the event loop."""

    __slots__ = (
        "accepted",
        "already_in_campaign",
        "campaign_id",
        "examples",
        "rejected_by_reason",
        "task_ids",
        "unprocessed",
    )

    def __init__(self) -> None:
        self.accepted = 0
        self.already_in_campaign = 0
        self.campaign_id: str | None = None
        self.unprocessed = 0
        self.rejected_by_reason: Counter[str] = Counter()
        self.examples: list[tuple[int, str]] = []
        self.task_ids: list[str] = []

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    @property
    def settled(self) -> int:
        """Rows whose outcome is final (accepted, already in the campaign, or rejected)."""
        return self.accepted + self.already_in_campaign + self.rejected

    def reject(self, row: int, status: str, message: str | None) -> None:
        self.rejected_by_reason[status] += 1
        if len(self.examples) < EXAMPLES_SHOWN:
            self.examples.append((row, example(row, status, message)))

    def report(
        self,
        state: str,
        submitted: int,
        *,
        elapsed_s: float | None = None,
        results_path: str | None = None,
        resume: str | None = None,
        message: str | None = None,
    ) -> LoadReport:
        """The report; raises ValueError (an accounting error) unless the counts add up."""
        task_ids = self.task_ids
        half = TASK_IDS_SHOWN // 2
        shown = task_ids if len(task_ids) <= TASK_IDS_SHOWN else [*task_ids[:half], *task_ids[-half:]]
        if message is not None:
            message = cap_message(message)
        return LoadReport(
            state=state,
            submitted=submitted,
            accepted=self.accepted,
            already_in_campaign=self.already_in_campaign,
            rejected=self.rejected,
            unprocessed=self.unprocessed,
            rejected_by_reason=dict(sorted(self.rejected_by_reason.items())),
            examples=[text for _, text in sorted(self.examples)],
            task_ids=list(shown),
            task_count=len(task_ids) if len(task_ids) > len(shown) else None,
            campaign_id=self.campaign_id,
            elapsed_s=None if elapsed_s is None else round(elapsed_s, 3),
            results_path=results_path,
            resume=resume,
            message=message,
        )
