"""Campaign tools: list, read, create, change, delete, start and stop outbound campaigns."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer, Resolve
from pydantic import AwareDatetime, BeforeValidator, Field

from lynn_mcp.errors import Conflict
from lynn_mcp.lynn.models import Campaign, CampaignFields, CampaignType, Channel, ExecutionMode
from lynn_mcp.lynn.untrusted import clean_text
from lynn_mcp.server.apps import CAMPAIGNS, view_link
from lynn_mcp.server.consent import (
    Ask,
    ConfirmationToken,
    ConsentAnswer,
    Subject,
    consent_resolver,
    ensure_consented,
)
from lynn_mcp.server.results import CampaignDetail, CampaignPage, CampaignSummary, Deleted
from lynn_mcp.server.state import LynnContext, client_of
from lynn_mcp.server.tool_errors import lynn_errors_as_tool_errors
from lynn_mcp.server.tools.base import (
    CREATE,
    DESTROY,
    READ,
    SEND,
    UPDATE,
    CampaignId,
    Contains,
    Cursor,
    Limit,
    TemplateId,
    WellFormedId,
    contains,
    page,
)

Name = Annotated[str, Field(min_length=1, max_length=100, description="Unique per tenant.")]
Text = Annotated[str | None, Field(max_length=100)]


def _iso_text(value: object) -> object:
    # pydantic would read a number as a Unix timestamp; the schema says ISO 8601 text, so keep to it.
    if value is not None and not isinstance(value, str):
        raise ValueError("a date-time must be ISO 8601 text, such as 2026-12-01T09:00:00-03:00")
    return value


# The schema says `"format": "date-time"` (RFC 3339: an offset is part of it); a value without one is
# refused with an example, so a description would only repeat the format in every conversation.
When = Annotated[AwareDatetime | None, BeforeValidator(_iso_text)]


def _campaign_state(campaign: Campaign) -> str:
    """What an approval about a campaign is bound to: its status and last change, as Lynn reports them."""
    status = clean_text(campaign.status, max_len=40) or "unknown"
    changed = clean_text(campaign.updated_at, max_len=40) or "unknown"
    return f"status {status}, last changed {changed}"


def _refuse_unless_startable(campaign: Campaign) -> None:
    """Raise :class:`Conflict` for a campaign StartCampaign cannot start, before anyone is asked."""
    mode = clean_text(campaign.execution_mode, max_len=40)
    if mode is not None and mode.casefold() != "manual":
        raise Conflict(
            f'campaign "{campaign.name}" runs {mode}: Lynn starts and stops it by itself, and only '
            "Manual campaigns can be started through the API",
            hint="Nothing was done and nobody was asked. Only if the user wants to start it by hand, "
            "make it Manual with update_campaign first.",
        )
    if (campaign.status or "").casefold() == "started":
        raise Conflict(
            f'campaign "{campaign.name}" is already Started',
            hint="Nothing was done and nobody was asked; it is already sending.",
        )


@consent_resolver
async def _confirm_delete(ctx: LynnContext, campaign_id: str) -> Ask:
    async def subject() -> Subject:
        campaign = await client_of(ctx).get_campaign(campaign_id)
        return Subject(
            f'Delete campaign "{campaign.name}" ({campaign.id}) with all its records and blacklist '
            "entries. This cannot be undone",
            _campaign_state(campaign),
        )

    return Ask(subject)


@consent_resolver
async def _confirm_start(ctx: LynnContext, campaign_id: str) -> Ask:
    async def subject() -> Subject:
        campaign = await client_of(ctx).get_campaign(campaign_id)
        _refuse_unless_startable(campaign)
        channel = campaign.channel or "WhatsApp"
        return Subject(
            f'Start campaign "{campaign.name}" ({campaign.id}): Lynn begins sending {channel} messages '
            "to every contact loaded into it. Sent messages cannot be taken back",
            _campaign_state(campaign),
        )

    return Ask(subject)


def register(server: MCPServer[object]) -> None:
    @server.tool(annotations=READ, meta=view_link(CAMPAIGNS))
    @lynn_errors_as_tool_errors
    async def list_campaigns(
        ctx: LynnContext,
        name_contains: Contains = None,
        status: Annotated[str | None, Field(max_length=20, description="Started or Stopped.")] = None,
        category: Contains = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> CampaignPage:
        """List the tenant's campaigns (at most 15), filtered and paged."""
        campaigns = [
            c
            for c in await client_of(ctx).list_campaigns()
            if contains(c.name, name_contains)
            and contains(c.category, category)
            and (status is None or (c.status or "").casefold() == status.casefold())
        ]
        campaigns.sort(key=lambda c: c.name.casefold())
        items, total, next_cursor = page(campaigns, limit, cursor)
        return CampaignPage(
            campaigns=[CampaignSummary.of(c) for c in items], total=total, next_cursor=next_cursor
        )

    @server.tool(annotations=READ, meta=view_link(CAMPAIGNS))
    @lynn_errors_as_tool_errors
    async def get_campaign(ctx: LynnContext, campaign_id: CampaignId) -> CampaignDetail:
        """Read one campaign with its dates, template and type."""
        return CampaignDetail.of(await client_of(ctx).get_campaign(campaign_id))

    @server.tool(annotations=CREATE)
    @lynn_errors_as_tool_errors
    async def create_campaign(
        ctx: LynnContext,
        name: Name,
        execution_mode: ExecutionMode = "Manual",
        channel: Channel = "WhatsApp",
        campaign_type: CampaignType = "SingleMessage",
        template_id: TemplateId | None = None,
        category: Text = None,
        division: Text = None,
        start_date: When = None,
        stop_date: When = None,
        valid_until: When = None,
    ) -> CampaignSummary:
        """Create a campaign. Only Manual campaigns can be started and stopped here; Scheduled needs
        start_date < stop_date; WhatsApp allows SingleMessage only; 15 campaigns per tenant at most."""
        fields = CampaignFields(
            name=name,
            execution_mode=execution_mode,
            channel=channel,
            campaign_type=campaign_type,
            template_id=template_id,
            category=category,
            division=division,
            start_date=start_date,
            stop_date=stop_date,
            valid_until=valid_until,
        )
        return CampaignSummary.of(await client_of(ctx).create_campaign(fields))

    @server.tool(annotations=UPDATE)
    @lynn_errors_as_tool_errors
    async def update_campaign(
        ctx: LynnContext,
        campaign_id: CampaignId,
        name: Annotated[str | None, Field(min_length=1, max_length=100)] = None,
        execution_mode: ExecutionMode | None = None,
        template_id: Annotated[str | None, Field(max_length=64), WellFormedId] = None,
        category: Text = None,
        division: Text = None,
        start_date: When = None,
        stop_date: When = None,
        valid_until: When = None,
    ) -> CampaignSummary:
        """Change the given fields of a campaign; omitted fields stay as they are."""
        fields = CampaignFields(
            name=name,
            execution_mode=execution_mode,
            template_id=template_id,
            category=category,
            division=division,
            start_date=start_date,
            stop_date=stop_date,
            valid_until=valid_until,
        )
        return CampaignSummary.of(await client_of(ctx).update_campaign(campaign_id, fields))

    @server.tool(annotations=DESTROY)
    @lynn_errors_as_tool_errors
    async def delete_campaign(
        ctx: LynnContext,
        campaign_id: CampaignId,
        consent: Annotated[ConsentAnswer, Resolve(_confirm_delete)],
        confirmation_token: ConfirmationToken = None,
    ) -> Deleted:
        """Delete a campaign and its records. Cannot be undone; the user confirms it."""
        ensure_consented(ctx, consent)
        return Deleted(id=campaign_id, deleted=await client_of(ctx).delete_campaign(campaign_id))

    @server.tool(annotations=SEND)
    @lynn_errors_as_tool_errors
    async def start_campaign(
        ctx: LynnContext,
        campaign_id: CampaignId,
        consent: Annotated[ConsentAnswer, Resolve(_confirm_start)],
        confirmation_token: ConfirmationToken = None,
    ) -> CampaignSummary:
        """Start a Manual campaign: Lynn begins messaging its contacts. The user confirms it."""
        ensure_consented(ctx, consent)
        return CampaignSummary.of(await client_of(ctx).start_campaign(campaign_id))

    @server.tool(annotations=UPDATE)
    @lynn_errors_as_tool_errors
    async def stop_campaign(ctx: LynnContext, campaign_id: CampaignId) -> CampaignSummary:
        """Stop a running Manual campaign."""
        return CampaignSummary.of(await client_of(ctx).stop_campaign(campaign_id))
