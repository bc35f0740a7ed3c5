"""Confirmation tokens: bound to one call and the state it previewed, expiring, single use per
process, unforgeable."""

from __future__ import annotations

import re
import threading
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr

from lynn_mcp import signing
from lynn_mcp.signing import (
    ConfirmationCheck,
    ConfirmationSigner,
    RefusalReason,
    canonical_arguments,
)

KEY = "k" * 32
NOW = 1_800_000_000.0
TOOL = "delete_campaign"
TENANT = "tenant-7"
ARGS: dict[str, Any] = {"campaign_id": "c-123", "reason": None}
STATE = "status Stopped, last changed 2026-11-30T14:05:12.345+00:00"


def check(signer: ConfirmationSigner, token: str, **overrides: Any) -> ConfirmationCheck:
    call: dict[str, Any] = {"tool": TOOL, "arguments": ARGS, "tenant": TENANT, "state": STATE, "now": NOW + 1}
    call.update(overrides)
    return signer.verify(
        token, call["tool"], call["arguments"], call["tenant"], state=call["state"], now=call["now"]
    )


@pytest.fixture
def signer() -> ConfirmationSigner:
    return ConfirmationSigner(KEY)


@pytest.fixture
def token(signer: ConfirmationSigner) -> str:
    return signer.mint(TOOL, ARGS, TENANT, state=STATE, now=NOW)


def test_valid_token_confirms_once_then_is_replayed(signer: ConfirmationSigner, token: str) -> None:
    first = check(signer, token)
    assert first.ok
    assert first.message == ""
    assert check(signer, token).reason is RefusalReason.REPLAYED


def test_token_is_short_and_url_safe(token: str) -> None:
    assert len(token) < 200
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)


def test_tokens_are_unique_per_mint(signer: ConfirmationSigner) -> None:
    assert signer.mint(TOOL, ARGS, TENANT, now=NOW) != signer.mint(TOOL, ARGS, TENANT, now=NOW)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"arguments": {"campaign_id": "c-124"}}, RefusalReason.WRONG_ARGUMENTS),
        ({"arguments": {"campaign_id": "c-123", "force": True}}, RefusalReason.WRONG_ARGUMENTS),
        ({"arguments": {}}, RefusalReason.WRONG_ARGUMENTS),
        ({"arguments": {"campaign_id": float("nan")}}, RefusalReason.WRONG_ARGUMENTS),
        ({"tool": "start_campaign"}, RefusalReason.WRONG_TOOL),
        ({"tenant": "tenant-8"}, RefusalReason.WRONG_TENANT),
        (
            {"state": "status Stopped, last changed 2026-11-30T14:05:12.346+00:00"},
            RefusalReason.STATE_CHANGED,
        ),
        (
            {"state": "status Started, last changed 2026-11-30T14:05:12.345+00:00"},
            RefusalReason.STATE_CHANGED,
        ),
        ({"state": ""}, RefusalReason.STATE_CHANGED),
        ({"now": NOW + 300}, RefusalReason.EXPIRED),
        ({"now": NOW + 10_000}, RefusalReason.EXPIRED),
    ],
)
def test_mismatches_are_refused_without_spending_the_token(
    signer: ConfirmationSigner, token: str, overrides: dict[str, Any], reason: RefusalReason
) -> None:
    refused = check(signer, token, **overrides)
    assert refused.reason is reason
    assert refused.message
    assert check(signer, token).ok  # a mistaken attempt does not burn the confirmation


def test_a_changed_state_is_named_in_the_refusal(signer: ConfirmationSigner, token: str) -> None:
    refused = check(signer, token, state="status Started, last changed 2026-12-01T00:00:00.000+00:00")
    assert "changed since its preview" in refused.message
    assert "call again without it" in refused.message


def test_an_unbound_token_confirms_only_an_unbound_call(signer: ConfirmationSigner) -> None:
    unbound = signer.mint(TOOL, ARGS, TENANT, now=NOW)
    assert check(signer, unbound, state=STATE).reason is RefusalReason.STATE_CHANGED
    assert check(signer, unbound, state="").ok


@pytest.mark.parametrize(
    "wrap", [" {}", "{}\n", "\t {} \r\n", '"{}"', "'{}'", "`{}`", ' "{}" \n', "\u00a0{}"]
)
def test_pasted_whitespace_and_quotes_around_a_token_are_ignored(
    signer: ConfirmationSigner, token: str, wrap: str
) -> None:
    assert check(signer, wrap.format(token)).ok


@pytest.mark.parametrize("damage", ["{} x", "{}..", "{}\n{}", "x{}"])
def test_only_the_surroundings_are_trimmed(signer: ConfirmationSigner, token: str, damage: str) -> None:
    assert not check(signer, damage.format(token, token)).ok
    assert check(signer, token).ok


def test_still_valid_one_second_before_expiry(signer: ConfirmationSigner, token: str) -> None:
    assert check(signer, token, now=NOW + 299).ok


@pytest.mark.parametrize(
    "equivalent_arguments",
    [
        {"campaign_id": "c-123"},  # omitted and null agree
        {"reason": None, "campaign_id": "c-123"},  # key order is irrelevant
        {"campaign_id": "c-123", "confirmation_token": "anything"},  # the token itself is not bound
    ],
)
def test_equivalent_arguments_are_accepted(
    signer: ConfirmationSigner, token: str, equivalent_arguments: dict[str, Any]
) -> None:
    assert check(signer, token, arguments=equivalent_arguments).ok


def test_integer_and_string_tenant_agree(signer: ConfirmationSigner) -> None:
    token = signer.mint(TOOL, ARGS, 7, state=STATE, now=NOW)
    assert check(signer, token, tenant="7").ok


def test_replicas_with_the_same_key_accept_each_others_tokens() -> None:
    minted_by_one = ConfirmationSigner(KEY).mint(TOOL, ARGS, TENANT, state=STATE, now=NOW)
    assert check(ConfirmationSigner(KEY.encode()), minted_by_one).ok
    assert check(ConfirmationSigner(SecretStr(KEY)), minted_by_one).ok


def test_different_keys_refuse_each_others_tokens() -> None:
    minted = ConfirmationSigner(KEY).mint(TOOL, ARGS, TENANT, now=NOW)
    assert check(ConfirmationSigner("x" * 32), minted).reason is RefusalReason.BAD_SIGNATURE
    assert check(ConfirmationSigner(None), minted).reason is RefusalReason.BAD_SIGNATURE


def test_ephemeral_keys_differ_per_signer() -> None:
    first, second = ConfirmationSigner(None), ConfirmationSigner(None)
    assert first.is_ephemeral
    assert not ConfirmationSigner(KEY).is_ephemeral
    assert check(second, first.mint(TOOL, ARGS, TENANT, now=NOW)).reason is RefusalReason.BAD_SIGNATURE
    assert KEY not in repr(ConfirmationSigner(KEY))


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        ConfirmationSigner("too short")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        ConfirmationSigner("")


def test_payload_swapped_onto_another_signature_is_refused(signer: ConfirmationSigner, token: str) -> None:
    other = signer.mint("start_campaign", {"campaign_id": "c-9"}, TENANT, now=NOW)
    forged = f"{other.split('.')[0]}.{token.split('.')[1]}"
    assert check(signer, forged, tool="start_campaign", arguments={"campaign_id": "c-9"}).reason is (
        RefusalReason.BAD_SIGNATURE
    )


@pytest.mark.parametrize(
    "garbage",
    ["", ".", "abc", "a.b.c", "a.b", "é.é", "A" * 10_000, "====.====", "AAAA AAAA.AAAA"],
)
def test_malformed_tokens_are_refused(signer: ConfirmationSigner, garbage: str) -> None:
    assert check(signer, garbage).reason is RefusalReason.MALFORMED


_MUTATION_SIGNER = ConfirmationSigner(KEY)
_MUTATION_TOKEN = _MUTATION_SIGNER.mint(TOOL, ARGS, TENANT, state=STATE, now=NOW)


@given(
    position=st.integers(min_value=0, max_value=len(_MUTATION_TOKEN) - 1),
    replacement=st.characters(codec="utf-8"),
)
def test_any_single_character_mutation_is_refused(position: int, replacement: str) -> None:
    if replacement == _MUTATION_TOKEN[position]:
        replacement = "A" if replacement != "A" else "B"
    mutated = _MUTATION_TOKEN[:position] + replacement + _MUTATION_TOKEN[position + 1 :]
    result = check(_MUTATION_SIGNER, mutated)
    assert result.reason in {RefusalReason.MALFORMED, RefusalReason.BAD_SIGNATURE}


def test_mutation_attempts_do_not_spend_the_original() -> None:
    assert check(_MUTATION_SIGNER, _MUTATION_TOKEN).ok


def test_only_one_of_many_concurrent_uses_succeeds(signer: ConfirmationSigner, token: str) -> None:
    results: list[ConfirmationCheck] = []
    threads = [threading.Thread(target=lambda: results.append(check(signer, token))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result.ok for result in results) == 1


def test_replay_cache_is_bounded(monkeypatch: pytest.MonkeyPatch, signer: ConfirmationSigner) -> None:
    monkeypatch.setattr(signing, "REPLAY_CACHE_SIZE", 2)
    first, second, third = (signer.mint(TOOL, ARGS, TENANT, state=STATE, now=NOW) for _ in range(3))
    for token in (first, second, third):
        assert check(signer, token).ok
    # The oldest nonce was forgotten to stay within the cap: its replay goes undetected, as it
    # would across replicas (the guarded operations are harmless when repeated).
    assert check(signer, first).ok
    assert check(signer, third).reason is RefusalReason.REPLAYED


def test_ttl_bounds(signer: ConfirmationSigner) -> None:
    for bad_ttl in (0, -1, 3601):
        with pytest.raises(ValueError, match="ttl_s"):
            signer.mint(TOOL, ARGS, TENANT, ttl_s=bad_ttl, now=NOW)
    short_lived = signer.mint(TOOL, ARGS, TENANT, ttl_s=10, state=STATE, now=NOW)
    assert check(signer, short_lived, now=NOW + 10).reason is RefusalReason.EXPIRED


class _Window(BaseModel):
    start: date
    end: date


def test_canonical_arguments_are_compact_sorted_and_accept_models() -> None:
    arguments = {"b": 1, "a": "é", "window": _Window(start=date(2026, 1, 1), end=date(2026, 1, 2)), "c": None}
    assert canonical_arguments(arguments) == (
        '{"a":"é","b":1,"window":{"end":"2026-01-02","start":"2026-01-01"}}'.encode()
    )
