"""Secret hygiene: registered secrets and secret-looking patterns never reach a log stream, and
Lynn's answer bodies are scrubbed of registered secrets while staying valid JSON.

Secrets here are random sentinels. A failing check never shows them: `assert_absent` fails with a
fixed message instead of pytest's assertion diff, which would print the text containing the secret.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import sys
import threading
from collections.abc import Iterator
from urllib.parse import quote

import pydantic_core
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from uvicorn.logging import AccessFormatter, DefaultFormatter

from lynn_mcp.redaction import (
    COVERED_LOGGERS,
    REDACTED,
    ROTATING_SLOT_HISTORY,
    RedactingFilter,
    SecretRegistry,
    install_redaction,
    map_strings,
    redact,
    redact_json_body,
    redact_record,
    register_secret,
    secret_registry,
)


class Sentinel(str):
    """A fake secret whose repr hides it, so pytest's failure report (test arguments) cannot show it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<sentinel withheld>"


def new_sentinel() -> Sentinel:
    # '+' and '/' make the URL-encoded spelling differ from the raw one.
    return Sentinel(f"sentinel-{secrets.token_hex(12)}+/x")


def assert_absent(secret: str, text: str) -> None:
    for spelling in {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}:
        if spelling in text:
            pytest.fail("a registered secret appeared in the output (value withheld)")


@pytest.fixture
def sentinel() -> Iterator[Sentinel]:
    value = new_sentinel()
    register_secret(value)
    yield value
    secret_registry.clear()


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """install_redaction("DEBUG") into a StringIO; every piece of global logging state restored after."""
    root = logging.getLogger()
    touched = [logging.getLogger(name) for name in (*COVERED_LOGGERS, "somelib")]
    saved_factory = logging.getLogRecordFactory()
    saved_root = (root.handlers[:], root.level)
    saved_loggers = [(lg, lg.handlers[:], lg.level, lg.propagate) for lg in touched]
    stream = io.StringIO()
    install_redaction("DEBUG", stream)
    for lg in touched:
        # A server built earlier in the same process may have raised a library logger's level.
        lg.setLevel(logging.NOTSET)
    yield stream
    logging.setLogRecordFactory(saved_factory)
    root.handlers[:], root.level = saved_root
    for lg, handlers, level, propagate in saved_loggers:
        lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate
    for handler in root.handlers:
        for log_filter in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(log_filter)
    secret_registry.clear()


def late_handler(logger_name: str, formatter: logging.Formatter | None = None) -> io.StringIO:
    """A handler a library adds after install, on a non-propagating logger (what uvicorn does)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    if formatter is not None:
        handler.setFormatter(formatter)
    logger = logging.getLogger(logger_name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    # An earlier uvicorn start in the same process may have raised this logger's level.
    logger.setLevel(logging.DEBUG)
    return stream


# --- redact(): registered values -------------------------------------------------------------------


def test_registered_secret_and_its_encoded_spellings_are_redacted() -> None:
    registry = SecretRegistry()
    secret = new_sentinel()
    registry.register(secret)
    for text in (
        f"GET https://lynn.example/api?x={secret}&page=2",
        f"GET https://lynn.example/api?x={quote(secret, safe='')}",
        f"body {json.dumps({'v': secret})}",
        f"prefix{secret}suffix",
    ):
        redacted = registry.redact(text)
        assert_absent(secret, redacted)
        assert REDACTED in redacted


def test_secretstr_none_and_empty_values() -> None:
    registry = SecretRegistry()
    secret = new_sentinel()
    registry.register(SecretStr(secret))
    registry.register(None)
    registry.register("")
    assert len(registry) == 1
    assert_absent(secret, registry.redact(f"value {secret}"))
    assert_absent(secret, repr(registry))
    assert_absent(secret, repr(registry._spellings))  # as a traceback showing locals would print it


def test_rotating_slot_keeps_only_recent_values() -> None:
    registry = SecretRegistry()
    values = [f"rotated-bearer-value-{index:02d}" for index in range(ROTATING_SLOT_HISTORY + 1)]
    for value in values:
        registry.register(value, slot="lynn_bearer")
    assert registry.redact(values[0]) == values[0]  # aged out: no longer in use anywhere
    for value in values[1:]:
        assert registry.redact(value) == REDACTED
    assert len(registry) == ROTATING_SLOT_HISTORY


def test_registration_is_thread_safe_while_redacting() -> None:
    registry = SecretRegistry()
    values = [new_sentinel() for _ in range(40)]
    failures: list[int] = []

    def register_all() -> None:
        for value in values:
            registry.register(value)

    def redact_repeatedly() -> None:
        for _ in range(200):
            if not registry.redact("plain text").startswith("plain"):
                failures.append(1)

    threads = [threading.Thread(target=register_all), threading.Thread(target=redact_repeatedly)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert all(registry.redact(value) == REDACTED for value in values)


# --- redact(): patterns, for secrets nobody registered -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***"),
        ("authorization: basic dXNlcjpwYXNz", "authorization: basic ***"),
        ("{'authorization': 'Bearer abc'}", "{'authorization': 'Bearer ***'}"),
        ("[(b'authorization', b'Bearer abc')]", "[(b'authorization', b'Bearer ***')]"),
        ("retrying with bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "retrying with bearer ***"),
        ('{"token": "abc", "expiresIn": 3600}', '{"token": "***", "expiresIn": 3600}'),
        ('{"accessTokenSecret": "s e c"}', '{"accessTokenSecret": "***"}'),
        ("GET https://x/api?accessToken=abc&page=2", "GET https://x/api?accessToken=***&page=2"),
        ("POST /auth token=abc", "POST /auth token=***"),
        ("Ocp-Apim-Subscription-Key: abc123", "Ocp-Apim-Subscription-Key: ***"),
        ("X-Api-Key: abc123", "X-Api-Key: ***"),
        ("LYNN_TOKEN=abc", "LYNN_TOKEN=***"),
        ("İstanbul token=abc", "İstanbul token=***"),  # lower() changes the length of İ
        ("token=***", "token=***"),  # already redacted: unchanged
    ],
)
def test_secret_looking_patterns_are_redacted(text: str, expected: str) -> None:
    assert SecretRegistry().redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        'HTTP Request: GET https://lynn.example/api/campaigns?page=2 "HTTP/1.1 200 OK"',
        '127.0.0.1:5000 - "POST /mcp HTTP/1.1" 200',
        "missing bearer token",
        "refreshing the token: it expired",
        "campaign 42 started with 1,200 contacts; keys: id, name",
        "Ünïcödé text, emoji 🎉, and 'quotes' \"too\"",
    ],
)
def test_ordinary_text_is_unchanged(text: str) -> None:
    registry = SecretRegistry()
    registry.register(new_sentinel())
    assert registry.redact(text) == text


# --- logging ----------------------------------------------------------------------------------------


def test_url_with_secret_logged_by_httpx2(log_stream: io.StringIO, sentinel: str) -> None:
    logging.getLogger("httpx2").debug("GET https://x/?token=%s", sentinel)
    logging.getLogger("httpx2").info("HTTP Request: GET https://x/?code=%s", sentinel)
    output = log_stream.getvalue()
    assert_absent(sentinel, output)
    assert "GET https://x/?token=***" in output
    assert "GET https://x/?code=***" in output


def test_exception_message_is_redacted_and_traceback_kept(log_stream: io.StringIO, sentinel: str) -> None:
    logger = logging.getLogger("lynn_mcp.lynn.client")
    try:
        raise RuntimeError(f"401 for https://x/?accessToken={sentinel}")
    except RuntimeError:
        logger.exception("request failed")
    output = log_stream.getvalue()
    assert_absent(sentinel, output)
    assert "Traceback (most recent call last)" in output
    assert "RuntimeError: 401 for https://x/?accessToken=***" in output


def test_exception_info_is_cleared_so_no_formatter_renders_it_raw(sentinel: str) -> None:
    try:
        raise ValueError(sentinel)
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    redact_record(record)
    assert record.exc_info is None
    assert record.exc_text is not None
    assert_absent(sentinel, record.exc_text)
    assert "ValueError: ***" in record.exc_text


def test_handler_added_after_install_cannot_leak(log_stream: io.StringIO, sentinel: str) -> None:
    late = late_handler("somelib")
    logging.getLogger("somelib").warning("connecting with %s", {"password": "x", "key": sentinel})
    assert_absent(sentinel, late.getvalue())
    assert "connecting with" in late.getvalue()


def test_uvicorn_access_log_keeps_its_format(log_stream: io.StringIO, sentinel: str) -> None:
    # uvicorn's dictConfig replaces the access logger's handler at start-up; its formatter unpacks
    # record.args, so redaction must keep their shape.
    access = late_handler(
        "uvicorn.access", AccessFormatter("%(client_addr)s %(request_line)s %(status_code)s")
    )
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/mcp?token={sentinel}", "1.1", 200
    )
    output = access.getvalue()
    assert_absent(sentinel, output)
    assert output.strip() == "127.0.0.1:5000 GET /mcp?token=*** HTTP/1.1 200 OK"


def test_uvicorn_colour_message_is_redacted(log_stream: io.StringIO, sentinel: str) -> None:
    error = late_handler("uvicorn.error", DefaultFormatter("%(message)s", use_colors=True))
    logging.getLogger("uvicorn.error").info(
        "Started with %s", sentinel, extra={"color_message": "Started with \x1b[1m%s\x1b[0m"}
    )
    assert_absent(sentinel, error.getvalue())
    assert "Started with" in error.getvalue()


def test_logs_go_to_stderr_by_default(capfd: pytest.CaptureFixture[str], log_stream: io.StringIO) -> None:
    secret = new_sentinel()
    register_secret(secret)
    install_redaction("DEBUG")  # default stream: sys.stderr at call time
    logging.getLogger("mcp.server").debug("session token=%s", secret)
    logging.getLogger("starlette").error("header Authorization: Bearer %s", secret)
    out, err = capfd.readouterr()
    assert out == ""
    assert_absent(secret, err)
    assert "session token=***" in err
    assert "Authorization: Bearer ***" in err


def test_mismatched_format_arguments_never_raise_or_leak(
    capfd: pytest.CaptureFixture[str], log_stream: io.StringIO, sentinel: str
) -> None:
    # logging prints msg and args to stderr itself when formatting fails (handleError). pytest's
    # own capture handler raises instead, so this logger gets a plain handler and no propagation.
    plain = late_handler("lynn_mcp")
    logging.getLogger("lynn_mcp").info("two placeholders %s %s", sentinel)
    assert plain.getvalue() == ""
    _, err = capfd.readouterr()
    assert "--- Logging error ---" in err  # the handleError path really ran
    assert_absent(sentinel, err + log_stream.getvalue())


def test_extra_fields_and_stack_are_redacted(sentinel: str) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None, sinfo=f"Stack: {sentinel}")
    record.__dict__["request_url"] = f"https://x/?v={sentinel}"  # what extra= does
    redact_record(record)
    assert_absent(sentinel, f"{record.stack_info} {vars(record)['request_url']}")


def test_secret_split_across_message_and_argument_is_caught(log_stream: io.StringIO) -> None:
    unregistered = "eyJ" + secrets.token_hex(16)
    logging.getLogger("lynn_mcp").info("Authorization: Bearer %s", unregistered)
    assert_absent(unregistered, log_stream.getvalue())
    assert "Authorization: Bearer ***" in log_stream.getvalue()


def test_filter_catches_records_that_bypass_the_factory(sentinel: str) -> None:
    record = logging.makeLogRecord({"msg": "token %s", "args": (sentinel,)})
    assert RedactingFilter().filter(record) is True
    assert_absent(sentinel, record.getMessage())


def test_ordinary_records_are_untouched(log_stream: io.StringIO, sentinel: str) -> None:
    logging.getLogger("httpx2").info(
        'HTTP Request: %s %s "%s %d %s"', "GET", "https://x/a", "HTTP/1.1", 200, "OK"
    )
    assert log_stream.getvalue().endswith('httpx2: HTTP Request: GET https://x/a "HTTP/1.1 200 OK"\n')


def test_install_is_idempotent(log_stream: io.StringIO) -> None:
    factory = logging.getLogRecordFactory()
    handler_count = len(logging.getLogger().handlers)
    second = io.StringIO()
    install_redaction("INFO", second)
    install_redaction("INFO", second)
    assert logging.getLogRecordFactory() is factory
    assert len(logging.getLogger().handlers) == handler_count
    logging.getLogger("lynn_mcp").warning("once")
    assert second.getvalue().count("once") == 1
    for handler in logging.getLogger().handlers:
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1


def test_install_filters_existing_handlers_of_non_propagating_loggers(log_stream: io.StringIO) -> None:
    handler = logging.StreamHandler(io.StringIO())
    logging.getLogger("uvicorn.access").addHandler(handler)
    logging.getLogger("uvicorn.access").propagate = False
    install_redaction("DEBUG", log_stream)
    assert any(isinstance(f, RedactingFilter) for f in handler.filters)


def test_stdout_and_unknown_levels_are_refused() -> None:
    with pytest.raises(ValueError, match="stdout"):
        install_redaction("INFO", sys.stdout)
    with pytest.raises(ValueError, match="level"):
        install_redaction("LOUD", io.StringIO())


def test_module_level_redact_uses_the_process_registry(sentinel: str) -> None:
    assert redact(f"a {sentinel} b") == "a *** b"


def test_values_too_short_to_be_secrets_are_not_registered() -> None:
    registry = SecretRegistry()
    registry.register("t")
    registry.register("abc1234")
    assert len(registry) == 0
    assert registry.redact("Error executing tool create_campaign: abc1234") == (
        "Error executing tool create_campaign: abc1234"
    )
    registry.register("abcd1234")
    assert registry.redact("value abcd1234 here") == "value *** here"


# --- answer bodies from Lynn --------------------------------------------------------------------------

# Spellings a JSON encoder gives differently: '+' and '/' (URL), '"' and '\\' (JSON escapes),
# non-ASCII (\\u escapes with ensure_ascii), a control character.
AWKWARD_SECRETS = [
    "sentinel-plain-0123456789abcdef",
    'se"cret\\with-quote-and-backslash',
    "sëcret-ñoño-🎉-non-ascii-value",
    "secret+/=with\ttab-and-url-chars",
]


def lynn_document(secret: str) -> dict[str, object]:
    return {
        "name": f"Promo {secret} and {secret}",
        "category": secret,
        "records": [{"row": 1, "Status": "403", "message": f"phone blocked ({secret})"}],
        secret: "a key",
        "count": 3,
        "ratio": 0.5,
        "missing": None,
    }


@pytest.mark.parametrize("secret", AWKWARD_SECRETS)
@pytest.mark.parametrize(
    "encode",
    [
        lambda doc: json.dumps(doc).encode(),
        lambda doc: json.dumps(doc, ensure_ascii=False).encode(),
        pydantic_core.to_json,  # how the sandbox (and many servers) write
    ],
    ids=["ascii", "utf8", "compact"],
)
def test_secrets_in_a_json_body_are_replaced_and_the_body_stays_valid(secret: str, encode: object) -> None:
    registry = SecretRegistry()
    registry.register(secret)
    body = encode(lynn_document(secret))  # type: ignore[operator]
    scrubbed = registry.redact_json_body(body)
    assert_absent(secret, scrubbed.decode())
    assert json.loads(scrubbed) == {
        "name": "Promo *** and ***",
        "category": "***",
        "records": [{"row": 1, "Status": "403", "message": "phone blocked (***)"}],
        "***": "a key",
        "count": 3,
        "ratio": 0.5,
        "missing": None,
    }


def test_a_body_without_a_secret_is_returned_untouched() -> None:
    registry = SecretRegistry()
    registry.register(new_sentinel())
    body = json.dumps(lynn_document("no secret here")).encode()
    assert registry.redact_json_body(body) is body
    assert SecretRegistry().redact_json_body(body) is body  # nothing registered at all


@pytest.mark.parametrize("body", [b"<html>%s</html>", b'{"message": "%s"', b"\xff\xfe %s"])
def test_a_body_that_is_not_json_has_the_secret_replaced_in_its_bytes(body: bytes) -> None:
    registry = SecretRegistry()
    secret = new_sentinel()
    registry.register(secret)
    scrubbed = registry.redact_json_body(body.replace(b"%s", secret.encode()))
    assert scrubbed == body.replace(b"%s", b"***")


def test_answer_bodies_are_scrubbed_of_registered_secrets_only(sentinel: str) -> None:
    body = json.dumps({"message": f"token=abc Authorization: Bearer xyz {sentinel}"}).encode()
    assert json.loads(redact_json_body(body)) == {"message": "token=abc Authorization: Bearer xyz ***"}


def test_a_rotated_bearer_token_is_scrubbed_from_bodies_too() -> None:
    registry = SecretRegistry()
    token = "bearer-value-" + secrets.token_urlsafe(32)
    registry.register(token, slot="lynn_bearer")
    assert registry.redact_json_body(json.dumps({"name": token}).encode()) == b'{"name":"***"}'


# --- needs_redaction(): the outbound filter's one test over a whole answer -----------------------------

_PROPERTY_SECRET = 'pr0perty"se\\cret-ñ+/'
_PIECES = [
    _PROPERTY_SECRET,
    _PROPERTY_SECRET[:8],
    _PROPERTY_SECRET[8:],
    json.dumps(_PROPERTY_SECRET)[1:-1],
    quote(_PROPERTY_SECRET, safe=""),
    '"',
    "\\",
    "\n",
    "ñ",
    "plain ",
    "Bearer ",
    "tok",
    "en=",
    "x" * 20,
]
_texts = st.lists(st.sampled_from(_PIECES), max_size=5).map("".join)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_texts, children, max_size=3),
    max_leaves=12,
)


@given(_json_values)
@example(json.dumps(_PROPERTY_SECRET)[1:-1])  # the JSON spelling, escaped once more in the dump
@example({"k": [f"x{_PROPERTY_SECRET}", quote(_PROPERTY_SECRET, safe="")]})
@settings(max_examples=300)
def test_a_document_that_needs_no_redaction_has_no_string_redact_would_change(document: object) -> None:
    registry = SecretRegistry()
    registry.register(_PROPERTY_SECRET)
    if not registry.needs_redaction(json.dumps(document, ensure_ascii=False)):
        assert map_strings(document, registry.redact) == document
