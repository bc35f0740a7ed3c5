"""A client that only knows the server's URL and its own credentials signs in by itself: the SDK's
OAuth client (client-credentials grant) meets the 401 challenge, follows it to the Protected
Resource Metadata, finds the authorization server there, gets a token for this resource and calls."""

from __future__ import annotations

import httpx2
import pytest
from mcp import Client
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from oauth_helpers import AuthorizationServer, LynnOverOAuth

pytestmark = pytest.mark.anyio


class MemoryTokens:
    """The SDK client's token storage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


async def test_the_sdk_client_discovers_the_authorization_server_and_signs_in(
    lynn: LynnOverOAuth, authorization: AuthorizationServer, mode: str
) -> None:
    client_id = f"reporting-bot-{mode}"
    secret = authorization.register(client_id, scope="lynn:read", subject=f"svc-{mode}")
    issued_before = authorization.tokens_issued
    provider = ClientCredentialsOAuthProvider(
        server_url=lynn.public_url,
        storage=MemoryTokens(),
        client_id=client_id,
        client_secret=secret,
        scope="lynn:read",
        issuer=authorization.issuer,
    )
    async with (
        httpx2.AsyncClient(auth=provider, timeout=30) as http,
        Client(streamable_http_client(lynn.public_url, http_client=http), mode=mode) as client,  # type: ignore[arg-type]
    ):
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "list_campaigns" in names
        assert "create_campaign" not in names  # the token carries what the client was allowed
        listed = await client.call_tool("list_campaigns", {})
        assert not listed.is_error
    assert authorization.tokens_issued == issued_before + 1
    # It asked for this resource (RFC 8707), found through the metadata, which is what `aud` names.
    assert provider.context.protected_resource_metadata is not None
    assert str(provider.context.protected_resource_metadata.resource) == lynn.public_url
