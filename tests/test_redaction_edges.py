"""Redaction at its edges: a refreshed token's history, forgetting, the spellings a secret takes in a
form body, one secret inside another, and copies of documents that keep what they must.

Written for the mutation run (scripts/mutation.sh): each test here failed against a change to
redaction/registry.py or redaction/patterns.py that tests/test_redaction.py let through.
"""

from __future__ import annotations

import json
from urllib.parse import quote_plus

from lynn_mcp.redaction import REDACTED, SecretRegistry, map_strings
from lynn_mcp.redaction.patterns import redact_patterns


def test_a_token_registered_again_does_not_push_older_ones_out() -> None:
    registry = SecretRegistry()
    values = [f"bearer-token-value-{name}" for name in "abcde"]
    for value in values[:4]:
        registry.register(value, slot="lynn_bearer")
    registry.register(values[0], slot="lynn_bearer")  # the same token again: still one of four
    registry.register(values[4], slot="lynn_bearer")
    assert registry.redact(values[0]) == values[0]  # the oldest has aged out
    assert [registry.redact(value) for value in values[1:]] == [REDACTED] * 4
    assert len(registry) == 4


def test_slots_age_out_on_their_own() -> None:
    registry = SecretRegistry()
    registry.register("static-secret-value")
    registry.register("other-slot-value-1", slot="other")
    for n in range(10):
        registry.register(f"bearer-token-value-{n}", slot="lynn_bearer")
    assert registry.redact("static-secret-value other-slot-value-1") == f"{REDACTED} {REDACTED}"


def test_clear_forgets_every_value() -> None:
    registry = SecretRegistry()
    registry.register("static-secret-value")
    registry.register("bearer-token-value", slot="lynn_bearer")
    registry.clear()
    assert len(registry) == 0
    assert (
        registry.redact("static-secret-value bearer-token-value") == "static-secret-value bearer-token-value"
    )
    assert registry.redact_json_body(b'{"a": "static-secret-value"}') == b'{"a": "static-secret-value"}'


def test_a_secret_in_a_form_body_is_hidden_in_its_plus_spelling() -> None:
    registry = SecretRegistry()
    secret = "pass phrase with spaces+plus"
    registry.register(secret)
    form = f"grant=1&secretValue={quote_plus(secret)}&page=2"
    assert quote_plus(secret) in form
    assert registry.redact_registered(form) == f"grant=1&secretValue={REDACTED}&page=2"


def test_a_secret_inside_a_longer_one_leaves_nothing_of_the_longer() -> None:
    registry = SecretRegistry()
    registry.register("abcd1234")
    registry.register("abcd1234-and-more")
    assert registry.redact_registered("x abcd1234-and-more y abcd1234 z") == f"x {REDACTED} y {REDACTED} z"


def test_needs_redaction_is_false_only_for_text_with_nothing_to_hide() -> None:
    registry = SecretRegistry()
    registry.register("static-secret-value")
    assert not registry.needs_redaction("campaign 42 started")
    assert registry.needs_redaction("has static-secret-value")
    assert registry.needs_redaction("an API KEY word")  # a pattern's gate word, in any case
    assert not SecretRegistry().needs_redaction("plain text")


def test_a_copy_of_a_document_keeps_what_it_must() -> None:
    document = {"a": "up", 3: ("x", {"b": "y"}), "kept": {"c": "as is"}, "n": None, "f": 1.5}
    copied = map_strings(document, str.upper, keep={"kept"})
    assert copied == {"A": "UP", 3: ["X", {"B": "Y"}], "KEPT": {"c": "as is"}, "N": None, "F": 1.5}


def test_a_secret_after_two_patterns_matching_the_same_value_is_hidden_too() -> None:
    """`Authorization: Bearer <token>` is found by two patterns; the secret after it still is one."""
    text = "Authorization: Bearer abcdefghijklmnopqrstuv and later token=zzz"
    assert SecretRegistry().redact(text) == "Authorization: Bearer *** and later token=***"


def test_keys_kept_as_they_are_are_kept_at_any_depth() -> None:
    document = {"outer": {"kept": "as is", "other": "x"}, "rows": [{"kept": "as is"}, ("y", {"kept": "z"})]}
    copied = map_strings(document, str.upper, keep={"kept"})
    assert copied == {
        "OUTER": {"KEPT": "as is", "OTHER": "X"},
        "ROWS": [{"KEPT": "as is"}, ["Y", {"KEPT": "z"}]],
    }


def test_a_scrubbed_body_keeps_lynns_other_characters_as_they_were() -> None:
    # What is not a secret reaches the parser (and a debug log) as Lynn wrote it: no \u escapes,
    # and a lone surrogate Lynn escaped survives the round trip instead of failing the answer.
    registry = SecretRegistry()
    registry.register("static-secret-value")
    body = '{"name":"José static-secret-value 🎉","odd":"\\ud800"}'.encode()
    scrubbed = registry.redact_json_body(body)
    assert scrubbed == '{"name":"José *** 🎉","odd":"\ud800"}'.encode("utf-8", "surrogatepass")


def test_a_key_spelled_with_a_long_s_or_a_dotless_i_is_still_a_key() -> None:
    # re.IGNORECASE reads the long s as s and the dotless i as i; so does the lower-case pass. Both
    # passes: a capital dotted I, which lower() lengthens, sends the text to the case-insensitive one.
    for text in ("paſsword=hunter2 and ſecret: 'x'", "paſsword=hunter2 and ſecret: 'x' İ"):
        hidden = redact_patterns(text)
        assert "hunter2" not in hidden
        assert hidden.startswith("paſsword=***")
    assert redact_patterns("apı_key=abcdef") == "apı_key=***"


def test_every_spelling_a_secret_takes_in_urls_and_json_is_hidden_whole() -> None:
    # A slash, a space, a plus, a quote and a non-ASCII letter: each spelling writes them differently.
    secret = 'pa/ss w\u00f6rd"+x12'
    registry = SecretRegistry()
    registry.register(secret)
    spellings = {
        "path segment": "pa%2Fss%20w%C3%B6rd%22%2Bx12",
        "form value": "pa%2Fss+w%C3%B6rd%22%2Bx12",
        "JSON, ASCII only": 'pa/ss w\\u00f6rd\\"+x12',
        "JSON as UTF-8": 'pa/ss w\u00f6rd\\"+x12',
    }
    for where, spelling in spellings.items():
        assert registry.redact_registered(f"<{spelling}>") == f"<{REDACTED}>", where


def test_a_secret_inside_a_longer_one_is_hidden_whole_in_a_body_that_is_not_json() -> None:
    # Replaced longest first: the short secret sorts after the long one but lies inside it.
    registry = SecretRegistry()
    registry.register("zzzz-inner-1")
    registry.register("aaaa-zzzz-inner-1-outer")
    assert registry.redact_json_body(b"<html>aaaa-zzzz-inner-1-outer</html>") == b"<html>***</html>"


def test_a_secret_serialised_twice_as_utf8_json_still_needs_redaction() -> None:
    # A tool result holding a JSON document as a string, itself serialised: the secret's quote is
    # escaped twice and its non-ASCII letter left as it is. No gate word, so only the spelling tells.
    secret = 'w\u00f6rd"abc-12'
    registry = SecretRegistry()
    registry.register(secret)
    inner = json.dumps({"name": secret}, ensure_ascii=False)
    outer = json.dumps({"body": inner}, ensure_ascii=False)
    assert registry.needs_redaction(outer)
    assert not registry.needs_redaction(outer.replace("abc-12", "abc-13"))
