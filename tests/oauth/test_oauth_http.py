"""lynn-mcp as an OAuth resource server, through its real HTTP app, against a throwaway authorization
server on loopback (oauth_helpers.py): the metadata, the 401 challenge for every token it must refuse,
scopes per kind of tool in both protocol eras, confirmation on top of scopes, the audit line per person.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import jwt
import pytest
from mcp import Client, MCPError
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult
from oauth_helpers import ALL_SCOPES, AuthorizationServer, LynnOverOAuth, SigningKey
from settings_factory import make_settings

from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SandboxServer
from lynn_mcp.sandbox.seed import SEED_CONTACTS
from lynn_mcp.server import build_server
from lynn_mcp.server.http import build_http_app

pytestmark = pytest.mark.anyio

LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
CONTACT_ID = SEED_CONTACTS[0][0]
TOKEN = re.compile(r'confirmation_token \(valid \d+ minutes, once\): "(?P<token>[^"]+)"')


def post(lynn: LynnOverOAuth, authorization: str | None) -> httpx2.Response:
    headers = {**JSON_HEADERS, **({"Authorization": authorization} if authorization else {})}
    return httpx2.post(f"{lynn.url}/mcp", json=LIST_TOOLS, headers=headers, timeout=10)


def challenge_of(response: httpx2.Response) -> dict[str, str]:
    header = response.headers["www-authenticate"]
    assert header.startswith("Bearer "), header
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def text_of(result: CallToolResult) -> str:
    return result.content[0].text  # type: ignore[union-attr]


class Human:
    """An elicitation callback that approves and remembers what it was shown."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    async def __call__(self, _: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.shown.append(params.message)
        return ElicitResult(action="accept", content={"approve": True})


@asynccontextmanager
async def signed_in(
    lynn: LynnOverOAuth, token: str, mode: str, human: Human | None = None
) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        Client(
            streamable_http_client(lynn.public_url, http_client=http),  # type: ignore[arg-type]
            mode=mode,
            elicitation_callback=human,  # type: ignore[arg-type]
        ) as client,
    ):
        yield client


async def tool_kinds(lynn: LynnOverOAuth, authorization: AuthorizationServer) -> dict[str, set[str]]:
    """The server's tools by the annotations it lists them with, as a caller with every scope sees them."""
    token = authorization.mint(audience=lynn.public_url)
    async with signed_in(lynn, token, "auto") as client:
        tools = (await client.list_tools()).tools
    kinds: dict[str, set[str]] = {"read": set(), "write": set(), "admin": set()}
    for tool in tools:
        assert tool.annotations is not None
        kind = (
            "read"
            if tool.annotations.read_only_hint
            else "admin"
            if tool.annotations.destructive_hint
            else "write"
        )
        kinds[kind].add(tool.name)
    return kinds


# --- the HTTP layer ---------------------------------------------------------------------------------


def test_protected_resource_metadata(lynn: LynnOverOAuth, authorization: AuthorizationServer) -> None:
    """RFC 9728 metadata, without a token, where the challenge points and at the root: this resource,
    its issuer exactly as configured (no slash added), the three scopes."""
    for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
        answer = httpx2.get(f"{lynn.url}{path}", timeout=10)
        assert answer.status_code == 200, path
        assert answer.json() == {
            "resource": lynn.public_url,
            "authorization_servers": [authorization.issuer],
            "scopes_supported": ["lynn:read", "lynn:write", "lynn:admin"],
            "bearer_methods_supported": ["header"],
            "resource_name": "lynn-mcp",
        }
    assert httpx2.get(f"{lynn.url}/healthz", timeout=10).status_code == 200


def refused_tokens(authorization: AuthorizationServer, audience: str) -> dict[str, str | None]:
    stranger = SigningKey.new()
    hs256 = jwt.encode(
        {"iss": authorization.issuer, "aud": audience, "sub": "mallory", "exp": 2**31, "scope": ALL_SCOPES},
        "a shared secret of thirty-two bytes!",
        algorithm="HS256",
        headers={"kid": authorization.signing.kid},
    )
    return {
        "no token": None,
        "not a JWT": "Bearer not-a-jwt",
        "bad signature": "Bearer "
        + authorization.mint(audience=audience, key=SigningKey(authorization.signing.kid, stranger.private)),
        "unknown key": "Bearer " + authorization.mint(audience=audience, key=stranger),
        "expired": "Bearer " + authorization.mint(audience=audience, expires_in=-3600),
        "not valid yet": "Bearer " + authorization.mint(audience=audience, not_before_in=3600),
        "wrong audience": "Bearer " + authorization.mint(audience="https://other.example.com/mcp"),
        "wrong issuer": "Bearer " + authorization.mint(audience=audience, issuer="https://evil.example.com"),
        "no subject": "Bearer " + authorization.mint(audience=audience, subject=None),
        "HMAC with a shared secret": "Bearer " + hs256,
        "another scheme": "Basic " + authorization.mint(audience=audience),
    }


def test_refused_tokens_get_401_with_the_challenge(
    lynn: LynnOverOAuth, authorization: AuthorizationServer
) -> None:
    assert post(lynn, "Bearer " + authorization.mint(audience=lynn.public_url)).status_code == 200
    for case, authorization_header in refused_tokens(authorization, lynn.public_url).items():
        answer = post(lynn, authorization_header)
        assert answer.status_code == 401, case
        challenge = challenge_of(answer)
        assert challenge["error"] == "invalid_token", case
        assert challenge["resource_metadata"] == f"{lynn.url}/.well-known/oauth-protected-resource/mcp", case


def test_small_clock_skew_is_tolerated(lynn: LynnOverOAuth, authorization: AuthorizationServer) -> None:
    """Expired 5 s ago, or valid from 5 s on: within the skew the server allows (an hour is not)."""
    just_expired = authorization.mint(audience=lynn.public_url, expires_in=-5)
    almost_valid = authorization.mint(audience=lynn.public_url, not_before_in=5)
    assert post(lynn, f"Bearer {just_expired}").status_code == 200
    assert post(lynn, f"Bearer {almost_valid}").status_code == 200


def test_an_audience_list_naming_this_server_is_accepted(
    lynn: LynnOverOAuth, authorization: AuthorizationServer
) -> None:
    token = authorization.mint(audience=["account", lynn.public_url + "/"])
    assert post(lynn, f"Bearer {token}").status_code == 200


def test_a_token_without_lynn_scopes_gets_the_insufficient_scope_challenge(
    lynn: LynnOverOAuth, authorization: AuthorizationServer
) -> None:
    for scope in ("openid profile email", None):
        answer = post(lynn, "Bearer " + authorization.mint(audience=lynn.public_url, scope=scope))
        assert answer.status_code == 403
        challenge = challenge_of(answer)
        assert challenge["error"] == "insufficient_scope"
        assert challenge["scope"] == ALL_SCOPES
        assert challenge["resource_metadata"].endswith("/.well-known/oauth-protected-resource/mcp")


def test_entra_style_scp_claim_is_read(lynn: LynnOverOAuth, authorization: AuthorizationServer) -> None:
    token = authorization.mint(audience=lynn.public_url, scope=None, scp="lynn:read")
    answer = post(lynn, f"Bearer {token}")
    assert answer.status_code == 200
    names = {tool["name"] for tool in answer.json()["result"]["tools"]}
    assert "list_campaigns" in names
    assert "create_campaign" not in names


# --- scopes per kind of tool --------------------------------------------------------------------------


async def test_a_read_only_token_sees_and_calls_only_read_tools(
    lynn: LynnOverOAuth, authorization: AuthorizationServer, mode: str
) -> None:
    kinds = await tool_kinds(lynn, authorization)
    assert all(kinds.values()), kinds
    token = authorization.mint(audience=lynn.public_url, scope="lynn:read")
    async with signed_in(lynn, token, mode) as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == kinds["read"]
        listed = await client.call_tool("list_campaigns", {})
        assert not listed.is_error, text_of(listed)
        refused = await client.call_tool("create_campaign", {"name": f"Refused {mode}"})
        assert refused.is_error
        assert text_of(refused).startswith("forbidden: create_campaign needs the lynn:write scope")
        assert "this sign-in carries lynn:read" in text_of(refused)
        assert (await client.list_prompts()).prompts
        assert (await client.list_resources()).resources
        found = await client.call_tool("list_campaigns", {"name_contains": f"Refused {mode}"})
        assert found.structured_content is not None
        assert found.structured_content["total"] == 0  # nothing was created


async def test_a_write_token_creates_a_campaign_and_nothing_more(
    lynn: LynnOverOAuth, authorization: AuthorizationServer, mode: str
) -> None:
    kinds = await tool_kinds(lynn, authorization)
    token = authorization.mint(audience=lynn.public_url, scope="lynn:write")
    async with signed_in(lynn, token, mode) as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == kinds["write"]
        created = await client.call_tool("create_campaign", {"name": f"Written {mode}"})
        assert not created.is_error, text_of(created)
        assert created.structured_content is not None
        campaign_id = created.structured_content["id"]
        for tool, arguments, scope in (
            ("get_campaign", {"campaign_id": campaign_id}, "lynn:read"),
            ("start_campaign", {"campaign_id": campaign_id}, "lynn:admin"),
            ("delete_campaign", {"campaign_id": campaign_id}, "lynn:admin"),
        ):
            refused = await client.call_tool(tool, arguments)
            assert text_of(refused).startswith(f"forbidden: {tool} needs the {scope} scope"), text_of(refused)
        # Resources and prompts are reading: listed empty, and a read is refused.
        assert (await client.list_resources()).resources == []
        assert (await client.list_prompts()).prompts == []
        with pytest.raises(MCPError, match="forbidden: resources/read needs the lynn:read scope"):
            await client.read_resource(f"lynn://campaigns/{campaign_id}")


async def test_a_dnd_block_is_write_and_lifting_it_is_admin(
    lynn: LynnOverOAuth, authorization: AuthorizationServer, mode: str
) -> None:
    dnd = {"contact_id": CONTACT_ID, "campaign_id": SEED_CAMPAIGN_ID}
    writer = authorization.mint(audience=lynn.public_url, scope="lynn:read lynn:write")
    async with signed_in(lynn, writer, mode) as client:
        blocked = await client.call_tool("set_dnd_for_campaign", dnd)
        assert not blocked.is_error, text_of(blocked)
        lift = await client.call_tool("set_dnd_for_campaign", {**dnd, "do_not_disturb": False})
        assert text_of(lift).startswith(
            "Error executing tool set_dnd_for_campaign: forbidden: this set_dnd_for_campaign call, which "
            "needs a human's approval, needs the lynn:admin scope"
        ), text_of(lift)
        still = await client.call_tool("get_contact_dnd", {"contact_id": CONTACT_ID})
        assert still.structured_content is not None
        assert any(entry["do_not_disturb"] for entry in still.structured_content["entries"])
    admin = authorization.mint(audience=lynn.public_url)
    async with signed_in(lynn, admin, mode) as client:
        asked = await client.call_tool("set_dnd_for_campaign", {**dnd, "do_not_disturb": False})
        assert "confirmation_required" in text_of(asked), text_of(asked)  # scopes, then the human


async def test_an_admin_token_is_asked_to_confirm_a_start(
    lynn: LynnOverOAuth, authorization: AuthorizationServer, mode: str
) -> None:
    human = Human()
    token = authorization.mint(audience=lynn.public_url)
    async with signed_in(lynn, token, mode, human) as client:
        created = await client.call_tool("create_campaign", {"name": f"Launch {mode}"})
        assert created.structured_content is not None
        start = {"campaign_id": created.structured_content["id"]}
        result = await client.call_tool("start_campaign", start)
        if mode == "legacy":
            # Stateless HTTP does not remember a 2025-11-25 client's capabilities: a preview and a token.
            assert human.shown == []
            match = TOKEN.search(text_of(result))
            assert match, text_of(result)
            result = await client.call_tool("start_campaign", {**start, "confirmation_token": match["token"]})
        else:
            assert len(human.shown) == 1
            assert f'"Launch {mode}"' in human.shown[0]
        assert not result.is_error, text_of(result)
        assert result.structured_content is not None
        assert result.structured_content["status"] == "Started"


async def test_the_audit_line_names_the_subject_and_the_client(
    lynn: LynnOverOAuth, authorization: AuthorizationServer, mode: str
) -> None:
    writer = authorization.mint(
        audience=lynn.public_url, subject=f"carla-{mode}", client_id="claude-connector"
    )
    reader = authorization.mint(
        audience=lynn.public_url, subject=f"ivan-{mode}", client_id="chatgpt", scope="lynn:read"
    )
    async with signed_in(lynn, writer, mode) as client:
        await client.call_tool("create_campaign", {"name": f"Audited {mode}"})
    async with signed_in(lynn, reader, mode) as client:
        await client.call_tool("create_campaign", {"name": f"Not allowed {mode}"})
    lines = {
        line["arguments"].get("name"): line
        for line in lynn.audit_lines()
        if line["tool"] == "create_campaign"
    }
    written, refused = lines[f"Audited {mode}"], lines[f"Not allowed {mode}"]
    assert (written["subject"], written["client_id"], written["outcome"]) == (
        f"carla-{mode}",
        "claude-connector",
        "ok",
    )
    assert (refused["subject"], refused["client_id"], refused["outcome"]) == (
        f"ivan-{mode}",
        "chatgpt",
        "forbidden",
    )
    assert writer not in lynn.audit_log.read_text()  # nothing of the token beyond who


async def test_scopes_come_before_the_operators_never(
    module_sandbox: SandboxServer, authorization: AuthorizationServer, tmp_path: Any
) -> None:
    """LYNN_CONFIRM=never skips the human, not the scopes: a writer still cannot lift or start."""
    with LynnOverOAuth(module_sandbox, authorization, tmp_path, confirm="never") as lynn:
        writer = authorization.mint(audience=lynn.public_url, scope="lynn:read lynn:write")
        dnd = {"contact_id": SEED_CONTACTS[1][0], "campaign_id": SEED_CAMPAIGN_ID}
        async with signed_in(lynn, writer, "auto") as client:
            assert not (await client.call_tool("set_dnd_for_campaign", dnd)).is_error
            lift = await client.call_tool("set_dnd_for_campaign", {**dnd, "do_not_disturb": False})
            assert "forbidden: this set_dnd_for_campaign call" in text_of(lift)
            start = await client.call_tool("start_campaign", {"campaign_id": SEED_CAMPAIGN_ID})
            assert text_of(start).startswith("forbidden: start_campaign needs the lynn:admin scope")
        admin = authorization.mint(audience=lynn.public_url)
        async with signed_in(lynn, admin, "auto") as client:
            lifted = await client.call_tool("set_dnd_for_campaign", {**dnd, "do_not_disturb": False})
            assert not lifted.is_error, text_of(lifted)


async def test_a_browser_client_can_read_the_challenge(authorization: AuthorizationServer) -> None:
    """With LYNN_ALLOWED_ORIGINS, a listed browser origin may read `WWW-Authenticate` on the 401 (it
    says where to sign in); the CORS preflight needs no token."""
    settings = make_settings(
        allowed_origins="https://inspector.example",
        oauth_issuer=authorization.issuer,
        public_url="http://127.0.0.1:8000/mcp",
    )
    app = build_http_app(build_server(settings, served_over="http"), settings, host="127.0.0.1", port=8000)
    origin = {"Origin": "https://inspector.example"}
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ) as http:
        preflight = await http.options("/mcp", headers={**origin, "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 200
        refused = await http.post("/mcp", json=LIST_TOOLS, headers={**JSON_HEADERS, **origin})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "https://inspector.example"
        assert "www-authenticate" in refused.headers["access-control-expose-headers"].lower()
