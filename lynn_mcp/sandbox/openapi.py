"""The OpenAPI 3.1 document, generated from the route table."""

from __future__ import annotations

from collections import Counter
from typing import Any

from lynn_mcp.sandbox.routes import Operation
from lynn_mcp.sandbox.schemas import COMPONENTS, ref

_ERRORS = {
    "400": "Invalid request",
    "403": "The path's tenant is not the token's tenant",
    "404": "Unknown id",
    "409": "Conflict",
    "413": "Body or row count over the limit",
    "429": "Rate limited (fault injection); see Retry-After",
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def _operation(op: Operation, operation_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"operationId": operation_id, "summary": op.summary, "tags": [op.tag]}
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer"} if name == "tenant" else {"type": "string", "format": "uuid"},
        }
        for name in op.path_params
    ] + [{"name": name, "in": "query", "required": True, "schema": {"type": "string"}} for name in op.query]
    if params:
        doc["parameters"] = params
    if op.request is not None:
        doc["requestBody"] = {"required": True, "content": {op.request_type: {"schema": op.request}}}
    ok: dict[str, Any] = {"description": "Success"}
    if op.response is not None:
        ok["content"] = {"application/json": {"schema": op.response}}
    responses: dict[str, Any] = {str(op.status): ok}
    if op.request is not None or op.path_params or op.auth:
        responses.update({code: _error(text) for code, text in _ERRORS.items() if code != "403" or op.auth})
    if op.auth or op.name == "CreateToken":
        responses["401"] = {
            "description": "Missing, unknown or expired token, or bad credentials (empty body)"
        }
        doc["security"] = [{"bearer": []}] if op.auth else []
    doc["responses"] = responses
    return doc


def build_openapi(operations: tuple[Operation, ...]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    seen: Counter[str] = Counter()
    for op in operations:
        seen[op.name] += 1
        operation_id = op.name if seen[op.name] == 1 else f"{op.name}{seen[op.name]}"
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, operation_id)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lynn Outbound API (lynn-mcp sandbox)",
            "version": "1.0.0",
            "description": "The wire contract lynn-mcp assumes for Lynn's Outbound API, as the sandbox"
            " serves it. Operations tagged 'sandbox' exist only in the sandbox.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
