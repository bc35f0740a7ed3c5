"""Consent at its edges: the key that seals a 2026-07-28 question is the one every replica (of this
release or another) derives from LYNN_SIGNING_KEY, and a consent check wired the wrong way is refused
when the server is built, not when a human is waiting.

Written for the mutation run (scripts/mutation.sh): each test here failed against a change to
server/consent.py that the consent tests through the SDK client let through.
"""

from __future__ import annotations

import hashlib
import hmac
from types import SimpleNamespace
from typing import Any

import pytest
from mcp.server.request_state import InvalidRequestState, RequestStateSecurity
from mcp.types import (
    ClientCapabilities,
    ElicitationCapability,
    FormElicitationCapability,
    UrlElicitationCapability,
)
from settings_factory import make_settings

from lynn_mcp.server.consent import (
    Ask,
    _called_tool,
    _client_can_elicit,
    consent_resolver,
    request_state_security,
)
from lynn_mcp.signing import DEFAULT_TTL_S

KEY = "s" * 32


def test_a_question_sealed_on_one_replica_opens_on_any_other_with_the_same_key() -> None:
    """The state key is HMAC-SHA256(LYNN_SIGNING_KEY, "lynn-mcp request state v1"): a replica of
    another release, built from the same setting, must open what this one sealed."""
    ours = request_state_security(make_settings(signing_key=KEY))
    derived = hmac.new(KEY.encode(), b"lynn-mcp request state v1", hashlib.sha256).digest()
    theirs = RequestStateSecurity(keys=[derived], ttl=DEFAULT_TTL_S)
    assert theirs.codec.unseal(ours.codec.seal(b"round 1")) == b"round 1"
    assert ours.codec.unseal(theirs.codec.seal(b"round 2")) == b"round 2"
    assert ours.ttl == DEFAULT_TTL_S
    other_key = request_state_security(make_settings(signing_key="t" * 32))
    with pytest.raises(InvalidRequestState):
        other_key.codec.unseal(ours.codec.seal(b"round 1"))


def test_without_a_signing_key_each_process_seals_with_its_own() -> None:
    first = request_state_security(make_settings())
    second = request_state_security(make_settings())
    assert first.ttl == DEFAULT_TTL_S
    with pytest.raises(InvalidRequestState):
        second.codec.unseal(first.codec.seal(b"round 1"))


def test_a_consent_check_must_take_the_request_context_first() -> None:
    async def check_without_ctx(campaign_id: str) -> Ask | None:
        return None

    with pytest.raises(TypeError) as refused:
        consent_resolver(check_without_ctx)
    assert str(refused.value) == (
        "test_a_consent_check_must_take_the_request_context_first.<locals>.check_without_ctx "
        "must take the request context first, as ctx"
    )

    async def check_without_parameters() -> Ask | None:
        return None

    with pytest.raises(TypeError, match="must take the request context first"):
        consent_resolver(check_without_parameters)


# The two guards below sit on paths the SDK client does not take (a client without capabilities, a
# url-only client, a resolver outside tools/call); a stand-in for the request context reaches them.


def context(
    capabilities: ClientCapabilities | None = None, method: str = "tools/call", params: Any = None
) -> Any:
    request = SimpleNamespace(method=method, params=params)
    return SimpleNamespace(client_capabilities=capabilities, request_context=request)


@pytest.mark.parametrize(
    ("capabilities", "asks"),
    [
        (None, False),
        (ClientCapabilities(), False),
        (ClientCapabilities(elicitation=ElicitationCapability()), True),  # a bare `elicitation: {}`
        (ClientCapabilities(elicitation=ElicitationCapability(form=FormElicitationCapability())), True),
        (ClientCapabilities(elicitation=ElicitationCapability(url=UrlElicitationCapability())), False),
        (
            ClientCapabilities(
                elicitation=ElicitationCapability(
                    form=FormElicitationCapability(), url=UrlElicitationCapability()
                )
            ),
            True,
        ),
    ],
)
def test_only_a_client_that_can_show_a_form_is_asked(
    capabilities: ClientCapabilities | None, asks: bool
) -> None:
    assert _client_can_elicit(context(capabilities)) is asks


def test_consent_is_asked_only_inside_a_tool_call() -> None:
    assert _called_tool(context(params={"name": "delete_campaign"})) == "delete_campaign"
    for outside in (
        context(method="resources/read", params={"name": "delete_campaign"}),
        context(params={"name": 7}),
        context(params=None),
    ):
        with pytest.raises(RuntimeError) as refused:
            _called_tool(outside)
        assert str(refused.value) == "consent is asked only inside a tools/call"
