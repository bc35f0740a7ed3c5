"""LynnClient: the one authenticated HTTP client every tool and workflow shares.

It owns one `httpx2.AsyncClient` (pooled connections), exchanges credentials for a bearer token and
re-exchanges once on a 401, retries what is safe to retry, and turns every failure into a
`LynnError` (see errors.py). It never imports `mcp`: tools are thin layers on top of it. Bodies are
built and answers read in the contract's wire names; a deployment's dialect (`operations.wire`,
dialect.py) renames them on the way out and back.

Retry rule: GET/PUT/DELETE (and CreateToken) are retried on connection errors, timeouts, dropped
connections, 408, 429 and 5xx; a POST only when it provably never reached Lynn (the connection was
never established), because Lynn's POSTs create things. At most LYNN_MAX_RETRIES times, waiting as
the `REQUEST_RETRY` policy says (retry.py: Retry-After honoured up to 60 s; a longer one is not
waited for, the error carries it). A task status poll of the task waiter asks for one attempt
(`retry=False`): the waiter, which knows its deadline, is the one place polls are retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import anyio
import httpx2
import pydantic_core
from pydantic import TypeAdapter, ValidationError

from lynn_mcp import __version__
from lynn_mcp.config import Settings
from lynn_mcp.errors import (
    ConfigError,
    InvalidArgument,
    LynnError,
    Timeout,
    Unauthorized,
    UpstreamUnavailable,
    error_for_status,
)
from lynn_mcp.lynn import observe
from lynn_mcp.lynn.models import (
    Campaign,
    CampaignFields,
    Contact,
    ContactFields,
    Deleted,
    DndContactRow,
    DndEntry,
    IssuedToken,
    Task,
    TaskRef,
    WireRequest,
    WireResponse,
)
from lynn_mcp.lynn.operations import OperationTable, load_operations
from lynn_mcp.lynn.retry import REQUEST_RETRY, RetryPolicy, Sleep, parse_retry_after
from lynn_mcp.lynn.untrusted import clean_text
from lynn_mcp.redaction import redact_json_body, register_secret

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Errors raised before a connection existed: the request provably never reached Lynn.
_NEVER_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout, httpx2.UnsupportedProtocol)

M = TypeVar("M", bound=WireResponse)
_CAMPAIGNS = TypeAdapter(list[Campaign])
_CONTACTS = TypeAdapter(list[Contact])
_DND_ENTRIES = TypeAdapter(list[DndEntry])


class LynnClient:
    """Typed access to every Lynn Outbound operation for one tenant."""

    def __init__(
        self,
        settings: Settings,
        *,
        operations: OperationTable | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        sleep: Sleep = anyio.sleep,
        retry: RetryPolicy = REQUEST_RETRY,
    ) -> None:
        self.settings = settings
        self.operations = operations if operations is not None else load_operations(settings.operations_file)
        self._wire = self.operations.wire  # the deployment's renames, applied to bodies and answers
        self._problems = settings.missing()
        self._sleep = sleep
        self._retry = retry
        self._tenant = str(settings.tenant) if settings.tenant is not None else ""
        self._can_exchange = settings.access_token is not None and settings.access_token_secret is not None
        self._token: str | None = settings.token.get_secret_value() if settings.token is not None else None
        self._token_lock = anyio.Lock()
        self.token_exchanges = 0
        # What this client sends, and later the bearer tokens Lynn issues (`_exchange`); LYNN_HTTP_TOKEN
        # and LYNN_SIGNING_KEY never reach Lynn (the CLI registers every configured secret).
        for secret in (settings.token, settings.access_token, settings.access_token_secret):
            register_secret(secret)
        register_secret(settings.subscription_key)  # a header of every request
        headers = {"User-Agent": f"lynn-mcp/{__version__}", "Accept": "application/json"}
        if settings.subscription_key is not None:
            headers["Ocp-Apim-Subscription-Key"] = settings.subscription_key.get_secret_value()
        self._http_client: httpx2.AsyncClient | None = None

        def make_http() -> httpx2.AsyncClient:
            return httpx2.AsyncClient(
                base_url=settings.base_url if settings.base_url_problem() is None else "http://127.0.0.1",
                headers=headers,
                timeout=httpx2.Timeout(settings.timeout, connect=settings.connect_timeout),
                limits=httpx2.Limits(max_connections=32, max_keepalive_connections=16),
                follow_redirects=False,
                transport=transport,
            )

        self._make_http = make_http

    @property
    def _http(self) -> httpx2.AsyncClient:
        """The pooled HTTP client, built on first use: building it (httpcore2's import, the TLS trust
        store) costs ~60 ms that an IDE would otherwise wait for before the tools/list reply."""
        if self._http_client is None:
            self._http_client = self._make_http()
        return self._http_client

    async def __aenter__(self) -> LynnClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http_client is not None:
            await self._http_client.aclose()

    @property
    def tenant(self) -> str:
        return self._tenant

    # -- core -------------------------------------------------------------------------------------

    def _check_ready(self) -> None:
        if self._problems:
            raise ConfigError("lynn-mcp is not configured: " + "; ".join(self._problems))

    async def _bearer(self) -> str:
        if self._token is not None:
            return self._token
        async with self._token_lock:
            if self._token is None:
                self._token = await self._exchange()
            return self._token

    async def _refresh(self, stale: str) -> None:
        """Exchange again unless another call already replaced the stale token."""
        async with self._token_lock:
            if self._token == stale or self._token is None:
                self._token = await self._exchange()

    async def _exchange(self) -> str:
        settings = self.settings
        if settings.access_token is None or settings.access_token_secret is None:
            raise Unauthorized("Lynn rejected LYNN_TOKEN and no access token and secret are set to renew it")
        body = self._wire.to_lynn(
            "Credentials",
            {
                "accessToken": settings.access_token.get_secret_value(),
                "accessTokenSecret": settings.access_token_secret.get_secret_value(),
                "tenant": settings.tenant,
            },
        )
        try:
            answer = await self._send("CreateToken", self.operations.build_path("CreateToken", {}), json=body)
        except Unauthorized:
            raise Unauthorized(
                f"Lynn refused the access token and secret for tenant {self._tenant}",
                status=401,
            ) from None
        token = self._model("CreateToken", IssuedToken, answer).token
        if not token:
            raise UpstreamUnavailable("CreateToken answered without a token")
        register_secret(token, slot="lynn_bearer")
        self.token_exchanges += 1
        logger.debug("exchanged credentials for a bearer token (exchange #%d)", self.token_exchanges)
        return token

    async def call(
        self,
        operation: str,
        ids: Mapping[str, str] | None = None,
        *,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        files: Callable[[], Mapping[str, Any]] | None = None,
        retry: bool = True,
    ) -> bytes:
        """Run one operation for our tenant and return its raw JSON body (empty when Lynn sent none).

        `files` is a factory so that a retried upload re-opens its file from the start. `retry=False`
        sends once (a 401 still renews the token): for a caller that retries on its own.
        """
        self._check_ready()
        path = self.operations.build_path(operation, {"tenant": self._tenant, **(ids or {})})
        refreshed = False
        while True:
            token = await self._bearer()
            try:
                return await self._send(
                    operation, path, json=json, data=data, files=files, auth=f"bearer {token}", retry=retry
                )
            except Unauthorized:
                if refreshed or not self._can_exchange:
                    raise
                refreshed = True
                await self._refresh(token)

    async def _send(
        self,
        operation: str,
        path: str,
        *,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        files: Callable[[], Mapping[str, Any]] | None = None,
        auth: str | None = None,
        retry: bool = True,
    ) -> bytes:
        """One operation, retried as the module docstring says (unless `retry` is False); raises
        LynnError. Never logs URLs, headers or bodies.

        Every answer body except CreateToken's success comes back scrubbed of the secrets we hold
        (`redact_json_body`), before anything parses it: whatever Lynn echoes of them (in a name, a
        record message, an error) never reaches a result, a preview or a results file.
        """
        method = self.operations[operation].method
        retry_any = method != "POST" or operation == "CreateToken"
        max_attempts = 1 + (self.settings.max_retries if retry else 0)
        headers = {"Authorization": auth} if auth else {}
        content: bytes | None = None
        if json is not None:
            # Encoded once for every attempt, by pydantic-core: the same compact UTF-8 JSON that
            # httpx2's `json=` writes, in about 40% of the time (a 1,000-row chunk is ~120 kB).
            content = pydantic_core.to_json(json)
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            opened = files() if files is not None else None
            watch = observe.current().request(operation, method, attempt)
            try:
                response = await self._http.request(
                    method, path, content=content, data=data, files=opened, headers=headers or None
                )
            except httpx2.TransportError as exc:
                watch.failed(type(exc).__name__)
                never_sent = isinstance(exc, _NEVER_SENT)
                error = self._transport_error(operation, exc, never_sent=never_sent)
                retryable, retry_after = retry_any or never_sent, None
            else:
                watch.answered(response.status_code)
                elapsed_ms = (time.perf_counter() - started) * 1000
                logger.debug("lynn %s -> %d in %.1f ms", operation, response.status_code, elapsed_ms)
                if response.is_success:
                    # CreateToken's answer is the one that carries a secret we must read (the token).
                    if operation == "CreateToken":
                        return response.content
                    return redact_json_body(response.content)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                error = error_for_status(
                    response.status_code,
                    operation,
                    self._lynn_message(redact_json_body(response.content)),
                    retry_after=retry_after,
                )
                retryable = retry_any and response.status_code in RETRY_STATUSES
            finally:
                watch.end()
                _close_files(opened)
            wait = self._retry.wait_before_retry(attempt, retry_after) if retryable else None
            if wait is None or attempt >= max_attempts:
                raise error from None
            await self._sleep(wait)

    def _transport_error(self, operation: str, exc: httpx2.TransportError, *, never_sent: bool) -> LynnError:
        host = self._http.base_url.host
        if isinstance(exc, httpx2.TimeoutException):
            what = "connecting to" if never_sent else "waiting for"
            return Timeout(f"{operation} timed out {what} Lynn at {host}", maybe_processed=not never_sent)
        if never_sent:
            return UpstreamUnavailable(
                f"{operation} could not reach Lynn at {host} ({type(exc).__name__})",
                hint="Check LYNN_BASE_URL and the network; run `lynn-mcp doctor`.",
            )
        return UpstreamUnavailable(
            f"{operation} lost its connection to Lynn before an answer arrived", maybe_processed=True
        )

    @staticmethod
    def _lynn_message(body: bytes) -> str | None:
        try:
            document = pydantic_core.from_json(body)
        except ValueError:
            return None
        message = document.get("message") if isinstance(document, dict) else None
        return clean_text(message, max_len=300) if isinstance(message, str) else None

    def _model(self, operation: str, model: type[M], body: bytes) -> M:
        """The answer as `model`, read in contract names (the deployment's renames undone first)."""
        shape = model.wire_shape
        try:
            if self._wire.rewrites(shape):
                return model.model_validate(self._wire.from_lynn(shape, _parsed(operation, body)))
            # Straight from bytes: pydantic-core parses and validates in one pass (task status answers
            # carry a record per row, so this is the bulk loader's hot path).
            return model.model_validate_json(body)
        except ValidationError as exc:
            raise _unreadable(operation, exc) from None

    def _models(self, operation: str, adapter: TypeAdapter[list[M]], shape: str, body: bytes) -> list[M]:
        try:
            if self._wire.rewrites(shape):
                return adapter.validate_python(self._wire.from_lynn(shape, _parsed(operation, body)))
            return adapter.validate_json(body)
        except ValidationError as exc:
            raise _unreadable(operation, exc) from None

    def _body(self, fields: WireRequest) -> dict[str, Any]:
        """A request body with the deployment's wire names, leaving out what the caller did not set."""
        return cast("dict[str, Any]", self._wire.to_lynn(fields.wire_shape, _contract_body(fields)))

    # -- campaigns --------------------------------------------------------------------------------

    async def list_campaigns(self) -> list[Campaign]:
        return self._models("GetCampaigns", _CAMPAIGNS, "Campaign", await self.call("GetCampaigns"))

    async def get_campaign(self, campaign_id: str) -> Campaign:
        data = await self.call("GetCampaign", {"campaignId": campaign_id})
        return self._model("GetCampaign", Campaign, data)

    async def create_campaign(self, fields: CampaignFields) -> Campaign:
        data = await self.call("PostCampaign", json=self._body(fields))
        return self._model("PostCampaign", Campaign, data)

    async def update_campaign(self, campaign_id: str, fields: CampaignFields) -> Campaign:
        data = await self.call("PutCampaign", {"campaignId": campaign_id}, json=self._body(fields))
        return self._model("PutCampaign", Campaign, data)

    async def delete_campaign(self, campaign_id: str) -> bool:
        data = await self.call("DeleteCampaign", {"campaignId": campaign_id})
        return not data or self._model("DeleteCampaign", Deleted, data).deleted

    async def start_campaign(self, campaign_id: str) -> Campaign:
        data = await self.call("StartCampaignExecution", {"campaignId": campaign_id})
        return self._model("StartCampaignExecution", Campaign, data)

    async def stop_campaign(self, campaign_id: str) -> Campaign:
        data = await self.call("StopCampaignExecution", {"campaignId": campaign_id})
        return self._model("StopCampaignExecution", Campaign, data)

    # -- contacts ---------------------------------------------------------------------------------

    async def list_contacts(self) -> list[Contact]:
        return self._models("GetContacts", _CONTACTS, "Contact", await self.call("GetContacts"))

    async def get_contact(self, contact_id: str) -> Contact:
        data = await self.call("GetContact", {"contactId": contact_id})
        return self._model("GetContact", Contact, data)

    async def create_contact(self, fields: ContactFields) -> Contact:
        data = await self.call("PostContact", json=self._body(fields))
        return self._model("PostContact", Contact, data)

    async def update_contact(self, contact_id: str, fields: ContactFields) -> Contact:
        data = await self.call("PutContact", {"contactId": contact_id}, json=self._body(fields))
        return self._model("PutContact", Contact, data)

    async def delete_contact(self, contact_id: str) -> bool:
        data = await self.call("DeleteContact", {"contactId": contact_id})
        return not data or self._model("DeleteContact", Deleted, data).deleted

    # -- do not disturb ---------------------------------------------------------------------------

    async def get_contact_dnd(self, contact_id: str) -> list[DndEntry]:
        data = await self.call("GetDnDContact", {"contactId": contact_id})
        return self._models("GetDnDContact", _DND_ENTRIES, "DndEntry", data)

    async def set_dnd_by_campaign(
        self, campaign_id: str, contact_id: str, do_not_disturb: bool
    ) -> list[DndEntry]:
        body = {"campaignId": campaign_id, "contactId": contact_id, "doNotDisturb": do_not_disturb}
        data = await self.call("SetDnDContactByCampaign", json=self._wire.to_lynn("DndByCampaign", body))
        return self._models("SetDnDContactByCampaign", _DND_ENTRIES, "DndEntry", data)

    async def set_dnd_by_category(
        self, category: str, contact_id: str, do_not_disturb: bool
    ) -> list[DndEntry]:
        body = {"category": category, "contactId": contact_id, "doNotDisturb": do_not_disturb}
        data = await self.call("SetDnDContactByCategory", json=self._wire.to_lynn("DndByCategory", body))
        return self._models("SetDnDContactByCategory", _DND_ENTRIES, "DndEntry", data)

    async def manage_dnd(self, campaign_id: str, rows: Sequence[DndContactRow]) -> TaskRef:
        contacts = [_contract_body(row) for row in rows]  # ManageDnd's renames reach its DndContact rows
        body = self._wire.to_lynn("ManageDnd", {"campaignId": campaign_id, "contacts": contacts})
        data = await self.call("ManageDnDByCampaign", json=body)
        return self._model("ManageDnDByCampaign", TaskRef, data)

    async def get_dnd_task(self, task_id: str, *, retry: bool = True) -> Task:
        """`retry=False` for the task waiter, which retries polls itself (see `get_task`)."""
        data = await self.call("GetDndTaskStatus", {"taskId": task_id}, retry=retry)
        return self._model("GetDndTaskStatus", Task, data)

    # -- campaign data ----------------------------------------------------------------------------

    async def add_campaign_data(
        self, template_id: str, campaign_id: str | None, rows: Sequence[Mapping[str, str]]
    ) -> TaskRef:
        """AddCampaingData: at most 1,000 rows; an empty campaign id means the template's own campaign."""
        if len(rows) > 1000:
            raise InvalidArgument("AddCampaingData takes at most 1,000 rows per request")
        body = {"campaingId": campaign_id or "", "templateId": template_id, "typeOfData": 0, "data": rows}
        data = await self.call("AddCampaingData", json=self._wire.to_lynn("CampaignData", body))
        return self._model("AddCampaingData", TaskRef, data)

    async def upload_campaign_file(self, path: Path, *, campaign_id: str, template_id: str) -> TaskRef:
        """UploadCampaignDataByTenant: stream a .cpg file as multipart."""

        file_part = self._wire.wire_name("CpgUpload", "file")

        def files() -> Mapping[str, Any]:
            return {file_part: (path.name, path.open("rb"), "text/csv")}

        data = await self.call(
            "UploadCampaignDataByTenant",
            data=self._wire.to_lynn("CpgUpload", {"campaignId": campaign_id, "templateId": template_id}),
            files=files,
        )
        return self._model("UploadCampaignDataByTenant", TaskRef, data)

    async def get_task(self, task_id: str, *, retry: bool = True) -> Task:
        """One task's state. `retry=False`: a single attempt, for the task waiter (bulk/waiter.py),
        which paces and retries its polls up to its deadline; retrying here too would nest one
        backoff inside the other."""
        data = await self.call("GetTaskStatus", {"taskId": task_id}, retry=retry)
        return self._model("GetTaskStatus", Task, data)


def _unreadable(operation: str, exc: ValidationError) -> UpstreamUnavailable:
    if any(error["type"] == "json_invalid" for error in exc.errors()):
        return _not_json(operation)
    return UpstreamUnavailable(
        f"{operation} answered in a shape lynn-mcp does not understand",
        hint="If your Lynn deployment differs from the built-in table, see LYNN_OPERATIONS_FILE.",
    )


def _close_files(files: Mapping[str, Any] | None) -> None:
    for value in (files or {}).values():
        handle = value[1] if isinstance(value, tuple) else value
        if hasattr(handle, "close"):
            handle.close()


def _contract_body(model: WireRequest) -> dict[str, Any]:
    """A request body in contract wire names, leaving out what the caller did not set."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def _parsed(operation: str, body: bytes) -> Any:
    """The answer as Python values, for a dialect to rename before the models read it."""
    try:
        return pydantic_core.from_json(body)
    except ValueError:
        raise _not_json(operation) from None


def _not_json(operation: str) -> UpstreamUnavailable:
    return UpstreamUnavailable(f"{operation} answered with something that is not JSON")
