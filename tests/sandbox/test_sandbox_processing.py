"""The worker's batch shortcuts give exactly what the row-by-row code gave: one encoder call split
into rows, and task documents whose accepted rows are not stored one by one."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from lynn_mcp.sandbox.processing import _encode, _encode_rows
from lynn_mcp.sandbox.store import Store
from lynn_mcp.sandbox.tasks import TaskWorker, create_task, task_records

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
            assert json.loads(task_records(db, 1, 4)) == [
                {"row": 1, "Status": "200", "message": None},
                {"row": 2, "Status": "200", "message": None},
                {"row": 3, "Status": "409", "message": "phone 1 repeats row 1"},
                {"row": 4, "Status": "200", "message": None},
            ]
            assert json.loads(task_records(db, 2, 2)) == [
                {"row": 1, "Status": "200", "message": None},
                {"row": 2, "Status": "400", "message": "bad"},
            ]
            assert json.loads(task_records(db, 1, 0)) == []
    finally:
        store.close()


def test_checkpoint_moves_the_wal_into_the_database_file(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    try:
        with store.write() as db:
            create_task(db, 1, "CampaignData", "c", "t", [{"Phone": "56900000001"}])
        store.checkpoint()
        # The database file alone (no -wal beside it) now holds the task.
        copy = tmp_path / "copy.sqlite3"
        copy.write_bytes((tmp_path / "s.sqlite3").read_bytes())
        other = sqlite3.connect(copy)
        assert other.execute("SELECT count(*) FROM tasks").fetchone() == (1,)
        other.close()
    finally:
        store.close()


def test_worker_takes_offered_rows_else_the_payload(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    worker = TaskWorker(store, 0)
    rows = [{"Phone": "56900000001"}]
    try:
        with store.write() as db:
            offered = create_task(db, 1, "CampaignData", "c", "t", rows)
            worker.offer(offered, rows)
            create_task(db, 1, "CampaignData", "c", "t", [{"Phone": "56900000002"}])
        job = worker._next()
        assert job is not None
        assert job.task_id == offered
        assert job.rows is rows
        with store.write() as db:
            db.execute("UPDATE tasks SET state = 'Completed' WHERE seq = ?", (job.seq,))
        job = worker._next()
        assert job is not None
        assert job.rows == [{"Phone": "56900000002"}]  # from the payload
        worker.offer("never-committed", rows)
        with store.write() as db:
            db.execute("UPDATE tasks SET state = 'Completed'")
        worker.start()  # runs out of tasks at once and drops the stale offer
        for _ in range(500):
            if not worker._offered:
                break
            time.sleep(0.01)
        assert worker._offered == {}
    finally:
        worker.stop()
        store.close()
