"""Prompts: the playbooks in prompts/*.md, listed and rendered in both protocol eras, with completion."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mcp import Client
from mcp.types import PromptReference, ResourceTemplateReference

from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SEED_TEMPLATE_ID
from lynn_mcp.server.prompts import PromptFileError, load_prompts, parse_prompt, prompts_dir

pytestmark = pytest.mark.anyio

TOOL_NAMES = {
    "list_campaigns", "get_campaign", "create_campaign", "update_campaign", "delete_campaign",
    "start_campaign", "stop_campaign", "list_contacts", "get_contact", "create_contact", "update_contact",
    "delete_contact", "get_contact_dnd", "set_dnd_for_campaign", "set_dnd_for_category", "bulk_set_dnd",
    "get_dnd_task_status", "upload_campaign_file", "add_campaign_data", "get_task_status",
    "load_campaign_data",
}  # fmt: skip
REQUIRED_PROMPTS = {
    "launch_campaign_from_file",
    "campaign_health_report",
    "process_opt_out_list",
    "cleanup_stale_campaigns",
}


def sample_values(arguments: list[str]) -> dict[str, str]:
    return {name: f"<{name}-value>" for name in arguments}


async def test_lists_the_playbooks_with_their_arguments(client: Client) -> None:
    prompts = {prompt.name: prompt for prompt in (await client.list_prompts()).prompts}
    assert set(prompts) >= REQUIRED_PROMPTS
    launch = prompts["launch_campaign_from_file"]
    assert launch.description
    assert {(arg.name, arg.required) for arg in launch.arguments or []} >= {
        ("file_path", True),
        ("campaign_name", True),
        ("template_id", True),
        ("category", False),
    }


async def test_every_prompt_renders_every_argument(client: Client) -> None:
    for prompt in (await client.list_prompts()).prompts:
        names = [arg.name for arg in prompt.arguments or []]
        result = await client.get_prompt(prompt.name, sample_values(names))
        text = result.messages[0].content.text  # type: ignore[union-attr]
        assert result.messages[0].role == "user"
        for name in names:
            assert f"<{name}-value>" in text, (prompt.name, name)
        assert "{{" not in text, prompt.name


async def test_optional_arguments_fall_back_to_their_defaults(client: Client) -> None:
    result = await client.get_prompt("campaign_health_report", {})
    text = result.messages[0].content.text  # type: ignore[union-attr]
    assert "last and next 7 days" in text
    assert "{{" not in text


async def test_a_missing_required_argument_is_refused(client: Client) -> None:
    with pytest.raises(Exception, match="file_path"):
        await client.get_prompt("launch_campaign_from_file", {"campaign_name": "x", "template_id": "y"})


def test_prompts_name_only_real_tools_and_ask_for_confirmation() -> None:
    mentioned_anywhere: set[str] = set()
    for template in load_prompts():
        mentioned = set(re.findall(r"`([a-z_]+)`", template.body)) & TOOL_NAMES
        assert mentioned, template.name
        mentioned_anywhere |= mentioned
        assert "confirm" in template.body.lower() or "ask me" in template.body.lower(), template.name
    # Backticked words that look like tool names but are not tools would mislead the agent.
    for template in load_prompts():
        for word in re.findall(r"`([a-z]+_[a-z_]+)`", template.body):
            is_field = word in {"start_date", "stop_date"}
            if (
                word.startswith(("list_", "get_", "set_", "create_", "delete_", "start_", "stop_"))
                and not is_field
            ):
                assert word in TOOL_NAMES, (template.name, word)
    assert {"create_campaign", "load_campaign_data", "start_campaign", "bulk_set_dnd"} <= mentioned_anywhere


async def test_completes_template_ids_and_campaign_names_from_lynn(client: Client) -> None:
    ref = PromptReference(type="ref/prompt", name="launch_campaign_from_file")
    templates = await client.complete(ref, {"name": "template_id", "value": SEED_TEMPLATE_ID[:4]})
    assert templates.completion.values == [SEED_TEMPLATE_ID]
    names = await client.complete(
        PromptReference(type="ref/prompt", name="process_opt_out_list"),
        {"name": "campaign_name", "value": "demo"},
    )
    assert names.completion.values == ["Sandbox demo campaign"]
    none = await client.complete(ref, {"name": "template_id", "value": "zzz"})
    assert none.completion.values == []
    free_text = await client.complete(ref, {"name": "file_path", "value": "/tm"})
    assert free_text.completion.values == []


async def test_completes_campaign_ids_of_the_campaign_resource(client: Client) -> None:
    ref = ResourceTemplateReference(type="ref/resource", uri="lynn://campaigns/{id}")
    result = await client.complete(ref, {"name": "id", "value": SEED_CAMPAIGN_ID[:8]})
    assert result.completion.values == [SEED_CAMPAIGN_ID]


def test_prompts_come_from_the_checkout_when_not_installed_from_a_wheel() -> None:
    # Editable install: the package has no bundled _prompts, so the repository's folder is used.
    repo_prompts = Path(__file__).resolve().parents[2] / "prompts"
    assert prompts_dir() == repo_prompts


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: x\n---\nbody", "must start"),
        ("---\nname: x\ndescription: y\n", "no closing"),
        ("---\nname: x\n---\nbody", "'description'"),
        ("---\nname: x\ndescription: y\ncolour: red\n---\nbody", "expected one of"),
        ("---\nname: x\ndescription: y\narguments:\n  - name: a\n    colour: red\n---\n", "argument field"),
        ("---\nname: x\ndescription: y\n---\nuses {{ghost}}", "undeclared"),
    ],
)
def test_malformed_prompt_files_fail_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(PromptFileError, match=problem):
        parse_prompt(text, "bad.md")


def test_duplicate_prompt_names_are_refused(tmp_path: Path) -> None:
    for file_name in ("a.md", "b.md"):
        (tmp_path / file_name).write_text("---\nname: same\ndescription: d\n---\nbody\n", encoding="utf-8")
    with pytest.raises(PromptFileError, match="used twice"):
        load_prompts(tmp_path)


def test_front_matter_scalars_and_defaults() -> None:
    template = parse_prompt(
        "---\nname: p\ndescription: 'quoted: text'\narguments:\n  - name: a\n    required: true\n"
        "  - name: b\n    default: fallback\n---\n{{a}} and {{ b }}\n",
        "p.md",
    )
    assert template.description == "quoted: text"
    assert [(arg.name, arg.required) for arg in template.arguments] == [("a", True), ("b", False)]
    assert template.render({"a": "one"}) == "one and fallback\n"
