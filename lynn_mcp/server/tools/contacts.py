"""Contact tools: the people campaigns reach, one channel identifier (phone) each."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer, Resolve
from pydantic import Field

from lynn_mcp.lynn.models import Channel, ContactFields
from lynn_mcp.lynn.untrusted import clean_text
from lynn_mcp.server.consent import (
    Ask,
    ConfirmationToken,
    ConsentAnswer,
    Subject,
    consent_resolver,
    ensure_consented,
)
from lynn_mcp.server.results import ContactPage, ContactView, Deleted
from lynn_mcp.server.state import LynnContext, client_of
from lynn_mcp.server.tool_errors import lynn_errors_as_tool_errors
from lynn_mcp.server.tools.base import (
    CREATE,
    DESTROY,
    READ,
    UPDATE,
    ContactId,
    Contains,
    Cursor,
    Limit,
    contains,
    page,
)

Identifier = Annotated[str, Field(min_length=1, max_length=100, description="Phone as digits (E.164, no +).")]
CorrelationIds = Annotated[
    list[Annotated[str, Field(max_length=64)]],
    Field(max_length=3, description="Up to 3 ids linking the person across channels."),
]


@consent_resolver
async def _confirm_delete(ctx: LynnContext, contact_id: str) -> Ask:
    async def subject() -> Subject:
        contact = await client_of(ctx).get_contact(contact_id)
        return Subject(
            f'Delete contact "{contact.name or "unnamed"}" ({contact.channel or "unknown channel"} '
            f"{contact.identifier or 'without identifier'}, id {contact.id}). This cannot be undone",
            f"last changed {clean_text(contact.updated_at, max_len=40) or 'unknown'}",
        )

    return Ask(subject)


def register(server: MCPServer[object]) -> None:
    @server.tool(annotations=READ)
    @lynn_errors_as_tool_errors
    async def list_contacts(
        ctx: LynnContext,
        name_contains: Contains = None,
        identifier_contains: Contains = None,
        channel: Channel | None = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> ContactPage:
        """Find contacts by name, identifier or channel, paged."""
        contacts = [
            c
            for c in await client_of(ctx).list_contacts()
            if contains(c.name, name_contains)
            and contains(c.identifier, identifier_contains)
            and (channel is None or c.channel == channel)
        ]
        items, total, next_cursor = page(contacts, limit, cursor)
        return ContactPage(contacts=[ContactView.of(c) for c in items], total=total, next_cursor=next_cursor)

    @server.tool(annotations=READ)
    @lynn_errors_as_tool_errors
    async def get_contact(ctx: LynnContext, contact_id: ContactId) -> ContactView:
        """Read one contact."""
        return ContactView.of(await client_of(ctx).get_contact(contact_id))

    @server.tool(annotations=CREATE)
    @lynn_errors_as_tool_errors
    async def create_contact(
        ctx: LynnContext,
        name: Annotated[str, Field(min_length=1, max_length=200)],
        identifier: Identifier,
        channel: Channel = "WhatsApp",
        correlation_ids: CorrelationIds | None = None,
    ) -> ContactView:
        """Create a contact; a channel + identifier pair that exists already is a conflict."""
        fields = ContactFields(
            name=name, identifier=identifier, channel=channel, correlation_ids=correlation_ids
        )
        return ContactView.of(await client_of(ctx).create_contact(fields))

    @server.tool(annotations=UPDATE)
    @lynn_errors_as_tool_errors
    async def update_contact(
        ctx: LynnContext,
        contact_id: ContactId,
        name: Annotated[str | None, Field(min_length=1, max_length=200)] = None,
        identifier: Annotated[str | None, Field(min_length=1, max_length=100)] = None,
        channel: Channel | None = None,
        correlation_ids: CorrelationIds | None = None,
    ) -> ContactView:
        """Change the given fields of a contact; omitted fields stay as they are."""
        fields = ContactFields(
            name=name, identifier=identifier, channel=channel, correlation_ids=correlation_ids
        )
        return ContactView.of(await client_of(ctx).update_contact(contact_id, fields))

    @server.tool(annotations=DESTROY)
    @lynn_errors_as_tool_errors
    async def delete_contact(
        ctx: LynnContext,
        contact_id: ContactId,
        consent: Annotated[ConsentAnswer, Resolve(_confirm_delete)],
        confirmation_token: ConfirmationToken = None,
    ) -> Deleted:
        """Delete a contact. Cannot be undone; the user confirms it."""
        ensure_consented(ctx, consent)
        return Deleted(id=contact_id, deleted=await client_of(ctx).delete_contact(contact_id))
