"""The ``echoSecrets`` fault: a Lynn that echoes credentials back in the text it returns.

With the fault on, every free-text field of every ``/api/`` JSON answer except CreateToken's starts
with the caller's bearer token and every access token secret of that token's tenant: campaign
names, divisions, categories, contact names, identifiers and correlation ids, DnD campaign names,
task and record messages, and the ``message`` of error answers (injected faults included).

"Free text" is read from each operation's declared response schema (``routes.OPERATIONS``,
``schemas.COMPONENTS``; errors use ``Error``): a string with no ``format`` and no ``enum``. Ids,
dates, statuses and states stay as they are, so a client can go on working while it is being
tested for leaks. Null fields stay null. A 401 (empty body) has nothing to echo into.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lynn_mcp.sandbox.faults import FaultInjector
from lynn_mcp.sandbox.routes import OPERATIONS
from lynn_mcp.sandbox.schemas import COMPONENTS
from lynn_mcp.sandbox.store import Store

_REF_PREFIX: Final = "#/components/schemas/"
_ERROR_SCHEMA: Final = COMPONENTS["Error"]
_RESPONSE_SCHEMAS: Final[Mapping[str, dict[str, Any]]] = {
    op.name: op.response for op in OPERATIONS if op.path.startswith("/api/") and op.response is not None
}
_UNECHOED_OPERATIONS: Final = frozenset({"CreateToken"})  # its answer is the caller's own new token


def _resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    return COMPONENTS[ref.removeprefix(_REF_PREFIX)] if isinstance(ref, str) else schema


def _is_free_text(schema: Mapping[str, Any]) -> bool:
    types = schema.get("type")
    is_string = types == "string" or (isinstance(types, list) and "string" in types)
    return is_string and not {"format", "enum", "contentMediaType"} & schema.keys()


def echo_into(value: Any, schema: Mapping[str, Any], echo: str) -> Any:
    """``value`` with ``echo`` put in front of every free-text string that ``schema`` declares."""
    schema = _resolve(schema)
    if isinstance(value, str):
        return f"{echo} {value}" if _is_free_text(schema) else value
    if isinstance(value, list):
        items = schema.get("items", {})
        return [echo_into(item, items, echo) for item in value]
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {key: echo_into(item, properties.get(key, {}), echo) for key, item in value.items()}
    return value


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            return token.strip() or None if scheme.lower() == "bearer" else None
    return None


class SecretEchoMiddleware:
    """Rewrites ``/api/`` JSON answers while ``Faults.echo_secrets`` is on (see the module docstring).

    Installed outside the fault middleware, so injected error answers are echoed into too.
    """

    def __init__(
        self, app: ASGIApp, injector: FaultInjector, store: Store, name_of: Callable[[str], str]
    ) -> None:
        self.app = app
        self.name_of = name_of  # path -> operation name (routes.operation_names)
        self.injector = injector
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation = self.name_of(scope["path"]) if scope["type"] == "http" else ""
        if (
            not self.injector.faults.echo_secrets
            or not scope["path"].startswith("/api/")
            or operation in _UNECHOED_OPERATIONS
        ):
            await self.app(scope, receive, send)
            return
        echo = self._echo(scope)
        if not echo:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status = int(start["status"])
            schema = _ERROR_SCHEMA if status >= 400 else _RESPONSE_SCHEMAS.get(operation, {})
            content = _echoed(b"".join(body), schema, echo)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(content)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": content})

        await self.app(scope, receive, rewrite)

    def _echo(self, scope: Scope) -> str:
        """The caller's bearer token and its tenant's access token secrets, space-separated."""
        token = _bearer(scope)
        if token is None:
            return ""
        with self.store.read() as db:
            row = db.execute("SELECT tenant FROM tokens WHERE token = ?", (token,)).fetchone()
            secrets = [] if row is None else [
                secret for (secret,) in db.execute(
                    "SELECT secret FROM credentials WHERE tenant = ? ORDER BY access_token", (row[0],)
                )
            ]  # fmt: skip
        return " ".join([token, *secrets])


def _echoed(content: bytes, schema: Mapping[str, Any], echo: str) -> bytes:
    try:
        document = json.loads(content)
    except ValueError:
        return content  # an empty 401, or not JSON: no text field to echo into
    return json.dumps(echo_into(document, schema, echo), ensure_ascii=False, separators=(",", ":")).encode()
