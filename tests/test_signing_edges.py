"""Sealed handles (the resume handle's envelope) and confirmation tokens at their edges: a handle binds
its purpose and every byte of its payload, keeps its format across releases, refuses what is not a
handle without raising, and a token lives between one second and one hour.

Written for the mutation run (scripts/mutation.sh): each test here failed against a change to
signing.py that tests/test_signing.py and the resume tests let through.
"""

from __future__ import annotations

from typing import Any

import pytest

from lynn_mcp.signing import MAX_TTL_S, ConfirmationSigner

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
