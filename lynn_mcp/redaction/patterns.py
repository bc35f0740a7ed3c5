"""Secret-looking text (the second layer of :mod:`lynn_mcp.redaction`): values that nobody registered
but that stand where secrets stand (``Authorization`` headers, ``bearer <token>``, ``"token": "..."``
keys, ``token=...`` in query strings and forms, ``Ocp-Apim-Subscription-Key``/``X-Api-Key``
headers) become :data:`REDACTED`.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["PATTERN_GATES", "REDACTED", "redact_patterns"]

REDACTED: Final = "***"

# Each pattern is (gate, kept prefix, redacted value). The prefix stays so logs still say *what* was
# hidden. Patterns are lower-case and run on the lower-cased text; each runs only when its gate
# word occurs in it (a substring test, ~0.1 µs), because one case-insensitive alternation of all of
# them cost 40-80 µs per log line, and this runs on every record.
# The S105 ignores below: these are regexes that find secrets, not secrets.
_SECRET_KEYWORD = r"(?:token|secret|passw(?:or)?d|api[_-]?key|subscription[_-]?key|signature)"  # noqa: S105
# The rest of a key name from its keyword on: token, accessToken, access_token, accessTokenSecret,
# client_secret. The match starts at the keyword (what precedes it is kept anyway).
_SECRET_KEY_NAME = rf"{_SECRET_KEYWORD}[\w.-]*"
# Separators between a key and its quoted value: JSON/dict repr ("k": "v"), kwargs (k='v'), and
# header tuples as httpx-style libraries print them ((b'k', b'v')).
_QUOTED_SEPARATOR = r"""(?:["']?\s*[:=]\s*b?["']|["']\s*,\s*b?["'])"""
_AUTH_SCHEMES = r"(?:bearer|basic|token|digest|negotiate|apikey|hawk|sharedaccesssignature)"
_TOKEN_CHARS = r"[^\s\"',;&#)}\]]+"  # noqa: S105  (a character class)
_PATTERNS: Final[tuple[tuple[tuple[str, ...], str, str], ...]] = (
    # Authorization: Bearer x / {'authorization': 'Bearer x'} / (b'authorization', b'Bearer x').
    (
        ("authorization",),
        rf"authorization(?:{_QUOTED_SEPARATOR}|[\"']?\s*[:=]\s*)(?:{_AUTH_SCHEMES}\s+)?",
        _TOKEN_CHARS,
    ),
    # A bare "Bearer <token>". RFC 6750 token characters; 16+ of them so prose ("bearer token",
    # "bearer authentication") is left alone while real tokens, which are long, are caught.
    (("bearer",), r"bearer\s+", r"[\w\-.~+/]{16,}=*"),
    # Header names that carry a key, unquoted: Ocp-Apim-Subscription-Key: x, X-Api-Key: x.
    (
        ("key", "token"),
        r"(?:ocp-apim-subscription-key|x-api-key|api-key|x-[\w-]*-token)\s*:\s*",
        _TOKEN_CHARS,
    ),
    # Quoted values under a secret-looking key: "token": "x", "accessTokenSecret": "x", token='x'.
    (
        ("token", "secret", "passw", "key", "signature"),
        rf"{_SECRET_KEY_NAME}{_QUOTED_SEPARATOR}",
        r"[^\"'\r\n]+",
    ),
    # Unquoted values: ?token=x, &accessToken=x, form bodies, LYNN_TOKEN=x.
    (("token", "secret", "passw", "key", "signature"), rf"{_SECRET_KEY_NAME}\s*=\s*", _TOKEN_CHARS),
)
_FOLDED_LIKE_IGNORECASE: Final = str.maketrans({"\u017f": "s", "\u0131": "i"})
#: Every gate word: text whose lower-cased form contains none of them matches no pattern.
PATTERN_GATES: Final = frozenset(gate for gates, _, _ in _PATTERNS for gate in gates)
_GATED_PATTERNS: Final = tuple(
    (gates, re.compile(f"(?P<keep>{prefix}){value}"), re.compile(f"(?P<keep>{prefix}){value}", re.IGNORECASE))
    for gates, prefix, value in _PATTERNS
)


def redact_patterns(text: str) -> str:
    # The two letters re.IGNORECASE reads as s and i but lower() keeps (U+017F long s, U+0131 dotless
    # i) are folded, so the lower-case pass finds what the case-insensitive one would.
    lowered = text.lower()
    if "\u017f" in lowered or "\u0131" in lowered:  # two substring tests are cheaper than translate
        lowered = lowered.translate(_FOLDED_LIKE_IGNORECASE)
    # lower() maps code point to code point except for a few letters (İ); only when the lengths
    # agree do positions in ``lowered`` equal positions in ``text``.
    same_positions = len(lowered) == len(text)
    spans: list[tuple[int, int]] = []
    for gates, lowercase_regex, ignorecase_regex in _GATED_PATTERNS:
        if not any(gate in lowered for gate in gates):
            continue
        matches = lowercase_regex.finditer(lowered) if same_positions else ignorecase_regex.finditer(text)
        spans.extend((match.end("keep"), match.end()) for match in matches)
    if not spans:
        return text
    # Several patterns may find the same value (Authorization: Bearer x); merge overlapping spans.
    pieces: list[str] = []
    position = 0
    for start, end in sorted(spans):
        if end <= position:
            continue
        pieces.append(text[position : max(start, position)])
        if start >= position:
            pieces.append(REDACTED)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
