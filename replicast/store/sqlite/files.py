"""The SQLite store's uploaded files' records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from replicast.files.file import StoredFile
from replicast.store import sql
from replicast.store.files import FilePageQuery, FileStore
from replicast.store.sqlite.access import SQLiteAccess


class SQLiteFiles(FileStore):
    """Uploaded files' records in SQLite."""

    def __init__(self, db: SQLiteAccess) -> None:
        self._db = db

    async def insert(self, file: StoredFile) -> None:
        statement = sql.insert_file(file, sql.SQLITE)
        await self._db.write(lambda c: c.execute(statement.sql, statement.args).rowcount)

    async def get(self, account_id: int, file_id: str) -> StoredFile | None:
        return await self._one(sql.get_file(account_id, file_id, sql.SQLITE))

    async def get_of_owner(self, username: str, file_id: str) -> StoredFile | None:
        return await self._one(sql.get_file_of_owner(username, file_id, sql.SQLITE))

    async def _one(self, statement: sql.Statement) -> StoredFile | None:
        row = await self._db.read(lambda c: c.execute(statement.sql, statement.args).fetchone())
        return None if row is None else sql.file_from_row(row, sql.SQLITE)

    async def page(self, query: FilePageQuery) -> list[StoredFile]:
        statement = sql.list_files(query, sql.SQLITE)
        rows = await self._db.scan(lambda c: c.execute(statement.sql, statement.args).fetchall())
        page = [sql.file_from_row(row, sql.SQLITE) for row in rows]
        if query.after is not None:
            page.reverse()  # read upwards from the cursor
        return page

    async def delete(self, account_id: int, file_id: str) -> bool:
        statement = sql.delete_file(account_id, file_id, sql.SQLITE)
        rows = await self._db.write(
            lambda c: c.execute(statement.sql, statement.args).fetchall())
        if rows:
            self._db.scrub_soon()
        return bool(rows)

    async def total_bytes(self, account_id: int, now: datetime) -> int:
        row = await self._db.read(lambda c: c.execute(
            "SELECT coalesce(sum(size), 0) FROM files WHERE account_id = ?"
            " AND (expires_at IS NULL OR expires_at > ?)",
            (account_id, sql.SQLITE.time(now))).fetchone())
        return int(row[0])

    async def list_expired(self, now: datetime, limit: int) -> list[str]:
        statement = sql.expired_files(now, limit, sql.SQLITE)
        rows = await self._db.scan(lambda c: c.execute(statement.sql, statement.args).fetchall())
        return [row[0] for row in rows]

    async def delete_many(self, file_ids: Sequence[str]) -> int:
        if not file_ids:
            return 0
        query = f"DELETE FROM files WHERE id IN ({', '.join('?' * len(file_ids))})"
        args = tuple(file_ids)
        deleted = int(await self._db.write(lambda c: c.execute(query, args).rowcount))
        if deleted:
            self._db.scrub_soon()
        return deleted

    async def present(self, file_ids: Sequence[str]) -> set[str]:
        if not file_ids:
            return set()
        query = f"SELECT id FROM files WHERE id IN ({', '.join('?' * len(file_ids))})"
        args = tuple(file_ids)
        rows = await self._db.read(lambda c: c.execute(query, args).fetchall())
        return {row[0] for row in rows}
