"""``MemoryStore``: the whole ``Store`` contract in process memory.

For tests and tools that need a store without a database. It keeps the same rules as
``SqlStore`` and passes the same contract suite (``tests/store/test_contract.py``): lanes
handed out in order and never two at once, delivery leases that lapse and are reclaimed with
attempts counted, fencing counters, first-writer-wins keys, ``LeaseLost`` from a stale commit,
liveness by the same rule (``app.store.types.is_live``) on the injected clock, approvals
decided once and read as expired by the same rule (``app.store.types.seen_at``), admissions
counted per scope and window.

Concurrency: one ``asyncio.Lock`` around every call stands in for a transaction; one store is
one process's data, so it cannot stand in for several replicas sharing a database. Nothing is
persisted: ``close()`` keeps the data, and a new store starts empty. There is no schema:
``migrate()``, ``schema_version()`` and ``head_version()`` all report ``SCHEMA_VERSION``.

Layout: ``tables.py`` holds the data (one dict or list per SQL table) and the lock; one module
per role mirrors ``app.store.sql``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Final

from app.store.compose import ComposedStore
from app.store.memory.approvals import MemoryApprovals
from app.store.memory.browse import MemoryBrowse
from app.store.memory.feedback import MemoryFeedback
from app.store.memory.home import MemoryHomeReads
from app.store.memory.inbox import MemoryInbox
from app.store.memory.jobs import MemoryJobs
from app.store.memory.leases import MemoryLeases
from app.store.memory.maintenance import MemoryMaintenance
from app.store.memory.mutes import MemoryMutes
from app.store.memory.quotas import MemoryQuotas
from app.store.memory.sessions import MemorySessions
from app.store.memory.tables import Tables
from app.store.memory.transcripts import MemoryTranscripts
from app.store.types import DEFAULT_MAX_AGE_DAYS, utcnow

if TYPE_CHECKING:
    from app.store.base import (
        Approvals,
        Browse,
        Feedback,
        HomeReads,
        Inbox,
        Jobs,
        Leases,
        Maintenance,
        Mutes,
        Quotas,
        Sessions,
        Store,
        Transcripts,
    )

__all__ = ["SCHEMA_VERSION", "MemoryStore"]

SCHEMA_VERSION: Final = "memory"


class MemoryStore(ComposedStore):
    """The ``Store`` in plain dicts; ``ttl_days``, ``max_age_days`` and ``clock`` as for
    ``SqlStore``."""

    def __init__(
        self,
        *,
        ttl_days: float = 30,
        max_age_days: float = DEFAULT_MAX_AGE_DAYS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        tables = Tables(ttl_days=ttl_days, max_age_days=max_age_days, clock=clock)
        super().__init__(
            inbox=MemoryInbox(tables),
            sessions=MemorySessions(tables),
            leases=MemoryLeases(tables),
            transcripts=MemoryTranscripts(tables),
            maintenance=MemoryMaintenance(tables),
            approvals=MemoryApprovals(tables),
            quotas=MemoryQuotas(tables),
            mutes=MemoryMutes(tables),
            home_reads=MemoryHomeReads(tables),
            browse=MemoryBrowse(tables),
            jobs=MemoryJobs(tables),
            feedback=MemoryFeedback(tables),
        )

    async def migrate(self) -> str:
        return SCHEMA_VERSION

    async def schema_version(self) -> str | None:
        return SCHEMA_VERSION

    async def head_version(self) -> str:
        return SCHEMA_VERSION

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


if TYPE_CHECKING:
    # mypy checks here that MemoryStore is a whole Store and each role class a whole role.

    def _conforms(store: MemoryStore) -> Store:
        return store

    def _inbox(part: MemoryInbox) -> Inbox:
        return part

    def _sessions(part: MemorySessions) -> Sessions:
        return part

    def _leases(part: MemoryLeases) -> Leases:
        return part

    def _transcripts(part: MemoryTranscripts) -> Transcripts:
        return part

    def _maintenance(part: MemoryMaintenance) -> Maintenance:
        return part

    def _approvals(part: MemoryApprovals) -> Approvals:
        return part

    def _quotas(part: MemoryQuotas) -> Quotas:
        return part

    def _mutes(part: MemoryMutes) -> Mutes:
        return part

    def _home_reads(part: MemoryHomeReads) -> HomeReads:
        return part

    def _browse(part: MemoryBrowse) -> Browse:
        return part

    def _jobs(part: MemoryJobs) -> Jobs:
        return part

    def _feedback(part: MemoryFeedback) -> Feedback:
        return part
