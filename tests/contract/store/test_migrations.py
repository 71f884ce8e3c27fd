"""Databases written by an earlier Replicast come up to date with their data intact."""

from __future__ import annotations

import contextlib
import sqlite3

from replicast import times
from replicast.predictions.status import Status
from replicast.store import migrations, open_store
from replicast.store.predictions import Change
from tests.support import services

# The last migration before a prediction's input moved to a table of its own.
_BEFORE_INPUTS = {"sqlite": 10, "postgres": 7}
_LONG = '{"prompt": "' + "é" * 600 + '"}'  # past 1024 bytes, not characters
_OLD_ROWS = [
    # id, input, secrets, data_removed
    ("p1", '{"prompt": "kept", "token": "**********"}', '{"token": "s3cret"}', False),
    ("p2", '{"prompt": "finished"}', None, False),
    ("p3", "{}", None, True),
    ("p4", _LONG, None, False),
]


def _old_sqlite(path) -> None:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as c:
        c.execute("CREATE TABLE schema_migrations"
                  " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
        for m in migrations.load("sqlite")[:_BEFORE_INPUTS["sqlite"]]:
            c.executescript(m.sql)
            c.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                      (m.version, m.name, times.format_rfc3339(times.now())))
        c.execute("INSERT INTO accounts (id, username, created_at) VALUES (1, 'alice', ?)",
                  (times.format_rfc3339(times.now()),))
        for prediction_id, input, secrets, removed in _OLD_ROWS:
            c.execute("INSERT INTO predictions (id, account_id, model, version, input, status,"
                      " created_at, base_url, stream_token, source, secrets, data_removed)"
                      " VALUES (?, 1, 'a/b', 'v', ?, 'starting', ?, 'http://h', ?, 'api', ?, ?)",
                      (prediction_id, input, times.format_rfc3339(times.now()),
                       f"token-{prediction_id}", secrets, int(removed)))


async def _old_postgres() -> str:
    import asyncpg

    url = await services.create_database()
    c = await asyncpg.connect(url)
    try:
        await c.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                        " name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")
        for m in migrations.load("postgres")[:_BEFORE_INPUTS["postgres"]]:
            await c.execute(m.sql)
            await c.execute("INSERT INTO schema_migrations VALUES ($1, $2, $3)",
                            m.version, m.name, times.now())
        await c.execute("INSERT INTO accounts (id, username, created_at)"
                        " VALUES (1, 'alice', now())")
        for prediction_id, input, secrets, removed in _OLD_ROWS:
            await c.execute(
                "INSERT INTO predictions (id, account_id, model, version, input, status,"
                " created_at, base_url, stream_token, source, secrets, data_removed)"
                " VALUES ($1, 1, 'a/b', 'v', $2, 'starting', now(), 'http://h', $3, 'api',"
                " $4, $5)", prediction_id, input, f"token-{prediction_id}", secrets, removed)
    finally:
        await c.close()
    return url


async def test_large_inputs_and_secrets_move_to_their_own_table(store_url, tmp_path):
    if store_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'old.db'}"
        _old_sqlite(tmp_path / "old.db")
    else:
        url = await _old_postgres()
    store = open_store(url)
    try:
        applied = await store.upgrade()
        later = ["prediction_inputs", "previews", "api_prefix", "queue", "key_expiry", "counts"]
        if store_url.startswith("sqlite"):
            later += ["one_unfinished_index", "secrets_cleared_by_trigger"]
        assert [name.split("_", 1)[1] for name in applied] == later
        # The counts begin with the rows already there.
        assert await store.predictions.status_counts() == {("a/b", "starting"): 4}
        kept = await store.predictions.get("p1")
        assert kept.input == {"prompt": "kept", "token": "**********"}
        assert kept.run_input() == {"prompt": "kept", "token": "s3cret"}
        assert (await store.predictions.get("p2")).input == {"prompt": "finished"}
        removed = await store.predictions.get("p3")
        assert removed.input == {} and removed.data_removed
        assert (await store.predictions.get("p4")).input == {"prompt": "é" * 600}
        # And they go on: updated, finished (the secret goes), their data removed.
        for prediction_id, input in (("p1", kept.input), ("p2", {"prompt": "finished"}),
                                     ("p4", {"prompt": "é" * 600})):
            done = await store.predictions.update(prediction_id, frozenset({Status.STARTING}),
                                                  Change(status=Status.CANCELED))
            assert (done.input, done.secrets) == (input, None)
        assert (await store.predictions.get("p1")).secrets is None
        assert await store.predictions.remove_data(["p1", "p4"]) == 2
        assert (await store.predictions.get("p4")).input == {}
        assert await store.predictions.status_counts() == {("a/b", "starting"): 1,
                                                           ("a/b", "canceled"): 3}
    finally:
        await store.close()
        if not store_url.startswith("sqlite"):
            await services.drop_database(url)
