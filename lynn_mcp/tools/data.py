"""Campaign data tools: put template rows into a campaign and follow Lynn's tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import anyio
from mcp.server.mcpserver import MCPServer
from pydantic import Field

from lynn_mcp.errors import InvalidArgument
from lynn_mcp.tools.base import (
    CREATE,
    READ,
    CampaignId,
    LynnContext,
    TaskId,
    TemplateId,
    client_of,
    lynn_tool,
)
from lynn_mcp.tools.results import TaskProgress

Row = dict[Annotated[str, Field(max_length=100)], Annotated[str, Field(max_length=1000)]]


def register(server: MCPServer[object]) -> None:
    @server.tool(annotations=CREATE)
    @lynn_tool
    async def add_campaign_data(
        ctx: LynnContext,
        template_id: TemplateId,
        rows: Annotated[
            list[Row], Field(min_length=1, max_length=1000, description="Template column → value.")
        ],
        campaign_id: Annotated[
            str | None, Field(max_length=64, description="Default: the template's.")
        ] = None,
    ) -> TaskProgress:
        """Send up to 1,000 template rows in one request and return its task. For files, larger lists,
        validation and waiting, use load_campaign_data."""
        client = client_of(ctx)
        ref = await client.add_campaign_data(template_id, campaign_id, rows)
        return TaskProgress.of(await client.get_task(ref.task_id))

    @server.tool(annotations=CREATE)
    @lynn_tool
    async def upload_campaign_file(
        ctx: LynnContext,
        file_path: Annotated[str, Field(min_length=1, max_length=4096, description="Path to a .cpg file.")],
        campaign_id: CampaignId,
        template_id: TemplateId,
    ) -> TaskProgress:
        """Create campaign records from a .cpg file (header row of template columns); returns its task."""
        path = await anyio.Path(file_path).expanduser()
        if path.suffix.lower() != ".cpg" or not await path.is_file():
            raise InvalidArgument("file_path must name an existing .cpg file")
        client = client_of(ctx)
        ref = await client.upload_campaign_file(Path(path), campaign_id=campaign_id, template_id=template_id)
        return TaskProgress.of(await client.get_task(ref.task_id))

    @server.tool(annotations=READ)
    @lynn_tool
    async def get_task_status(ctx: LynnContext, task_id: TaskId) -> TaskProgress:
        """Progress and failed rows of a campaign data task."""
        return TaskProgress.of(await client_of(ctx).get_task(task_id))
