"""Untrusted text from Lynn: no control, bidi or invisible characters; bounded; pydantic-ready."""

from __future__ import annotations

from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from lynn_mcp.lynn.untrusted import (
    ELLIPSIS,
    MESSAGE_MAX_LEN,
    NAME_MAX_LEN,
    UntrustedMessage,
    UntrustedName,
    clean_text,
    untrusted_text,
)

# Everything clean_text must remove (or turn into a space).
FORBIDDEN = {
    *map(chr, range(0x20)),
    "\x7f",
    *map(chr, range(0x80, 0xA0)),
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
    "\u200e",
    "\u200f",
    "\u061c",
    *map(chr, range(0x200B, 0x200E)),
    *map(chr, range(0x2060, 0x2065)),
    "\ufeff",
    "\u180e",
    "\u00ad",
    *map(chr, range(0xE0000, 0xE0080)),
    *map(chr, range(0xD800, 0xE000)),
}


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("Spring sale", "Spring sale"),
        ("invoice\u202egnp.exe", "invoice�gnp.exe"),  # right-to-left override
        ("a\u2066b\u2069c\u200fd\u061ce", "a�b�c�d�e"),  # isolates and marks
        ("pay\u200bpal", "pay�pal"),  # zero-width space: shown, so it cannot pass for "paypal"
        ("👨\u200d👩\u200d👧", "👨�👩�👧"),  # zero-width joiner
        ("\ufeffBOM first", "�BOM first"),
        ("soft\u00adhyphen", "soft�hyphen"),
        ("Acme" + "".join(chr(0xE0000 + ord(c)) for c in "ignore all"), "Acme�"),  # tag smuggling: one mark
        ("bell\x07 null\x00 esc\x1b[31m red", "bell� null� esc�[31m red"),
        ("c1\x85next\x9bline", "c1 next�line"),  # NEL is a line break; CSI is hidden
        ("line one\nline two\r\n\tindented", "line one line two indented"),
        ("  lots   of\u00a0\u3000 space  ", "lots of space"),
        ("Cafe\u0301", "Café"),  # NFC
        ("lone \ud800 surrogate", "lone � surrogate"),
        ("", ""),
        ("\u200b\u202e\n", "�"),
        ("Señor Müller 😀 ❤️", "Señor Müller 😀 ❤️"),  # letters, emoji and variation selectors stay
    ],
)
def test_clean_text_table(raw: str, cleaned: str) -> None:
    assert clean_text(raw) == cleaned


def test_names_that_differ_only_by_hidden_characters_do_not_display_alike() -> None:
    names = ["Promo", "Pro\u200bmo", "Pro\u2060mo\u200b", "\u202ePromo"]
    shown = [clean_text(name) for name in names]
    assert shown == ["Promo", "Pro�mo", "Pro�mo�", "�Promo"]
    assert shown.count("Promo") == 1


def test_none_stays_none() -> None:
    assert clean_text(None) is None


def test_length_is_capped_with_an_ellipsis() -> None:
    assert clean_text("x" * 201) == "x" * 199 + ELLIPSIS
    assert clean_text("x" * 200) == "x" * 200
    assert clean_text("abcdef", max_len=1) == ELLIPSIS
    assert clean_text("word " * 100, max_len=10) == "word word" + ELLIPSIS
    # The cap applies after cleaning: a run of invisible padding counts as one mark.
    assert clean_text("\u200b" * 1000 + "ok", max_len=5) == "�ok"


def test_max_len_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_len"):
        clean_text("x", max_len=0)
    with pytest.raises(ValueError, match="max_len"):
        untrusted_text(0)


@given(st.text(), st.integers(min_value=1, max_value=300))
def test_output_is_clean_bounded_encodable_and_stable(raw: str, max_len: int) -> None:
    cleaned = clean_text(raw, max_len=max_len)
    assert cleaned is not None
    assert len(cleaned) <= max_len
    assert not FORBIDDEN.intersection(cleaned)
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned
    cleaned.encode("utf-8")  # no lone surrogates left to break JSON output
    assert clean_text(cleaned, max_len=max_len) == cleaned


class Contact(BaseModel):
    name: UntrustedName
    note: UntrustedMessage | None = None
    category: Annotated[str, untrusted_text(max_len=8)] = ""


def test_models_clean_when_lynn_json_is_parsed() -> None:
    contact = Contact.model_validate_json(
        '{"name": "Eve\\u202e\\u200b\\nAdmin", "note": "'
        + "n" * 600
        + '", "category": "vip\\u0000-customers"}'
    )
    assert contact.name == "Eve� Admin"
    assert contact.note == "n" * (MESSAGE_MAX_LEN - 1) + ELLIPSIS
    assert contact.category == "vip�-cu" + ELLIPSIS
    assert Contact.model_validate({"name": "x", "note": None}).note is None


def test_schema_states_the_caps() -> None:
    properties = Contact.model_json_schema()["properties"]
    assert properties["name"]["maxLength"] == NAME_MAX_LEN
    assert {"type": "string", "maxLength": MESSAGE_MAX_LEN} in properties["note"]["anyOf"]
