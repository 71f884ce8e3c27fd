"""The SQLite store's indexes of unfinished predictions: one, which every query of them
uses (each index a status change rewrites is one more page written per commit)."""

from __future__ import annotations

import sqlite3

from replicast.store.sqlite.runs import UNFINISHED_ROWS
from replicast.store.sqlite.store import SQLiteStore


async def test_one_partial_index_holds_the_unfinished_predictions(tmp_path):
    store = SQLiteStore(tmp_path / "replicast.db")
    await store.open()
    await store.close()
    with sqlite3.connect(tmp_path / "replicast.db") as c:
        unfinished = [name for name, where in c.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name ="
            " 'predictions' AND sql IS NOT NULL") if "IN ('starting', 'processing')" in where
            and "deadline" not in where]
        plan = " ".join(row[3] for row in c.execute(f"EXPLAIN QUERY PLAN {UNFINISHED_ROWS}"))
    assert unfinished == ["predictions_unfinished_by_account"]
    assert "USING INDEX predictions_unfinished_by_account" in plan
