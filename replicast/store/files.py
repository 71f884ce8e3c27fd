"""The uploaded files repository: the records of the Files API (their bytes live in
``replicast.files.blobs``)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from replicast.files.file import StoredFile


@dataclass(frozen=True, slots=True)
class FilePageQuery:
    """A page of one account's uploaded files that have not expired, newest first."""

    account_id: int
    limit: int
    now: datetime
    """Files that expired at or before this instant are left out."""
    before: tuple[datetime, str] | None = None
    """Only files older than this (created_at, id) position."""
    after: tuple[datetime, str] | None = None
    """Only files newer than this position (the page just before it)."""


class FileStore(abc.ABC):
    """Uploaded files' records. Every method is safe to call from the event loop."""

    @abc.abstractmethod
    async def insert(self, file: StoredFile) -> None:
        """Commit a new uploaded file's record."""

    @abc.abstractmethod
    async def get(self, account_id: int, file_id: str) -> StoredFile | None:
        """The account's file with this id, expired or not; None if it has none."""

    @abc.abstractmethod
    async def get_of_owner(self, username: str, file_id: str) -> StoredFile | None:
        """The file with this id of the account with this username, or None."""

    @abc.abstractmethod
    async def page(self, query: FilePageQuery) -> list[StoredFile]:
        """One page of an account's files, newest first."""

    @abc.abstractmethod
    async def delete(self, account_id: int, file_id: str) -> bool:
        """Forget the account's file; False if it has no such file."""

    @abc.abstractmethod
    async def total_bytes(self, account_id: int, now: datetime) -> int:
        """The size of the account's files that have not expired by ``now``, in bytes."""

    @abc.abstractmethod
    async def list_expired(self, now: datetime, limit: int) -> list[str]:
        """Ids of up to ``limit`` files that expired at or before ``now``, first expired
        first."""

    @abc.abstractmethod
    async def delete_many(self, file_ids: Sequence[str]) -> int:
        """Forget these files, whoever owns them; how many there were."""

    @abc.abstractmethod
    async def present(self, file_ids: Sequence[str]) -> set[str]:
        """Those of ``file_ids`` that have a record, expired or not."""
