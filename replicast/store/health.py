"""Whether the store works now, and each outage logged once: when it begins, when it ends.

Both backends tell ``Health`` how their calls went. A call that finds the database
unreachable, or its disk full, begins an outage: one warning, with the error. Every
request and background task meanwhile gets a ``StoreUnavailable`` it need not log
again. The next call that succeeds ends the outage, with one line saying so; for a full
disk, which still lets reads through, only a write does, and only once the disk has
room again (a write that changed nothing needs none). Readiness reports the outage
while it lasts (``Store.ping``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from replicast.errors import DiskFull, StoreUnavailable

log = logging.getLogger("replicast.store")

PROBE_SQL = ("UPDATE schema_migrations SET applied_at = applied_at"
             " WHERE version = (SELECT max(version) FROM schema_migrations)")
"""A write that changes nothing, to learn whether the store takes writes again."""


class Health:
    """The outage the store is in, if any."""

    def __init__(self, has_room: Callable[[], bool] = lambda: True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.problem: StoreUnavailable | None = None
        """What the last failed call said, until a call shows it is over."""
        self.has_room = has_room
        """Whether the disk may have room again (always, where it cannot be seen)."""
        self._clock = clock
        self._since = 0.0

    def failed(self, error: StoreUnavailable) -> None:
        """A call failed because the store cannot be used now."""
        if self.problem is None:
            self._since = self._clock()
            log.warning("the store is failing, requests get 503 or 507 until it works "
                        "again: %s", error)
        elif isinstance(error, DiskFull) != isinstance(self.problem, DiskFull):
            log.warning("the store is still failing, now with: %s", error)
        self.problem = error

    def succeeded(self, *, wrote: bool) -> None:
        """A call succeeded; ``wrote`` if it wrote."""
        if self.problem is None or (self.writes_refused and not (wrote and self.has_room())):
            return
        self.problem = None
        log.warning("the store works again, after %.1f s", self._clock() - self._since)

    @property
    def writes_refused(self) -> bool:
        """Whether the last write found the disk full (reads may still work)."""
        return isinstance(self.problem, DiskFull)
