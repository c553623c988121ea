"""Persistence: the ``Store`` contract (``base``) and its SQL implementation (``sql``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from app.store.sql import SqlStore, utcnow

__all__ = ["SqlStore", "open_store", "utcnow"]


async def open_store(
    url: str,
    *,
    ttl_days: float,
    clock: Callable[[], datetime] = utcnow,
    pool_size: int = 5,
) -> SqlStore:
    """Build the store for ``url`` (nothing is migrated here: call ``migrate()``)."""
    return SqlStore(url, ttl_days=ttl_days, clock=clock, pool_size=pool_size)
