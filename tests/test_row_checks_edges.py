"""Row checks at their edges (bulk/checks.py): the blacklist's rows (channels, flags, identifiers), what
each rejection tells the user, duplicates however far apart, and rows never changed in place.

Written for the mutation run (scripts/mutation.sh): each test here failed against a change to
bulk/checks.py that tests/test_rows.py and the loads through the SDK client let through (the
duplicate check forgetting phones after a while was one the issue found by hand).
"""

from __future__ import annotations

import pytest

from lynn_mcp.bulk.checks import (
    CheckedRow,
    DndRowChecker,
    RejectReason,
    RowChecker,
    normalize_phone,
    rejection_outcome,
)
from lynn_mcp.bulk.readers import MalformedRow
from lynn_mcp.bulk.results_file import RowOutcome
from lynn_mcp.bulk.template import TemplateSpec

SPEC = TemplateSpec(("Name", "Phone", "Tags"), "Phone")
LENGTH_DETAIL = "a phone needs 8-15 digits with country code"


def row(phone: str, **cells: str) -> dict[str, str]:
    return {"Name": "Ana", "Phone": phone, "Tags": "vip", **cells}


# -- template rows ------------------------------------------------------------------------------


def test_each_rejection_says_why_in_the_users_words() -> None:
    checker = RowChecker(SPEC)
    assert checker.check(1, {"Phone": "56966666666"}) == CheckedRow(
        1, "56966666666", reason=RejectReason.MISSING_COLUMN, detail="missing Name, Tags"
    )
    assert checker.check(2, row(" ")) == CheckedRow(
        2, " ", reason=RejectReason.MISSING_PHONE, detail="the phone is empty"
    )
    assert checker.check(3, row("+56 12")) == CheckedRow(
        3, "+56 12", reason=RejectReason.INVALID_PHONE, detail=LENGTH_DETAIL
    )
    assert checker.check(4, row("+56 9 6666-6666")).reason is None
    assert checker.check(5, row("56966666666")) == CheckedRow(
        5,
        "56966666666",
        reason=RejectReason.DUPLICATE_IN_FILE,
        detail="the same phone appears earlier in this load",
    )
    malformed = checker.check(6, MalformedRow("row has 4 fields but the header has 3", {"Phone": "569"}))
    assert malformed == CheckedRow(
        6, "569", reason=RejectReason.MALFORMED_ROW, detail="row has 4 fields but the header has 3"
    )
    # A row broken before its phone cell: the rejection has an empty phone, not a made-up one.
    unread = checker.check(7, MalformedRow("a quote is never closed", {"Name": "Ana"}))
    assert unread == CheckedRow(7, "", reason=RejectReason.MALFORMED_ROW, detail="a quote is never closed")


@pytest.mark.parametrize(
    ("raw", "accepted"),
    [
        ("+1234567", False),  # 7 digits once the + is gone
        ("+12345678", True),
        ("+123456789012345", True),
        ("+1234567890123456", False),  # 16
        ("+56 9 6666 666६", False),  # a digit, but not an ASCII one
        ("५६९६६६६६६६६", False),  # eleven digits, none of them ASCII
        ("(56) 96666-66x6", False),
    ],
)
def test_a_phone_must_have_8_to_15_ascii_digits_however_it_was_written(raw: str, accepted: bool) -> None:
    checked = RowChecker(SPEC).check(1, row(raw))
    assert (checked.reason is None) is accepted
    if not accepted:
        assert (checked.reason, checked.detail, checked.phone) == (
            RejectReason.INVALID_PHONE,
            LENGTH_DETAIL,
            raw,
        )


@pytest.mark.parametrize("raw", ["5.69E+10", "56912345679.5", "5e10", "5E10"])
def test_a_phone_whose_digits_are_uncertain_is_rejected_as_written(raw: str) -> None:
    checked = RowChecker(SPEC).check(6, row(raw))
    assert (checked.row_no, checked.phone, checked.reason, checked.data) == (
        6,
        raw,
        RejectReason.INVALID_PHONE,
        None,
    )
    assert checked.detail.endswith(
        "format the phone column as Text (or as Number with 0 decimals) in the spreadsheet "
        "and export it again"
    )


def test_a_duplicate_is_found_however_many_rows_lie_between() -> None:
    checker = RowChecker(SPEC)
    assert checker.check(1, row("56900000000")).reason is None
    for n in range(1, 30_001):
        assert checker.check(n + 1, row(f"569{n:08d}")).reason is None
    assert checker.check(30_002, row("+56 900000000")).reason is RejectReason.DUPLICATE_IN_FILE
    assert checker.check(30_003, row("56900030000")).reason is RejectReason.DUPLICATE_IN_FILE


def test_a_checked_row_never_changes_the_row_it_was_given() -> None:
    checker = RowChecker(SPEC)
    ready = row("56911111111")
    assert checker.check(1, ready).data is ready  # already clean: used as it is, no copy
    formatted = row("+56 9 2222-2222")
    checked = checker.check(2, formatted)
    assert checked.data == row("56922222222")
    assert formatted["Phone"] == "+56 9 2222-2222"
    reordered = {"Tags": "vip", "Phone": "0056933333333", "Name": "Ana", "Extra": "dropped"}
    assert checker.check(3, reordered).data == row("56933333333")
    assert reordered["Phone"] == "0056933333333"


def test_only_a_plain_integer_decimal_loses_its_fraction() -> None:
    assert normalize_phone("56966666666.0") == "56966666666"
    assert normalize_phone("56 9 6666 6666.0") == "56966666666"  # a formatted number with a float's tail
    assert normalize_phone("+56966666666") == "56966666666"
    assert normalize_phone("0056966666666") == "56966666666"
    assert normalize_phone("56966666666") == "56966666666"
    assert normalize_phone("e") == "e"  # not a number at all: left for the length check to refuse


def test_an_accepted_row_has_no_rejection_line() -> None:
    accepted = RowChecker(SPEC).check(3, row("56966666666"))
    with pytest.raises(ValueError) as refused:  # noqa: PT011 # the exact message is asserted below
        rejection_outcome(accepted)
    assert str(refused.value) == "row 3 was accepted; its outcome comes from Lynn"
    rejected = RowChecker(SPEC).check(4, row("1"))
    assert rejection_outcome(rejected) == RowOutcome(4, "1", "rejected", "invalid_phone", LENGTH_DETAIL)


# -- blacklist rows (bulk_set_dnd) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "reason", "detail"),
    [
        (
            {"identifier": "56966666666", "channel": "Fax"},
            RejectReason.INVALID_VALUE,
            "unknown channel 'Fax'",
        ),
        (
            {"identifier": "56966666666", "channel": "whatsapp"},
            RejectReason.INVALID_VALUE,
            "unknown channel 'whatsapp'",
        ),
        (
            {"identifier": "56966666666", "do_not_disturb": "maybe"},
            RejectReason.INVALID_VALUE,
            "do_not_disturb must be true or false",
        ),
        ({"identifier": "  "}, RejectReason.MISSING_PHONE, "the identifier is empty"),
        ({"name": "Ana"}, RejectReason.MISSING_PHONE, "the identifier is empty"),
        ({"identifier": "12345"}, RejectReason.INVALID_PHONE, LENGTH_DETAIL),
        ({"identifier": "12345", "channel": "SMS"}, RejectReason.INVALID_PHONE, LENGTH_DETAIL),
        ({"identifier": "12345", "channel": "Voice"}, RejectReason.INVALID_PHONE, LENGTH_DETAIL),
        ({"identifier": "12345", "channel": "WhatsApp"}, RejectReason.INVALID_PHONE, LENGTH_DETAIL),
    ],
)
def test_a_blacklist_row_that_cannot_be_sent_says_why(
    cells: dict[str, str], reason: RejectReason, detail: str
) -> None:
    checked = DndRowChecker().check(9, cells)
    assert (checked.row_no, checked.reason, checked.detail, checked.data) == (9, reason, detail, None)
    assert checked.phone == cells.get("identifier", "").strip()


@pytest.mark.parametrize("flag", ["true", "TRUE", " Yes ", "y", "1", "si", "Sí", "x", ""])
def test_a_blacklist_flag_that_says_yes_or_nothing_blocks(flag: str) -> None:
    checked = DndRowChecker().check(1, {"identifier": "56966666666", "do_not_disturb": flag})
    assert checked.data == {"identifier": "56966666666", "do_not_disturb": "true"}


@pytest.mark.parametrize("flag", ["false", "False", " NO ", "n", "0"])
def test_a_blacklist_flag_that_says_no_lifts(flag: str) -> None:
    checked = DndRowChecker().check(1, {"identifier": "56966666666", "do_not_disturb": flag})
    assert checked.data == {"identifier": "56966666666", "do_not_disturb": "false"}


def test_a_blacklist_row_keeps_its_name_and_channel_and_normalises_phones_only() -> None:
    checker = DndRowChecker()
    phone = checker.check(1, {"identifier": " +56 9 6666-6666 ", "name": "  Ana ", "channel": " SMS "})
    assert (phone.row_no, phone.reason, phone.phone) == (1, None, "56966666666")
    assert phone.data == {
        "identifier": "56966666666",
        "do_not_disturb": "true",
        "name": "Ana",
        "channel": "SMS",
    }
    email = checker.check(2, {"identifier": " Ana.Perez@Example.com ", "channel": "Email", "name": " "})
    assert email.data == {"identifier": "Ana.Perez@Example.com", "do_not_disturb": "true", "channel": "Email"}
    whatsapp = checker.check(3, {"identifier": "56966666666", "channel": "WhatsApp"})
    assert whatsapp.data == {"identifier": "56966666666", "do_not_disturb": "true", "channel": "WhatsApp"}
    uncertain = checker.check(4, {"identifier": " 5.69E+10 "})
    assert (uncertain.row_no, uncertain.phone, uncertain.reason) == (
        4,
        "5.69E+10",
        RejectReason.INVALID_PHONE,
    )
    assert "scientific notation" in uncertain.detail


def test_a_blacklist_contact_repeated_on_the_same_channel_is_a_duplicate() -> None:
    checker = DndRowChecker(identifier_column="Phone")
    assert checker.check(1, {"Phone": "56966666666"}).reason is None
    again = checker.check(2, {"Phone": "+56 9 6666-6666"})
    assert (again.reason, again.detail, again.phone) == (
        RejectReason.DUPLICATE_IN_FILE,
        "the same contact appears earlier",
        "56966666666",
    )
    assert checker.check(3, {"Phone": "56966666666", "channel": "SMS"}).reason is None  # another channel
    assert (
        checker.check(4, {"Phone": "56966666666", "channel": "SMS"}).reason is RejectReason.DUPLICATE_IN_FILE
    )
    assert checker.check(5, {"identifier": "56966666666"}).reason is RejectReason.MISSING_PHONE


def test_a_malformed_blacklist_row_is_rejected_as_such() -> None:
    checked = DndRowChecker().check(7, MalformedRow("bad JSON", {"identifier": " 569 "}))
    assert checked == CheckedRow(7, "569", reason=RejectReason.MALFORMED_ROW, detail="bad JSON")
