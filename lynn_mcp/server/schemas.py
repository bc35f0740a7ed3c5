"""Tool schemas as tools/list shows them: every token there is paid in every conversation.

`build_server` passes each registered tool's input schema through `compact_schema`, and its output
schema through `compact_schema` then `guaranteed_fields_only`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compact_schema", "guaranteed_fields_only"]


def compact_schema(node: Any, defs: dict[str, Any] | None = None) -> Any:
    """A leaner copy of a pydantic JSON schema: every token in tools/list is paid in every conversation.

    Drops generated `title`s (they repeat property names), inlines `$defs` (our models are not
    recursive, and each is used once per schema), and turns `X | None = None` into plain `X`: an
    omitted argument means None, and result models leave empty optional fields out (`Opt`).
    """
    if isinstance(node, list):
        return [compact_schema(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if defs is None:
        defs = node.get("$defs", {})
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return compact_schema(
            {**defs[ref.removeprefix("#/$defs/")], **{k: v for k, v in node.items() if k != "$ref"}}, defs
        )
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$defs" or (key == "title" and isinstance(value, str)):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: compact_schema(child, defs) for name, child in value.items()}
        else:
            out[key] = compact_schema(value, defs)
    branches = out.get("anyOf")
    if isinstance(branches, list) and len(branches) == 2 and {"type": "null"} in branches:
        other = next(branch for branch in branches if branch != {"type": "null"})
        del out["anyOf"]
        if out.get("default", "") is None:
            del out["default"]
        out = {**other, **out}
    return out


# Optional result fields an agent must know exist before it sees them: they drive the next call.
ADVERTISED_OPTIONAL = frozenset({"next_cursor", "resume", "results_path", "message"})


def guaranteed_fields_only(schema: Any) -> Any:
    """An output schema that describes only the fields every result has (plus ADVERTISED_OPTIONAL).

    Optional fields still arrive when they have a value (the schema does not forbid extra
    properties), and a result explains itself; the list of maybes is what costs tokens in every
    conversation, so it is not advertised.
    """
    if isinstance(schema, list):
        return [guaranteed_fields_only(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: guaranteed_fields_only(value) for key, value in schema.items()}
    properties = out.get("properties")
    if isinstance(properties, dict):
        keep = set(out.get("required", [])) | ADVERTISED_OPTIONAL
        out["properties"] = {name: value for name, value in properties.items() if name in keep}
    return out
