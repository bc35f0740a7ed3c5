"""Sealed handles (the resume handle's envelope) and confirmation tokens at their edges: a handle binds
its purpose and every byte of its payload, keeps its format across releases, refuses what is not a
handle without raising, and a token lives between one second and one hour.

Written for the mutation run (scripts/mutation.sh): each test here failed against a change to
signing.py that tests/test_signing.py and the resume tests let through.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from typing import Any

import pytest

from lynn_mcp import signing
from lynn_mcp.signing import MAX_TTL_S, ConfirmationSigner, RefusalReason

KEY = "k" * 32
NOW = 1_800_000_000.0
PURPOSE = "bulk-resume"


@pytest.fixture
def signer() -> ConfirmationSigner:
    return ConfirmationSigner(KEY)


def test_a_sealed_handle_keeps_its_format_across_releases(signer: ConfirmationSigner) -> None:
    """A resume handle an agent kept must still open after the server is upgraded (same key): the
    envelope is `base64url(payload).base64url(first 16 bytes of HMAC-SHA256(purpose 0x00 payload))`
    under a key derived from LYNN_SIGNING_KEY. The value below was computed with hmac by hand."""
    assert signer.seal(PURPOSE, b"rows 1-1000") == "cm93cyAxLTEwMDA.xL1k4bcXiJiRgkDOmv99Mg"
    assert signer.unseal(PURPOSE, "cm93cyAxLTEwMDA.xL1k4bcXiJiRgkDOmv99Mg") == b"rows 1-1000"


def test_a_handle_binds_every_byte_of_its_payload_and_its_purpose(signer: ConfirmationSigner) -> None:
    handle = signer.seal(PURPOSE, b"chunk states 0101")
    other = signer.seal(PURPOSE, b"chunk states 1111")
    forged = f"{other.split('.')[0]}.{handle.split('.')[1]}"
    assert signer.unseal(PURPOSE, forged) is None
    assert signer.unseal("another-purpose", handle) is None
    assert ConfirmationSigner("j" * 32).unseal(PURPOSE, handle) is None
    assert signer.unseal(PURPOSE, handle) == b"chunk states 0101"


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        12345,
        b"abc.def",
        "",
        "no-dot",
        "a.b.c",
        "cm93cw.!!!",
        "!!!.xL1k4bcXiJiRgkDOmv99Mg",
        "cm93cw.AAAA",
    ],
)
def test_what_is_not_a_handle_is_refused_without_raising(signer: ConfirmationSigner, garbage: Any) -> None:
    assert signer.unseal(PURPOSE, garbage) is None


def test_a_handle_longer_than_allowed_is_refused_unread(signer: ConfirmationSigner) -> None:
    handle = signer.seal(PURPOSE, b"x" * 3055)  # 4,097 characters: one over the default
    assert len(handle) == 4097
    assert signer.unseal(PURPOSE, handle) is None
    assert signer.unseal(PURPOSE, handle, max_chars=4097) == b"x" * 3055
    assert signer.unseal(PURPOSE, handle, max_chars=4096) is None


@pytest.mark.parametrize("ttl_s", [1, MAX_TTL_S])
def test_a_token_may_live_from_one_second_to_an_hour(signer: ConfirmationSigner, ttl_s: int) -> None:
    token = signer.mint("delete_campaign", {"campaign_id": "c"}, 7, ttl_s=ttl_s, now=NOW)
    assert signer.verify(token, "delete_campaign", {"campaign_id": "c"}, 7, now=NOW + ttl_s - 1).ok


def test_a_short_signing_key_is_refused_with_how_to_make_one() -> None:
    with pytest.raises(ValueError) as refused:  # noqa: PT011 # the exact message is asserted below
        ConfirmationSigner("k" * 31)
    assert str(refused.value) == (
        "LYNN_SIGNING_KEY must be at least 32 bytes; generate one with "
        '`python -c "import secrets; print(secrets.token_urlsafe(32))"`'
    )
    assert not ConfirmationSigner(b"k" * 32).is_ephemeral  # 32 bytes exactly is enough


# Minted once by this release with key "k" * 32 (see the test): it must verify under any later one.
RELEASED_TOKEN = (
    "AmtJ4BBHaYB0FH6e9Ile1LlYYYtQkFTUMnOvVjLD8DhEkdFPsoJRcFSlxj7m2hB_snmVEWQciFpN2u7CYfhrFL0."
    "B9apr6froFOcNifA6nYlwkAVX8YuSSUF811d_PL_4Ho"
)


def test_a_token_minted_by_another_release_with_the_same_key_is_honoured() -> None:
    """Replicas behind a load balancer are upgraded one at a time: a token one of them minted with the
    shared LYNN_SIGNING_KEY must confirm the call on another running the next release."""
    signer = ConfirmationSigner(KEY)
    arguments = {"campaign_id": "c-123"}
    check = signer.verify(
        RELEASED_TOKEN, "delete_campaign", arguments, "tenant-7", state="status Stopped", now=NOW
    )
    assert check.ok
    assert (
        not ConfirmationSigner("j" * 32)
        .verify(RELEASED_TOKEN, "delete_campaign", arguments, "tenant-7", state="status Stopped", now=NOW)
        .ok
    )


# -- verify: what is refused as not a token at all, and the replay cache's housekeeping -------------

TOOL = "delete_campaign"
ARGS = {"campaign_id": "c"}


def verify(signer: ConfirmationSigner, token: Any, now: float = NOW + 1) -> Any:
    return signer.verify(token, TOOL, ARGS, 7, now=now)


def test_a_token_padded_to_the_limit_is_read_and_one_over_it_is_not(signer: ConfirmationSigner) -> None:
    token = signer.mint(TOOL, ARGS, 7, now=NOW)
    over = f"{token:^257}"  # spaces around, as a paste may bring
    assert verify(signer, over).reason is RefusalReason.MALFORMED
    assert verify(signer, f"{token:^256}").ok  # not spent by the refusal above
    assert verify(signer, None).reason is RefusalReason.MALFORMED
    assert verify(signer, 12345).reason is RefusalReason.MALFORMED


def test_a_token_whose_parts_have_the_wrong_length_is_malformed(signer: ConfirmationSigner) -> None:
    payload, mac = signer.mint(TOOL, ARGS, 7, now=NOW).split(".")
    short = base64.urlsafe_b64encode(b"x" * 10).rstrip(b"=").decode()
    assert verify(signer, f"{short}.{mac}").reason is RefusalReason.MALFORMED
    assert verify(signer, f"{payload}.{short}").reason is RefusalReason.MALFORMED


def test_a_token_of_another_format_version_is_refused_even_when_signed() -> None:
    """A version-1 token (before tokens bound the previewed state) signed with the right key."""
    mac_key = hmac.new(KEY.encode(), b"lynn-mcp confirmation token v1", hashlib.sha256).digest()
    digest = signing._digest  # the labelled digests the payload holds
    payload = struct.pack(
        ">BI12s8s8s16s16s",
        1,
        int(NOW) + 300,
        b"n" * 12,
        digest(b"tool", TOOL.encode(), 8),
        digest(b"tenant", b"7", 8),
        digest(b"arguments", signing.canonical_arguments(ARGS), 16),
        digest(b"state", b"", 16),
    )
    mac = hmac.new(mac_key, payload, hashlib.sha256).digest()
    token = f"{signing._encode(payload)}.{signing._encode(mac)}"
    assert verify(ConfirmationSigner(KEY), token).reason is RefusalReason.MALFORMED
    current = bytes([2]) + payload[1:]  # the same payload as this release writes it is accepted
    resigned = (
        f"{signing._encode(current)}.{signing._encode(hmac.new(mac_key, current, hashlib.sha256).digest())}"
    )
    assert verify(ConfirmationSigner(KEY), resigned).ok


def test_forgetting_expired_uses_keeps_the_live_ones(signer: ConfirmationSigner) -> None:
    """Expired entries are dropped from the front of the replay cache; a live one behind them stays."""
    short_lived = signer.mint(TOOL, ARGS, 7, ttl_s=10, now=NOW)
    live = signer.mint(TOOL, ARGS, 7, ttl_s=3600, now=NOW)
    assert verify(signer, short_lived, now=NOW).ok
    assert verify(signer, live, now=NOW).ok
    assert verify(signer, signer.mint(TOOL, ARGS, 7, now=NOW + 10), now=NOW + 10).ok  # sweeps
    assert verify(signer, live, now=NOW + 10).reason is RefusalReason.REPLAYED


def test_a_full_replay_cache_sweeps_expired_uses_before_forgetting_a_live_one(
    monkeypatch: pytest.MonkeyPatch, signer: ConfirmationSigner
) -> None:
    monkeypatch.setattr(signing, "REPLAY_CACHE_SIZE", 3)
    oldest_live = signer.mint(TOOL, ARGS, 7, ttl_s=3600, now=NOW)
    expiring = signer.mint(TOOL, ARGS, 7, ttl_s=10, now=NOW)
    newest_live = signer.mint(TOOL, ARGS, 7, ttl_s=3600, now=NOW)
    for token in (oldest_live, expiring, newest_live):
        assert verify(signer, token, now=NOW).ok
    # Full, with the expired use in the middle: it goes, and both live ones are still remembered.
    assert verify(signer, signer.mint(TOOL, ARGS, 7, now=NOW + 10), now=NOW + 10).ok
    assert verify(signer, oldest_live, now=NOW + 10).reason is RefusalReason.REPLAYED
    assert verify(signer, newest_live, now=NOW + 10).reason is RefusalReason.REPLAYED


def test_a_state_holding_a_lone_surrogate_still_binds(signer: ConfirmationSigner) -> None:
    """Lynn's JSON may carry an unpaired \\ud800 escape in a name; the state that quotes it binds."""
    state = 'status Stopped, name "Promo \ud800"'
    token = signer.mint(TOOL, ARGS, 7, state=state, now=NOW)
    assert signer.verify(token, TOOL, ARGS, 7, state="status Stopped", now=NOW + 1).reason is (
        RefusalReason.STATE_CHANGED
    )
    assert signer.verify(token, TOOL, ARGS, 7, state=state, now=NOW + 1).ok


def test_arguments_json_cannot_express_are_never_bound(signer: ConfirmationSigner) -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        signing.canonical_arguments({"ratio": float("nan")})
    token = signer.mint(TOOL, ARGS, 7, now=NOW)
    assert signer.verify(token, TOOL, {"ratio": float("inf")}, 7, now=NOW + 1).reason is (
        RefusalReason.WRONG_ARGUMENTS
    )
    assert verify(signer, token).ok  # the refusal did not spend it


def test_every_payload_round_trips_whatever_its_encoding_ends_with(signer: ConfirmationSigner) -> None:
    for payload in (b"\x00\x00\x17", b"\xff\xfe", b"a", b"", bytes(range(256))):
        assert signer.unseal(PURPOSE, signer.seal(PURPOSE, payload)) == payload
    assert signer.seal(PURPOSE, b"\x00\x00\x17").startswith("AAAX.")


def test_a_token_has_exactly_one_accepted_spelling(signer: ConfirmationSigner) -> None:
    """The base64 decoder skips stray characters and ignores a last character's unused bits; a token
    or handle spelled another way is refused, not read as the same bytes."""
    token = signer.mint(TOOL, ARGS, 7, now=NOW)
    payload, mac = token.split(".")
    stray = f"{payload[:10]}!{payload[10:]}.{mac}"
    assert verify(signer, stray).reason is RefusalReason.MALFORMED
    handle = signer.seal(PURPOSE, b"ab")  # "YWI": the last character carries two unused bits
    assert handle.startswith("YWI.")
    assert signer.unseal(PURPOSE, "YWJ" + handle[3:]) is None  # the same bytes, other unused bits
    assert signer.unseal(PURPOSE, "Y!WI" + handle[3:]) is None
    assert signer.unseal(PURPOSE, handle) == b"ab"
    assert verify(signer, token).ok
