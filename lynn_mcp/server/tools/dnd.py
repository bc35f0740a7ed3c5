"""Do-not-disturb (blacklist) tools: who must not be messaged, per campaign or per category."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer, Resolve
from pydantic import BaseModel, ConfigDict, Field

from lynn_mcp.lynn.models import Channel, DndEntry
from lynn_mcp.lynn.untrusted import clean_text
from lynn_mcp.server.apps import LOAD_REPORT, view_link
from lynn_mcp.server.consent import (
    Ask,
    ConfirmationToken,
    ConsentAnswer,
    Subject,
    consent_resolver,
    ensure_consented,
)
from lynn_mcp.server.results import DndList, LoadReport, TaskReport
from lynn_mcp.server.state import LynnContext, client_of, state_of
from lynn_mcp.server.tool_errors import lynn_errors_as_tool_errors
from lynn_mcp.server.tools.base import READ, UPDATE, CampaignId, ContactId, TaskId
from lynn_mcp.server.tools.bulk import OptionalPath, Resume, TimeoutS, load_options, progress_of

DoNotDisturb = Annotated[bool, Field(description="true blacklists; false lets messages through again.")]


# No docstring: it would become a schema description paid in every tools/list.
class DndRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identifier: Annotated[str, Field(min_length=1, max_length=100)]
    do_not_disturb: bool = True
    name: Annotated[str | None, Field(max_length=200)] = None
    channel: Channel | None = None

    def fields(self) -> dict[str, str]:
        """The row as the text fields a DnD load checks (the same shape as a file row)."""
        values = {"identifier": self.identifier, "do_not_disturb": str(self.do_not_disturb).lower()}
        if self.name:
            values["name"] = self.name
        if self.channel:
            values["channel"] = self.channel
        return values


def _blocks_state(entries: list[DndEntry]) -> str:
    """What an approval to lift blocks is bound to: the contact's blocks in scope (which campaign, since
    when, as Lynn reports them). Lifting and setting a block again both change it."""
    blocked = sorted((e for e in entries if e.do_not_disturb), key=lambda e: e.campaign_id)
    if not blocked:
        return "not blocked"
    since = [clean_text(e.updated_at, max_len=40) or "an unknown time" for e in blocked]
    return "blocked for " + "; ".join(
        f'"{e.campaign_name or e.campaign_id}" since {at}' for e, at in zip(blocked, since, strict=True)
    )


@consent_resolver
async def _confirm_campaign_lift(
    ctx: LynnContext, contact_id: str, campaign_id: str, do_not_disturb: bool
) -> Ask | None:
    """Only lifting a block needs the user: it lets messages reach someone who opted out."""
    if do_not_disturb:
        return None

    async def subject() -> Subject:
        client = client_of(ctx)
        contact = await client.get_contact(contact_id)
        campaign = await client.get_campaign(campaign_id)
        blocks = [e for e in await client.get_contact_dnd(contact_id) if e.campaign_id == campaign.id]
        return Subject(
            f'Lift the do-not-disturb block of contact "{contact.name or contact.id}" for campaign '
            f'"{campaign.name}": they can be messaged by it again',
            _blocks_state(blocks),
        )

    return Ask(subject)


@consent_resolver
async def _confirm_category_lift(
    ctx: LynnContext, contact_id: str, category: str, do_not_disturb: bool
) -> Ask | None:
    """Only lifting a block needs the user: it lets messages reach someone who opted out."""
    if do_not_disturb:
        return None

    async def subject() -> Subject:
        client = client_of(ctx)
        contact = await client.get_contact(contact_id)
        wanted = category.casefold()
        count = sum(1 for c in await client.list_campaigns() if (c.category or "").casefold() == wanted)
        entries = await client.get_contact_dnd(contact_id)
        blocks = [e for e in entries if (e.category or "").casefold() == wanted]
        return Subject(
            f'Lift the do-not-disturb block of contact "{contact.name or contact.id}" for every campaign '
            f'of category "{category}" ({count} today): they can be messaged by them again',
            _blocks_state(blocks),
        )

    return Ask(subject)


@consent_resolver
async def _confirm_bulk_lift(
    ctx: LynnContext, campaign_id: str, rows: list[DndRow] | None, file_path: str | None
) -> Ask | None:
    """Rows that lift a block need the user; an approval binds which contacts (not the file's path)
    but not their current blocks: reading those would cost a request per contact (docs/security.md)."""
    from lynn_mcp.bulk.loads import blacklist_lifts, prepare_dnd_load  # lazily: see tools/bulk.py

    load = await prepare_dnd_load(
        None,
        state_of(ctx).signer,
        campaign_id=campaign_id,
        rows=None if rows is None else [row.fields() for row in rows],
        file_path=file_path,
        options=load_options(ctx, dry_run=True),  # the tool's file policy; only read here
    )
    lifts = await blacklist_lifts(load)
    if lifts.count == 0:
        return None

    async def subject() -> Subject:
        campaign = await client_of(ctx).get_campaign(campaign_id)
        # The list's fingerprint is in the question, so on 2026-07-28 an answer recorded for one set
        # of lifted contacts (a file rewritten between rounds) does not count for another.
        return Subject(
            f"Lift the do-not-disturb block of {lifts.count} contact(s) (list {lifts.digest[:16]}) for "
            f'campaign "{campaign.name}": they can be messaged by it again'
        )

    return Ask(subject, binds={"campaign_id": campaign_id, "lifted": lifts.digest})


def register(server: MCPServer[object]) -> None:
    @server.tool(annotations=READ)
    @lynn_errors_as_tool_errors
    async def get_contact_dnd(ctx: LynnContext, contact_id: ContactId) -> DndList:
        """List the campaigns where a contact is blacklisted."""
        return DndList.of(contact_id, await client_of(ctx).get_contact_dnd(contact_id))

    @server.tool(annotations=UPDATE)
    @lynn_errors_as_tool_errors
    async def set_dnd_for_campaign(
        ctx: LynnContext,
        contact_id: ContactId,
        campaign_id: CampaignId,
        consent: Annotated[ConsentAnswer, Resolve(_confirm_campaign_lift)],
        do_not_disturb: DoNotDisturb = True,
        confirmation_token: ConfirmationToken = None,
    ) -> DndList:
        """Blacklist a contact for one campaign (or lift it with do_not_disturb=false). Lifting needs the
        user's confirmation."""
        ensure_consented(ctx, consent)
        entries = await client_of(ctx).set_dnd_by_campaign(campaign_id, contact_id, do_not_disturb)
        return DndList.of(contact_id, entries)

    @server.tool(annotations=UPDATE)
    @lynn_errors_as_tool_errors
    async def set_dnd_for_category(
        ctx: LynnContext,
        contact_id: ContactId,
        category: Annotated[str, Field(min_length=1, max_length=100)],
        consent: Annotated[ConsentAnswer, Resolve(_confirm_category_lift)],
        do_not_disturb: DoNotDisturb = True,
        confirmation_token: ConfirmationToken = None,
    ) -> DndList:
        """Blacklist a contact for every campaign of a category (or lift it). Lifting needs the user's
        confirmation."""
        ensure_consented(ctx, consent)
        entries = await client_of(ctx).set_dnd_by_category(category, contact_id, do_not_disturb)
        return DndList.of(contact_id, entries)

    @server.tool(annotations=UPDATE, meta=view_link(LOAD_REPORT))
    @lynn_errors_as_tool_errors
    async def bulk_set_dnd(
        ctx: LynnContext,
        campaign_id: CampaignId,
        consent: Annotated[ConsentAnswer, Resolve(_confirm_bulk_lift)],
        rows: Annotated[list[DndRow] | None, Field(max_length=1000)] = None,
        file_path: OptionalPath = None,
        timeout_s: TimeoutS = 600,
        resume: Resume = None,
        confirmation_token: ConfirmationToken = None,
    ) -> LoadReport:
        """Blacklist (or lift) many contacts of one campaign from rows or a file (identifier,
        do_not_disturb, name, channel). Reports every row. Lifting needs the user's confirmation."""
        ensure_consented(ctx, consent)
        state = state_of(ctx)
        from lynn_mcp.bulk.loads import prepare_dnd_load  # lazily: see tools/bulk.py

        load = await prepare_dnd_load(
            state.client,
            state.signer,
            campaign_id=campaign_id,
            rows=None if rows is None else [row.fields() for row in rows],
            file_path=file_path,
            resume=resume,
            options=load_options(ctx, timeout_s=timeout_s),
            progress=progress_of(ctx),
        )
        return await load.run()

    @server.tool(annotations=READ, meta=view_link(LOAD_REPORT))
    @lynn_errors_as_tool_errors
    async def get_dnd_task_status(ctx: LynnContext, task_id: TaskId) -> TaskReport:
        """Progress and rejected rows of a bulk_set_dnd task."""
        return TaskReport.of_task(await client_of(ctx).get_dnd_task(task_id))
