"""An uploaded file, as the store keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One account's uploaded file; its bytes are the blob named by ``id``."""

    id: str
    account_id: int
    name: str
    content_type: str
    size: int
    sha256: str
    md5: str
    """Also the file's ``etag``, as Replicate gives it."""
    metadata: dict[str, Any]
    base_url: str
    """Where the server was reached when the file was made: its URLs are built on it."""
    created_at: datetime
    expires_at: datetime | None
    """When it goes; None keeps it until it is deleted."""

    def expired(self, now: datetime) -> bool:
        """Whether the file is gone for its users at ``now`` (swept or not)."""
        return self.expires_at is not None and self.expires_at <= now
