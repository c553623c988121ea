"""Persistence: the ``Store`` contract by role (``base``, with the value types in ``types``),
its SQL implementation (``sql``) and an in-memory one (``memory``)::

    base.py         the role protocols (Inbox, Sessions, Leases, Transcripts, Maintenance,
                    Lifecycle) and Store, their union
    bounded.py      the role protocols for bounded actions (Approvals, Quotas), in Store too
    types.py        value types, vocabulary and the liveness rule
    compose.py      ComposedStore: a Store assembled from one part per role
    sql/            SqlStore on SQLite and PostgreSQL (one module per role)
    memory/         MemoryStore in plain dicts (one module per role)
    schema.py       the SQL tables; migrations/ creates them
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from app.store.memory import MemoryStore
from app.store.sql import SqlStore
from app.store.types import DEFAULT_MAX_AGE_DAYS, utcnow

__all__ = ["MemoryStore", "SqlStore", "open_store", "utcnow"]


async def open_store(
    url: str,
    *,
    ttl_days: float,
    max_age_days: float = DEFAULT_MAX_AGE_DAYS,
    clock: Callable[[], datetime] = utcnow,
    pool_size: int = 5,
    activity: Callable[[str], None] | None = None,
    on_inbox: Callable[[], None] | None = None,
) -> SqlStore:
    """Build the store for ``url`` (nothing is migrated here: call ``migrate()``);
    ``activity`` counts its transactions and statements; ``on_inbox`` hears of deliveries
    recorded by any replica (PostgreSQL)."""
    return SqlStore(
        url,
        ttl_days=ttl_days,
        max_age_days=max_age_days,
        clock=clock,
        pool_size=pool_size,
        activity=activity,
        on_inbox=on_inbox,
    )
