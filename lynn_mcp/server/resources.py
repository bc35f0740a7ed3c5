"""MCP resources: Lynn objects as JSON documents that clients can show and attach to a conversation.

    lynn://campaigns              every campaign of the tenant (concise)
    lynn://campaigns/{id}         one campaign with its dates, template and type
    lynn://contacts/{id}          one contact
    lynn://tasks/{task_id}        a data task or a blacklist task, with its failed rows by status

They return the same lean result models as the tools, so an attached resource and a tool result
read alike. Failures become resource errors worded like tool errors (`code: what. Next step.`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from pydantic import BaseModel, TypeAdapter

from lynn_mcp.errors import LynnError, NotFound
from lynn_mcp.lynn.client import LynnClient
from lynn_mcp.server.results import CampaignDetail, CampaignSummary, ContactView, TaskProgress
from lynn_mcp.server.state import AppState

JSON = "application/json"
_CAMPAIGN_LIST = TypeAdapter(list[CampaignSummary])

# The SDK hands a Context to tools and resource templates, but not to static resources or to
# completion handlers; both need the Lynn client, which lives in the lifespan state. A middleware
# (which does see the request context) publishes that state for the duration of each request.
_request_state: ContextVar[AppState | None] = ContextVar("lynn_request_state", default=None)


class PublishAppState:
    """Server middleware: make the lifespan's AppState readable by `request_client()`."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        state = ctx.lifespan_context
        token = _request_state.set(state if isinstance(state, AppState) else None)
        try:
            return await call_next(ctx)
        finally:
            _request_state.reset(token)


def publish_app_state(server: MCPServer[Any]) -> None:
    """Install `PublishAppState` once (prompts' completions and resources both rely on it)."""
    if not any(isinstance(mw, PublishAppState) for mw in server.middleware):
        server.middleware.append(PublishAppState())


def request_client() -> LynnClient:
    """The Lynn client of the request being handled. Raises ResourceError outside a request."""
    state = _request_state.get()
    if state is None:
        raise ResourceError("internal_error: the Lynn client is not available outside a request.")
    return state.client


async def _read(fetch: Callable[[LynnClient], Awaitable[BaseModel | list[CampaignSummary]]]) -> str:
    """Run one read against Lynn and return it as JSON, mapping Lynn's failures to resource errors."""
    try:
        value = await fetch(request_client())
    except NotFound as exc:
        raise ResourceNotFoundError(exc.for_agent()) from None
    except LynnError as exc:
        raise ResourceError(exc.for_agent()) from None
    if isinstance(value, list):
        return _CAMPAIGN_LIST.dump_json(value, indent=2).decode()
    return value.model_dump_json(indent=2)


async def _campaigns(client: LynnClient) -> list[CampaignSummary]:
    campaigns = sorted(await client.list_campaigns(), key=lambda c: c.name.casefold())
    return [CampaignSummary.of(c) for c in campaigns]


async def _task(client: LynnClient, task_id: str) -> TaskProgress:
    """A data task, else a blacklist task: Lynn keeps them apart, a reader should not have to."""
    try:
        return TaskProgress.of(await client.get_task(task_id))
    except NotFound:
        return TaskProgress.of(await client.get_dnd_task(task_id))


def register_resources(server: MCPServer[Any]) -> None:
    publish_app_state(server)

    @server.resource("lynn://campaigns", name="campaigns", title="Campaigns", mime_type=JSON)
    async def campaigns() -> str:
        """Every campaign of the tenant: id, name, status, execution mode, category."""
        return await _read(_campaigns)

    @server.resource("lynn://campaigns/{id}", name="campaign", title="Campaign", mime_type=JSON)
    async def campaign(id: str) -> str:
        """One campaign with its dates, template and type."""

        async def fetch(client: LynnClient) -> CampaignDetail:
            return CampaignDetail.of(await client.get_campaign(id))

        return await _read(fetch)

    @server.resource("lynn://contacts/{id}", name="contact", title="Contact", mime_type=JSON)
    async def contact(id: str) -> str:
        """One contact: name, channel, identifier (phone), correlation ids."""

        async def fetch(client: LynnClient) -> ContactView:
            return ContactView.of(await client.get_contact(id))

        return await _read(fetch)

    @server.resource("lynn://tasks/{task_id}", name="task", title="Task", mime_type=JSON)
    async def task(task_id: str) -> str:
        """A campaign data or blacklist task: state, counts, failed rows by status."""

        async def fetch(client: LynnClient) -> TaskProgress:
            return await _task(client, task_id)

        return await _read(fetch)
