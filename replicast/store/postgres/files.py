"""The PostgreSQL store's uploaded files' records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from replicast.files.file import StoredFile
from replicast.store import sql
from replicast.store.files import FilePageQuery, FileStore
from replicast.store.postgres.access import PostgresAccess, row_count


class PostgresFiles(FileStore):
    """Uploaded files' records in PostgreSQL."""

    def __init__(self, db: PostgresAccess) -> None:
        self._db = db

    async def insert(self, file: StoredFile) -> None:
        statement = sql.insert_file(file, sql.POSTGRES)
        await self._db.execute(statement.sql, *statement.args)

    async def get(self, account_id: int, file_id: str) -> StoredFile | None:
        statement = sql.get_file(account_id, file_id, sql.POSTGRES)
        row = await self._db.fetchrow(statement.sql, *statement.args)
        return None if row is None else sql.file_from_row(row, sql.POSTGRES)

    async def get_of_owner(self, username: str, file_id: str) -> StoredFile | None:
        statement = sql.get_file_of_owner(username, file_id, sql.POSTGRES)
        row = await self._db.fetchrow(statement.sql, *statement.args)
        return None if row is None else sql.file_from_row(row, sql.POSTGRES)

    async def page(self, query: FilePageQuery) -> list[StoredFile]:
        statement = sql.list_files(query, sql.POSTGRES)
        page = [sql.file_from_row(row, sql.POSTGRES)
                for row in await self._db.fetch(statement.sql, *statement.args)]
        if query.after is not None:
            page.reverse()
        return page

    async def delete(self, account_id: int, file_id: str) -> bool:
        statement = sql.delete_file(account_id, file_id, sql.POSTGRES)
        return bool(await self._db.fetch(statement.sql, *statement.args))

    async def total_bytes(self, account_id: int, now: datetime) -> int:
        return int(await self._db.fetchval(
            "SELECT coalesce(sum(size), 0) FROM files WHERE account_id = $1"
            " AND (expires_at IS NULL OR expires_at > $2)", account_id, now))

    async def list_expired(self, now: datetime, limit: int) -> list[str]:
        statement = sql.expired_files(now, limit, sql.POSTGRES)
        return [row[0] for row in await self._db.fetch(statement.sql, *statement.args)]

    async def delete_many(self, file_ids: Sequence[str]) -> int:
        return row_count(await self._db.execute("DELETE FROM files WHERE id = ANY($1::text[])",
                                                list(file_ids)))

    async def present(self, file_ids: Sequence[str]) -> set[str]:
        rows = await self._db.fetch("SELECT id FROM files WHERE id = ANY($1::text[])",
                                    list(file_ids))
        return {row[0] for row in rows}
