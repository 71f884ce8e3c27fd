"""The SQL both database backends share: prediction rows, changes and guards; file rows;
and how each database spells parameters and times (``Dialect``).

SQLite and PostgreSQL differ in placeholders (``?`` against ``$1``) and in how
times are stored (RFC 3339 text against ``timestamptz``); a ``Dialect`` says which.
JSON values are text in both, so that input comes back exactly as it was sent.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from replicast import times
from replicast.errors import StoreError
from replicast.files.file import StoredFile
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import TERMINAL, Status
from replicast.store.files import FilePageQuery
from replicast.store.predictions import UNSET, Change, Guard, PageQuery


def _text_time(value: datetime | None) -> str | None:
    return None if value is None else times.format_rfc3339(value)


def _parse_text_time(value: str | None) -> datetime | None:
    return None if value is None else times.parse_rfc3339(value)


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Dialect:
    """How one database spells parameters and times."""

    placeholder: Callable[[int], str]
    """The placeholder of the n-th parameter (from 1)."""
    time: Callable[[datetime | None], Any]
    """A time as the database stores it."""
    parse_time: Callable[[Any], datetime | None]
    """A stored time back as an aware datetime."""
    writes_in_with: bool = False
    """Whether a ``WITH`` clause may hold an ``INSERT`` (one statement for two tables)."""

    def statement(self) -> Statement:
        """A statement to build in this dialect."""
        return Statement(self)


SQLITE = Dialect(lambda n: "?", _text_time, _parse_text_time)
POSTGRES = Dialect(lambda n: f"${n}", _same, _same, writes_in_with=True)


class Statement:
    """Arguments gathered while the SQL is written: ``param`` returns the placeholder."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.sql = ""
        self.args: list[Any] = []

    def param(self, value: Any) -> str:
        self.args.append(value)
        return self.dialect.placeholder(len(self.args))

    def time(self, value: datetime | None) -> str:
        return self.param(self.dialect.time(value))


# What the client sent is written once, at the create. SQLite rewrites a whole row, overflow
# pages included, on any UPDATE: a large input kept in the predictions row would be written
# again at every status, log and output update. So an input past INLINE_INPUT_BYTES, and any
# Secret values (cleared apart at the end), go to a table of their own, leaving '' in the
# row; small inputs stay in the row, where rewriting them costs nothing (the page is written
# anyway) and reading them no lookup. The subqueries read the other table only for rows
# that left '' (COALESCE and CASE stop at the first value they need), in SELECTs and in
# RETURNING alike. Retention leaves '{}' in the row and deletes the other.
INLINE_INPUT_BYTES = 1024
_FROM_INPUTS = "FROM prediction_inputs i WHERE i.prediction_id = predictions.id"
PREDICTION_COLUMNS = (
    f"id, account_id, model, version,"
    f" coalesce(nullif(input, ''), (SELECT i.input {_FROM_INPUTS}), '{{}}'),"
    " status, created_at, base_url, stream_token, source, output, logs, error, started_at,"
    " completed_at, deadline, metrics, webhook, webhook_events_filter, data_removed, attempt,"
    f" CASE WHEN input = '' THEN (SELECT i.secrets {_FROM_INPUTS}) END, worker_id,"
    " lease_until, upstream_id, previews, api_prefix"
)
MEASURED_BYTES = (
    f"octet_length(input) + CASE WHEN input = '' THEN"
    f" coalesce((SELECT octet_length(i.input) {_FROM_INPUTS}), 0) ELSE 0 END"
    " + octet_length(output) + octet_length(logs)"
)
"""A prediction's stored input, output and logs, in bytes, where ``octet_length`` measures
text without reading it (PostgreSQL: from the header of a value kept out of line)."""
_STORED_COLUMNS = (
    "id, account_id, model, version, input, status, created_at, base_url, stream_token,"
    " source, output, logs, error, started_at, completed_at, deadline, metrics, webhook,"
    " webhook_events_filter, data_removed, attempt, worker_id, lease_until, upstream_id,"
    " previews, api_prefix"
)
UNFINISHED = "(" + ", ".join(f"'{s.value}'" for s in Status if s not in TERMINAL) + ")"


def json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def prediction_values(p: Prediction, input_column: str, dialect: Dialect) -> tuple[Any, ...]:
    """A prediction as the values of the predictions table's columns (``_STORED_COLUMNS``),
    with ``input_column`` for its input."""
    return (
        p.id, p.account_id, p.model, p.version, input_column, p.status.value,
        dialect.time(p.created_at), p.base_url, p.stream_token, p.source,
        json_text(p.output), p.logs, p.error, dialect.time(p.started_at),
        dialect.time(p.completed_at), dialect.time(p.deadline), json_text(p.metrics),
        p.webhook, None if p.webhook_events_filter is None else json_text(p.webhook_events_filter),
        bool(p.data_removed), p.attempt, p.worker_id, dialect.time(p.lease_until), p.upstream_id,
        p.previews, p.api_prefix,
    )


def prediction_from_row(row: Any, dialect: Dialect) -> Prediction:
    """A row of ``PREDICTION_COLUMNS`` as a prediction."""
    created_at = dialect.parse_time(row[6])
    assert created_at is not None
    return Prediction(
        id=row[0], account_id=row[1], model=row[2], version=row[3],
        input=orjson.loads(row[4]), status=Status(row[5]), created_at=created_at,
        base_url=row[7], stream_token=row[8], source=row[9], output=orjson.loads(row[10]),
        logs=row[11], error=row[12], started_at=dialect.parse_time(row[13]),
        completed_at=dialect.parse_time(row[14]), deadline=dialect.parse_time(row[15]),
        metrics=orjson.loads(row[16]), webhook=row[17],
        webhook_events_filter=None if row[18] is None else orjson.loads(row[18]),
        data_removed=bool(row[19]), attempt=row[20],
        secrets=None if row[21] is None else orjson.loads(row[21]),
        worker_id=row[22], lease_until=dialect.parse_time(row[23]), upstream_id=row[24],
        previews=row[25], api_prefix=row[26],
    )


@functools.cache
def _insert_row_sql(dialect: Dialect) -> str:
    """The ``INSERT`` of a prediction's row, its values the statement's first parameters
    (the same text every time: built once, a prediction's 26 placeholders included)."""
    count = _STORED_COLUMNS.count(",") + 1
    marks = ", ".join(dialect.placeholder(n) for n in range(1, count + 1))
    return f"INSERT INTO predictions ({_STORED_COLUMNS}) VALUES ({marks})"


def insert_prediction(p: Prediction, dialect: Dialect) -> list[Statement]:
    """The ``INSERT``s of a new prediction, to run in one transaction: its row, and, for a
    large input or Secret values, theirs (PostgreSQL in the same statement)."""
    given = json_text(p.input)
    apart = p.secrets is not None or len(given) > INLINE_INPUT_BYTES
    row = dialect.statement()
    row.args = list(prediction_values(p, "" if apart else given, dialect))
    row.sql = _insert_row_sql(dialect)
    if not apart:
        return [row]
    secrets = None if p.secrets is None else json_text(p.secrets)
    if dialect.writes_in_with:
        row.sql = (f"WITH p AS ({row.sql} RETURNING id) INSERT INTO prediction_inputs"
                   f" (prediction_id, input, secrets) SELECT id, {row.param(given)},"
                   f" {row.param(secrets)} FROM p")
        return [row]
    apart_row = dialect.statement()
    apart_row.sql = ("INSERT INTO prediction_inputs (prediction_id, input, secrets) VALUES"
                     f" ({apart_row.param(p.id)}, {apart_row.param(given)},"
                     f" {apart_row.param(secrets)})")
    return [row, apart_row]


def clear_secrets(prediction_id: str, dialect: Dialect) -> Statement:
    """Forget the values of a finished prediction's Secret inputs."""
    s = dialect.statement()
    s.sql = (f"UPDATE prediction_inputs SET secrets = NULL WHERE prediction_id = "
             f"{s.param(prediction_id)} AND secrets IS NOT NULL")
    return s


def clears_secrets(change: Change, updated: Prediction) -> bool:
    """Whether ``change`` finished a prediction that still holds Secret values: a finished
    prediction keeps none (``clear_secrets``, in the same transaction)."""
    return change.status is not None and change.status.terminal and updated.secrets is not None


def list_predictions(query: PageQuery, dialect: Dialect,
                     columns: str = PREDICTION_COLUMNS) -> Statement:
    """One page of an account's predictions and the one after it: newest first, or, reading
    backwards from a cursor (``after``), oldest first (the caller flips the page)."""
    s = dialect.statement()
    where = [f"account_id = {s.param(query.account_id)}"]
    if query.before is not None:
        where.append(f"(created_at, id) < ({s.time(query.before[0])}, {s.param(query.before[1])})")
    if query.after is not None:
        where.append(f"(created_at, id) > ({s.time(query.after[0])}, {s.param(query.after[1])})")
    if query.created_after is not None:
        where.append(f"created_at >= {s.time(query.created_after)}")
    if query.created_before is not None:
        where.append(f"created_at < {s.time(query.created_before)}")
    if query.source is not None:
        where.append(f"source = {s.param(query.source)}")
    order = "ASC" if query.after is not None else "DESC"
    s.sql = (f"SELECT {columns} FROM predictions WHERE {' AND '.join(where)}"
             f" ORDER BY created_at {order}, id {order} LIMIT {s.param(query.limit + 1)}")
    return s


def waiting_ahead(p: Prediction, dialect: Dialect) -> Statement:
    """How many of its model's predictions wait to start that were created before ``p``:
    a range of the ``predictions_waiting`` index, as long as the queue ahead of it."""
    s = dialect.statement()
    s.sql = (f"SELECT count(*) FROM predictions WHERE model = {s.param(p.model)}"
             f" AND status = '{Status.STARTING.value}'"
             f" AND (created_at, id) < ({s.time(p.created_at)}, {s.param(p.id)})")
    return s


def recent_runs(model: str, limit: int, dialect: Dialect) -> Statement:
    """The start and end of the model's latest ``limit`` successful runs, latest first
    (the ``predictions_runs_by_model`` index)."""
    s = dialect.statement()
    s.sql = (f"SELECT started_at, completed_at FROM predictions WHERE model = {s.param(model)}"
             f" AND status = '{Status.SUCCEEDED.value}' AND started_at IS NOT NULL"
             f" ORDER BY completed_at DESC LIMIT {s.param(limit)}")
    return s


def run_seconds(rows: Sequence[Any], dialect: Dialect) -> list[float]:
    """Rows of ``recent_runs`` as each run's length in seconds."""
    spans = ((dialect.parse_time(row[0]), dialect.parse_time(row[1])) for row in rows)
    return [(end - start).total_seconds() for start, end in spans
            if start is not None and end is not None]


def row_bytes(row: Any) -> int:
    """The stored size of a row of ``PREDICTION_COLUMNS``: its input, output and logs."""
    return _utf8_length(row[4]) + _utf8_length(row[10]) + _utf8_length(row[11])


def _utf8_length(text: str) -> int:
    # isascii() reads a flag CPython keeps on the string: most texts are not copied.
    return len(text) if text.isascii() else len(text.encode())


class PageFill:
    """Takes rows into a page, in the order read, until it holds ``limit`` rows or the next
    would take it past ``max_bytes`` (the first row is always taken)."""

    def __init__(self, query: PageQuery) -> None:
        self._limit = query.limit
        self._max_bytes = query.max_bytes
        self._bytes = 0
        self.taken = 0
        self.more = False
        """Whether a row was left out: the page ends before the rows that match."""

    def admit(self, size: int) -> bool:
        """Whether the next row, of ``size`` bytes, belongs to the page; once one does not,
        the page is full."""
        self._bytes += size
        if self.taken == self._limit or (
                self.taken and self._max_bytes and self._bytes > self._max_bytes):
            self.more = True
            return False
        self.taken += 1
        return True


def update_prediction(prediction_id: str, expected: frozenset[Status], change: Change,
                      guard: Guard | None, dialect: Dialect) -> Statement:
    """``UPDATE ... RETURNING`` the changed prediction, compare-and-set on its status."""
    statement = dialect.statement()
    sets = _assignments(change, statement)
    if not sets or not expected:
        raise StoreError("an update must change something and expect some status")
    # Parameters are added in the order they appear: "?" placeholders are positional.
    where = [f"id = {statement.param(prediction_id)}"]
    statuses = ", ".join(statement.param(s.value) for s in sorted(expected))
    where.append(f"status IN ({statuses})")
    if guard is not None:
        if guard.deadline_after is not None:
            where.append(f"(deadline IS NULL OR deadline > {statement.time(guard.deadline_after)})")
        if guard.worker_id is not None:
            where.append(f"worker_id = {statement.param(guard.worker_id)}")
        if guard.attempt is not None:
            where.append(f"attempt = {statement.param(guard.attempt)}")
        if guard.lease_expired_before is not None:
            where.append(f"lease_until < {statement.time(guard.lease_expired_before)}")
    statement.sql = (f"UPDATE predictions SET {', '.join(sets)} WHERE {' AND '.join(where)}"
                     f" RETURNING {PREDICTION_COLUMNS}")
    return statement


def _assignments(change: Change, s: Statement) -> list[str]:
    sets: list[str] = []
    if change.status is not None:
        sets.append(f"status = {s.param(change.status.value)}")
        if change.status.terminal:
            # A finished prediction keeps no claim (nor secret: ``clears_secrets``).
            sets += ["worker_id = NULL", "lease_until = NULL"]
    if change.started_at is not UNSET:
        sets.append(f"started_at = {s.time(change.started_at)}")
    if change.completed_at is not UNSET:
        sets.append(f"completed_at = {s.time(change.completed_at)}")
    if change.output is not UNSET:
        sets.append(f"output = {s.param(json_text(change.output))}")
    if change.error is not UNSET:
        sets.append(f"error = {s.param(change.error)}")
    if change.logs is not UNSET:
        sets.append(f"logs = {s.param(change.logs + change.append_logs)}")
    elif change.append_logs:
        sets.append(f"logs = logs || {s.param(change.append_logs)}")
    if change.metrics is not UNSET:
        sets.append(f"metrics = {s.param(json_text(change.metrics))}")
    if change.next_attempt:
        sets.append("attempt = attempt + 1")
    if change.upstream_id is not UNSET:
        sets.append(f"upstream_id = {s.param(change.upstream_id)}")
    if change.worker_id is not UNSET and not (change.status and change.status.terminal):
        sets.append(f"worker_id = {s.param(change.worker_id)}")
    if change.lease_until is not UNSET and not (change.status and change.status.terminal):
        sets.append(f"lease_until = {s.time(change.lease_until)}")
    return sets


# uploaded files

_FILE_FIELDS = ("id", "account_id", "name", "content_type", "size", "sha256", "md5", "metadata",
                "base_url", "created_at", "expires_at")
FILE_COLUMNS = ", ".join(_FILE_FIELDS)


def insert_file(f: StoredFile, dialect: Dialect) -> Statement:
    """``INSERT`` of a new file's record."""
    s = dialect.statement()
    values = (f.id, f.account_id, f.name, f.content_type, f.size, f.sha256, f.md5,
              json_text(f.metadata), f.base_url, dialect.time(f.created_at),
              dialect.time(f.expires_at))
    marks = ", ".join(s.param(v) for v in values)
    s.sql = f"INSERT INTO files ({FILE_COLUMNS}) VALUES ({marks})"
    return s


def file_from_row(row: Any, dialect: Dialect) -> StoredFile:
    """A row of ``FILE_COLUMNS`` as a file's record."""
    created_at = dialect.parse_time(row[9])
    assert created_at is not None
    return StoredFile(
        id=row[0], account_id=row[1], name=row[2], content_type=row[3], size=row[4],
        sha256=row[5], md5=row[6], metadata=orjson.loads(row[7]), base_url=row[8],
        created_at=created_at, expires_at=dialect.parse_time(row[10]),
    )


def get_file(account_id: int, file_id: str, dialect: Dialect) -> Statement:
    """The account's file with this id."""
    s = dialect.statement()
    s.sql = (f"SELECT {FILE_COLUMNS} FROM files"
             f" WHERE id = {s.param(file_id)} AND account_id = {s.param(account_id)}")
    return s


def get_file_of_owner(username: str, file_id: str, dialect: Dialect) -> Statement:
    """The file with this id of the account called ``username``."""
    s = dialect.statement()
    columns = ", ".join(f"f.{name}" for name in _FILE_FIELDS)
    s.sql = (f"SELECT {columns} FROM files f JOIN accounts a ON a.id = f.account_id"
             f" WHERE f.id = {s.param(file_id)} AND a.username = {s.param(username)}")
    return s


def list_files(query: FilePageQuery, dialect: Dialect) -> Statement:
    """One page of an account's unexpired files: newest first, or, reading backwards from
    a cursor (``after``), oldest first (the caller flips the page)."""
    s = dialect.statement()
    where = [f"account_id = {s.param(query.account_id)}",
             f"(expires_at IS NULL OR expires_at > {s.time(query.now)})"]
    if query.before is not None:
        where.append(f"(created_at, id) < ({s.time(query.before[0])}, {s.param(query.before[1])})")
    if query.after is not None:
        where.append(f"(created_at, id) > ({s.time(query.after[0])}, {s.param(query.after[1])})")
    order = "ASC" if query.after is not None else "DESC"
    s.sql = (f"SELECT {FILE_COLUMNS} FROM files WHERE {' AND '.join(where)}"
             f" ORDER BY created_at {order}, id {order} LIMIT {s.param(query.limit)}")
    return s


def delete_file(account_id: int, file_id: str, dialect: Dialect) -> Statement:
    """``DELETE`` of the account's file, returning its id if there was one."""
    s = dialect.statement()
    s.sql = (f"DELETE FROM files WHERE id = {s.param(file_id)}"
             f" AND account_id = {s.param(account_id)} RETURNING id")
    return s


def expired_files(now: datetime, limit: int, dialect: Dialect) -> Statement:
    """Ids of files that expired at or before ``now``, first expired first."""
    s = dialect.statement()
    s.sql = ("SELECT id FROM files WHERE expires_at IS NOT NULL"
             f" AND expires_at <= {s.time(now)} ORDER BY expires_at LIMIT {s.param(limit)}")
    return s
