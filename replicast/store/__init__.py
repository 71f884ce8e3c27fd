"""The store seam: durable state, with one backend per database.

``open_store`` is the one place that names a backend; each is imported only when chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from replicast.errors import ConfigError

if TYPE_CHECKING:
    from replicast.store.base import Store


def open_store(url: str) -> Store:
    """The store backend for ``url`` (``sqlite:///path``), not yet opened."""
    scheme = url.partition(":")[0].lower()
    if scheme == "sqlite":
        from replicast.store.sqlite.store import SQLiteStore

        return SQLiteStore.from_url(url)
    if scheme in {"postgres", "postgresql"}:
        from replicast.store.postgres.store import PostgresStore

        return PostgresStore(url)
    raise ConfigError(f"REPLICAST_DATABASE_URL: unknown store URL scheme {scheme!r} in {url!r}")
