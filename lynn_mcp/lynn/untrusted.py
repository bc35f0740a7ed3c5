"""Untrusted text from Lynn (campaign names, categories, contact names, messages) made safe to show a model.

Anyone who can name a contact or a campaign can put text in front of the agent. This module does not
decide what the text means (tool descriptions tell the model these fields are data, not
instructions); it removes what makes text deceptive or unbounded:

* control characters (C0, DEL, C1); line breaks and tabs become a space,
* bidirectional controls that reorder what is displayed (U+202A–U+202E, U+2066–U+2069, marks),
* zero-width and invisible characters (joiners, word joiner, BOM, soft hyphen, Hangul fillers,
  interlinear annotation marks) and Unicode tag characters (U+E0000–U+E007F, "ASCII smuggling"),
* lone surrogates, which no UTF-8 encoder accepts,

then collapses whitespace, NFC-normalises and caps the length. A hidden character is not simply
dropped: each run of them becomes one visible U+FFFD (`�`), so two names that differ only by
invisible characters (`Promo` and `Pro<U+200B>mo`) never display as identical.

Response models declare fields as :data:`UntrustedName` / :data:`UntrustedMessage` so cleaning
happens when Lynn's JSON is parsed.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Final

from pydantic import AfterValidator, Field

__all__ = [
    "HIDDEN_MARK",
    "MESSAGE_MAX_LEN",
    "NAME_MAX_LEN",
    "UntrustedMessage",
    "UntrustedName",
    "clean_text",
    "untrusted_text",
]

NAME_MAX_LEN: Final = 200
MESSAGE_MAX_LEN: Final = 500
ELLIPSIS: Final = "…"

# Characters that separate words: turned into a space (then collapsed) so words do not merge.
_BREAKS_TO_SPACE: Final = "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029"
_BIDI_CONTROLS: Final = [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]
_INVISIBLES: Final = [
    *range(0x200B, 0x200E),  # zero-width space, non-joiner, joiner
    *range(0x2060, 0x2065),  # word joiner, invisible operators
    0xFEFF,  # zero-width no-break space / BOM
    0x180E,  # Mongolian vowel separator
    0x00AD,  # soft hyphen
    0x034F,  # combining grapheme joiner
    0x115F,  # Hangul choseong filler
    0x1160,  # Hangul jungseong filler
    0x3164,  # Hangul filler
    0xFFA0,  # halfwidth Hangul filler
    *range(0xFFF9, 0xFFFC),  # interlinear annotation anchors
    *range(0xE0000, 0xE0080),  # tag characters
]
_CONTROLS: Final = [*range(0x20), 0x7F, *range(0x80, 0xA0)]
_SURROGATES: Final = range(0xD800, 0xE000)

HIDDEN_MARK: Final = "\ufffd"
"""What a run of hidden characters becomes: visible, and the standard sign for "something was here"."""

# One table for everything: str.translate does the whole job in C, in one pass.
_CLEANING_TABLE: Final[dict[int, str | None]] = {
    **dict.fromkeys((*_CONTROLS, *_BIDI_CONTROLS, *_INVISIBLES, *_SURROGATES), HIDDEN_MARK),
    **{ord(char): " " for char in _BREAKS_TO_SPACE},
}
_HIDDEN_RUN: Final = re.compile(HIDDEN_MARK + "{2,}")


def _already_clean(value: str, max_len: int) -> bool:
    """Printable ASCII with single inner spaces is what cleaning would return unchanged: no control,
    bidi or invisible character is ASCII-printable, and ASCII is NFC. Most of Lynn's text (names,
    "created", phone numbers) takes this path, which skips the translate/normalise work."""
    return (
        len(value) <= max_len
        and value.isascii()
        and value.isprintable()
        and "  " not in value
        and not value.startswith(" ")
        and not value.endswith(" ")
    )


def clean_text(value: str | None, *, max_len: int = NAME_MAX_LEN) -> str | None:
    """Return ``value`` with each run of control, bidi and invisible characters shown as one ``�``,
    whitespace collapsed, NFC-normalised and at most ``max_len`` characters (cut text ends with
    ``…``). None stays None.
    """
    if value is None:
        return None
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, got {max_len}")
    if _already_clean(value, max_len):
        return value
    text = value.translate(_CLEANING_TABLE)
    if HIDDEN_MARK * 2 in text:
        text = _HIDDEN_RUN.sub(HIDDEN_MARK, text)
    # Normalise before collapsing: NFC maps some characters to spaces (U+2000 to U+2002).
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    # str.split() with no argument splits on every Unicode space (NBSP, em space, ideographic...).
    text = " ".join(text.split())
    if len(text) > max_len:
        text = text[: max_len - 1].rstrip() + ELLIPSIS
    return text


def untrusted_text(max_len: int) -> AfterValidator:
    """A pydantic validator that cleans a ``str`` field with :func:`clean_text` and ``max_len``.

    Use for caps other than the two ready-made types:
    ``category: Annotated[str, untrusted_text(max_len=80)]``.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, got {max_len}")

    def clean(value: str) -> str:
        cleaned = clean_text(value, max_len=max_len)
        assert cleaned is not None  # a str in gives a str out; only None maps to None
        return cleaned

    return AfterValidator(clean)


#: A name, category or title from Lynn: cleaned, at most 200 characters. The JSON schema says so
#: (``maxLength``) without making validation reject longer input, which is cut instead.
UntrustedName = Annotated[
    str, untrusted_text(NAME_MAX_LEN), Field(json_schema_extra={"maxLength": NAME_MAX_LEN})
]
#: A message or description from Lynn: cleaned, at most 500 characters.
UntrustedMessage = Annotated[
    str, untrusted_text(MESSAGE_MAX_LEN), Field(json_schema_extra={"maxLength": MESSAGE_MAX_LEN})
]
