"""MCP prompts: the `prompts/*.md` playbooks, served with argument completion.

Each file is a front matter block and a Markdown body:

    ---
    name: launch_campaign_from_file
    title: Launch a WhatsApp campaign from a file
    description: One sentence the client shows in its prompt picker.
    arguments:
      - name: file_path
        description: What the user should give.
        required: true
      - name: category
        description: ...
        default: (none)
    ---
    Body text with {{file_path}} and {{category}} placeholders.

The front matter is a small, strict subset of YAML (so the server needs no YAML library): scalar
`key: value` lines, and an `arguments` list of such mappings. A malformed file fails loudly at
start-up rather than serving half a prompt.

Where the files are: a wheel carries them as `lynn_mcp/_prompts` (pyproject's force-include); a
checkout or editable install reads the repository's `prompts/` directly, so edits show up at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp import MCPError
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts.base import Message, Prompt, PromptArgument, UserMessage
from mcp.types import (
    INVALID_PARAMS,
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
)

from lynn_mcp.errors import LynnError
from lynn_mcp.server.resources import publish_app_state, request_client

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # lynn_mcp/, where a wheel puts _prompts
MAX_COMPLETIONS = 100  # the protocol's cap on values per completion answer
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
_KEY_VALUE = re.compile(r"^(?P<key>[a-z_]+):(?:\s+(?P<value>.*))?$")
_PROMPT_KEYS = {"name", "title", "description", "arguments"}
_ARGUMENT_KEYS = {"name", "description", "required", "default"}


class PromptFileError(ValueError):
    """A prompt file that cannot be served; the message names the file and the line."""


@dataclass(frozen=True)
class PromptArg:
    name: str
    description: str
    required: bool = False
    default: str = ""


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    title: str
    description: str
    body: str
    arguments: tuple[PromptArg, ...] = field(default_factory=tuple)

    def render(self, values: dict[str, str]) -> str:
        """The body with every {{argument}} replaced (given value, else the argument's default)."""
        known = {arg.name: values.get(arg.name) or arg.default for arg in self.arguments}
        return _PLACEHOLDER.sub(lambda match: known[match.group(1)], self.body)


def prompts_dir() -> Path:
    """`lynn_mcp/_prompts` when installed from a wheel, else the checkout's `prompts/`."""
    bundled = PACKAGE_DIR / "_prompts"
    return bundled if bundled.is_dir() else PACKAGE_DIR.parent / "prompts"


def _scalar(raw: str | None) -> str | bool:
    value = (raw or "").strip()
    if value in ("true", "false"):
        return value == "true"
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse_prompt(text: str, source: str) -> PromptTemplate:
    """Parse one prompt file. Raises PromptFileError naming `source` and the offending line."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise PromptFileError(f"{source}: must start with a '---' front matter line")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise PromptFileError(f"{source}: the front matter has no closing '---'") from None
    meta: dict[str, Any] = {}
    arguments: list[dict[str, Any]] = []
    in_arguments = False
    for number, line in enumerate(lines[1:end], start=2):
        if not line.strip():
            continue
        stripped = line.strip()
        if in_arguments and line.startswith("  "):
            if stripped.startswith("- "):
                arguments.append({})
                stripped = stripped[2:]
            match = _KEY_VALUE.match(stripped)
            if not arguments or match is None or match.group("key") not in _ARGUMENT_KEYS:
                raise PromptFileError(f"{source}:{number}: expected an argument field, got {stripped!r}")
            arguments[-1][match.group("key")] = _scalar(match.group("value"))
            continue
        match = _KEY_VALUE.match(line)
        if match is None or match.group("key") not in _PROMPT_KEYS:
            raise PromptFileError(f"{source}:{number}: expected one of {sorted(_PROMPT_KEYS)}, got {line!r}")
        in_arguments = match.group("key") == "arguments"
        if not in_arguments:
            meta[match.group("key")] = _scalar(match.group("value"))
    for key in ("name", "description"):
        if not isinstance(meta.get(key), str) or not meta[key]:
            raise PromptFileError(f"{source}: front matter needs a non-empty {key!r}")
    args: list[PromptArg] = []
    for spec in arguments:
        if not isinstance(spec.get("name"), str) or not spec["name"]:
            raise PromptFileError(f"{source}: every argument needs a name")
        args.append(
            PromptArg(
                name=spec["name"],
                description=str(spec.get("description", "")),
                required=spec.get("required") is True,
                default=str(spec.get("default", "")),
            )
        )
    template = PromptTemplate(
        name=meta["name"],
        title=str(meta.get("title") or meta["name"]),
        description=meta["description"],
        body="\n".join(lines[end + 1 :]).strip() + "\n",
        arguments=tuple(args),
    )
    unknown = set(_PLACEHOLDER.findall(template.body)) - {arg.name for arg in args}
    if unknown:
        raise PromptFileError(f"{source}: the body uses undeclared arguments {sorted(unknown)}")
    return template


def load_prompts(directory: Path | None = None) -> list[PromptTemplate]:
    """Every `*.md` prompt in `directory` (default: `prompts_dir()`), sorted by name."""
    folder = directory if directory is not None else prompts_dir()
    templates = [parse_prompt(path.read_text(encoding="utf-8"), path.name) for path in folder.glob("*.md")]
    names = [template.name for template in templates]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise PromptFileError(f"{folder}: prompt names used twice: {duplicates}")
    return sorted(templates, key=lambda template: template.name)


class PlaybookPrompt(Prompt):
    """A prompt whose missing arguments are reported to the client by name (the SDK's own check
    surfaces as a bare "Internal server error" on 2026-07-28 connections)."""

    async def render(self, arguments: dict[str, Any] | None, context: Context[Any, Any]) -> Any:
        missing = sorted(
            arg.name for arg in self.arguments or [] if arg.required and not (arguments or {}).get(arg.name)
        )
        if missing:
            raise MCPError(INVALID_PARAMS, f"prompt {self.name} needs the argument(s): {', '.join(missing)}")
        return await super().render(arguments, context)


def _as_prompt(template: PromptTemplate) -> Prompt:
    def render(**values: str) -> list[Message]:
        return [UserMessage(template.render(values))]

    return PlaybookPrompt(
        name=template.name,
        title=template.title,
        description=template.description,
        arguments=[
            PromptArgument(name=arg.name, description=arg.description, required=arg.required)
            for arg in template.arguments
        ],
        fn=render,
    )


async def _candidates(argument: str) -> list[str]:
    """Values Lynn knows for a prompt or resource argument, or [] for free text."""
    if argument not in {"campaign_name", "name_contains", "template_id", "category", "id"}:
        return []
    campaigns = await request_client().list_campaigns()
    if argument == "template_id":
        values = {c.template_id for c in campaigns if c.template_id}
    elif argument == "category":
        values = {c.category for c in campaigns if c.category}
    elif argument == "id":
        values = {c.id for c in campaigns}
    else:
        values = {c.name for c in campaigns}
    return sorted(values, key=str.casefold)


def register_prompts(server: MCPServer[Any], directory: Path | None = None) -> None:
    """Serve every prompt file, and complete campaign names, categories and template ids."""
    templates = load_prompts(directory)
    for template in templates:
        server.add_prompt(_as_prompt(template))
    publish_app_state(server)
    prompt_arguments = {template.name: {arg.name for arg in template.arguments} for template in templates}

    # The SDK's completion decorator is untyped; the handler below is fully typed.
    @server.completion()  # type: ignore[no-untyped-call, untyped-decorator]
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        if isinstance(ref, PromptReference):
            if argument.name not in prompt_arguments.get(ref.name, set()) or argument.name == "id":
                return None
        elif ref.uri != "lynn://campaigns/{id}" or argument.name != "id":
            return None
        try:
            values = await _candidates(argument.name)
        except LynnError:
            return None  # completion is a convenience: Lynn being unreachable must not break typing
        typed = argument.value.casefold()
        matches = [value for value in values if typed in value.casefold()]
        return Completion(
            values=matches[:MAX_COMPLETIONS], total=len(matches), has_more=len(matches) > MAX_COMPLETIONS
        )
