"""The worker's batch shortcuts give exactly what the row-by-row code gave: one encoder call split
into rows, and task documents whose accepted rows are not stored one by one."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from lynn_mcp.sandbox.processing import _encode, _encode_rows
from lynn_mcp.sandbox.store import Store
from lynn_mcp.sandbox.tasks import create_task, task_records

# Characters that matter to the split: braces, quotes, commas, backslashes, non-ASCII.
TEXT = st.text(alphabet=st.sampled_from('{}",:\\ab é\n'), max_size=8)


@given(keys=st.lists(TEXT, max_size=4, unique=True), values=st.lists(st.lists(TEXT, min_size=4, max_size=4)))
def test_encode_rows_matches_row_by_row(keys: list[str], values: list[list[str]]) -> None:
    rows = [dict(zip(keys, vals, strict=False)) for vals in values]
    assert _encode_rows(rows) == [_encode(row) for row in rows]


def test_encode_rows_splits_a_tricky_chunk() -> None:
    rows = [{"a": 'x"},{', "b": "1"}, {"a": "},{", "b": "2"}, {"a": "é", "b": "\\"}]
    assert _encode_rows(rows) == [_encode(row) for row in rows]
    assert [json.loads(text) for text in _encode_rows(rows)] == rows


def test_task_records_fill_in_accepted_rows(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    try:
        with store.write() as db:
            create_task(db, 1, "CampaignData", "c", "t", [{}] * 4)
            create_task(db, 1, "CampaignData", "c", "t", [{}] * 3)
            # Task 1 as the worker writes it now (accepted rows left out), after 4 rows;
            # task 2 as an older database holds it (every row stored), after 2 of 3 rows.
            db.execute("INSERT INTO task_results VALUES (1, 3, '409', 'phone 1 repeats row 1')")
            db.executemany(
                "INSERT INTO task_results VALUES (2, ?, ?, ?)", [(1, "200", None), (2, "400", "bad")]
            )
        with store.read() as db:
            assert task_records(db, 1, 4) == [
                {"row": 1, "Status": "200", "message": None},
                {"row": 2, "Status": "200", "message": None},
                {"row": 3, "Status": "409", "message": "phone 1 repeats row 1"},
                {"row": 4, "Status": "200", "message": None},
            ]
            assert task_records(db, 2, 2) == [
                {"row": 1, "Status": "200", "message": None},
                {"row": 2, "Status": "400", "message": "bad"},
            ]
            assert task_records(db, 1, 0) == []
    finally:
        store.close()
