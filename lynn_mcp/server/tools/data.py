"""Campaign data tools: put template rows into a campaign and follow Lynn's tasks.

`load_campaign_data` is the composite one (validate, chunk, send, wait, account for every row);
the others map one Lynn operation each. All of them answer with the shared `LoadReport`.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from lynn_mcp.server.apps import LOAD_REPORT, view_link
from lynn_mcp.server.results import LoadReport, TaskReport
from lynn_mcp.server.state import LynnContext, client_of, state_of
from lynn_mcp.server.tool_errors import lynn_errors_as_tool_errors
from lynn_mcp.server.tools.base import CREATE, READ, CampaignId, TaskId, TemplateId
from lynn_mcp.server.tools.bulk import (
    JsonRequestText,
    OptionalPath,
    Resume,
    TimeoutS,
    load_options,
    progress_of,
)

Key = Annotated[str, Field(max_length=100)]
Row = dict[Key, Annotated[str, Field(max_length=1000)]]
FilePath = Annotated[str, Field(min_length=1, max_length=4096, description="Path on the server.")]


def register(server: MCPServer[object]) -> None:
    @server.tool(annotations=CREATE, meta=view_link(LOAD_REPORT))
    @lynn_errors_as_tool_errors
    async def load_campaign_data(
        ctx: LynnContext,
        template_id: TemplateId | None = None,
        campaign_id: CampaignId | None = None,
        json_request: JsonRequestText = None,
        rows: Annotated[list[Row] | None, Field(max_length=500)] = None,
        file_path: OptionalPath = None,
        column_map: Annotated[
            dict[Key, Key] | None, Field(max_length=50, description="File header to template column.")
        ] = None,
        dry_run: Annotated[bool, Field(description="Only validate.")] = False,
        timeout_s: TimeoutS = 600,
        resume: Resume = None,
    ) -> LoadReport:
        """Load rows (inline or a CSV/.cpg/.xlsx/JSON file) into a WhatsApp template: checked,
        chunked, awaited, every row reported. If unprocessed, call again adding resume."""
        state = state_of(ctx)
        from lynn_mcp.bulk.loads import prepare_campaign_data_load  # lazily: see tools/bulk.py

        load = await prepare_campaign_data_load(
            None if dry_run else state.client,
            state.signer,
            template_id=template_id,
            campaign_id=campaign_id,
            json_request=json_request,
            rows=rows,
            file_path=file_path,
            column_map=column_map,
            resume=resume,
            options=load_options(ctx, timeout_s=timeout_s, dry_run=dry_run),
            progress=progress_of(ctx),
        )
        return await load.run()

    @server.tool(annotations=CREATE)
    @lynn_errors_as_tool_errors
    async def add_campaign_data(
        ctx: LynnContext,
        template_id: TemplateId,
        rows: Annotated[
            list[Row], Field(min_length=1, max_length=1000, description="Template column to value.")
        ],
        campaign_id: CampaignId | None = None,
    ) -> TaskReport:
        """Send up to 1,000 template rows as one task, unchecked; prefer load_campaign_data."""
        client = client_of(ctx)
        ref = await client.add_campaign_data(template_id, campaign_id, rows)
        return TaskReport.of_task(await client.get_task(ref.task_id))

    @server.tool(annotations=CREATE, meta=view_link(LOAD_REPORT))
    @lynn_errors_as_tool_errors
    async def upload_campaign_file(
        ctx: LynnContext,
        file_path: FilePath,
        template_id: TemplateId | None = None,
        campaign_id: CampaignId | None = None,
        json_request: JsonRequestText = None,
        wait: bool = True,
    ) -> LoadReport:
        """Upload a .cpg file (template columns header) as one task and wait."""
        from lynn_mcp.bulk.loads import upload_cpg  # lazily: see tools/bulk.py

        state = state_of(ctx)
        return await upload_cpg(
            state.client,
            file_path=file_path,
            template_id=template_id,
            campaign_id=campaign_id,
            json_request=json_request,
            wait=wait,
            progress=progress_of(ctx),
            max_bytes=state.settings.max_file_bytes,
            file_access=state.file_access,
        )

    @server.tool(annotations=READ, meta=view_link(LOAD_REPORT))
    @lynn_errors_as_tool_errors
    async def get_task_status(ctx: LynnContext, task_id: TaskId) -> TaskReport:
        """Progress and rejected rows of a campaign data task."""
        return TaskReport.of_task(await client_of(ctx).get_task(task_id))
