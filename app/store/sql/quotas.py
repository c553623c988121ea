"""The ``Quotas`` role in SQL: turn admissions and token spend per scope, one row per event in
``quota_events`` (kind ``admit`` or ``tokens``).

``admit`` counts, then records, in one transaction that no other admission of the same scopes
can interleave with: on PostgreSQL it first takes a transaction-scoped advisory lock per scope,
in one stable order (so two admissions sharing scopes cannot deadlock), and READ COMMITTED lets
each count see every admission committed before its lock was granted; on SQLite ``BEGIN
IMMEDIATE`` already runs writers one at a time. Token spend is only appended and summed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import func, select

from app.store.schema import quota_events
from app.store.sql.engine import Db, guard, lock_key

ADMIT: Final = "admit"
TOKENS: Final = "tokens"


class SqlQuotas:
    """``Quotas`` on a ``Db``."""

    def __init__(self, db: Db) -> None:
        self._db = db

    @guard
    async def admit(self, *, scopes: list[tuple[str, int]], window_seconds: float) -> str | None:
        db = self._db
        now = db.now()
        start = now - timedelta(seconds=window_seconds)
        distinct = list(dict.fromkeys(scope for scope, _ in scopes))
        limited = [(scope, limit) for scope, limit in scopes if limit > 0]
        if not distinct:
            return None
        async with db.write() as conn:
            if db.pg:
                for key in sorted({lock_key("quota", scope) for scope in distinct}):
                    await db.advisory_lock(conn, key)
            if limited:
                rows = await conn.execute(
                    select(quota_events.c.scope, func.count())
                    .where(
                        quota_events.c.scope.in_([scope for scope, _ in limited]),
                        quota_events.c.kind == ADMIT,
                        quota_events.c.created_at > start,
                    )
                    .group_by(quota_events.c.scope)
                )
                counts = {scope: int(n) for scope, n in rows}
                for scope, limit in limited:
                    if counts.get(scope, 0) >= limit:
                        return scope
            await conn.execute(
                quota_events.insert(),
                [
                    {"scope": scope, "kind": ADMIT, "amount": 1, "created_at": now}
                    for scope in distinct
                ],
            )
        return None

    @guard
    async def add_tokens(self, *, scopes: list[str], tokens: int) -> None:
        if tokens < 0:
            raise ValueError(f"add_tokens takes a count of tokens, not {tokens}")
        distinct = list(dict.fromkeys(scopes))
        if tokens == 0 or not distinct:
            return
        now = self._db.now()
        async with self._db.write() as conn:
            await conn.execute(
                quota_events.insert(),
                [
                    {"scope": scope, "kind": TOKENS, "amount": tokens, "created_at": now}
                    for scope in distinct
                ],
            )

    @guard
    async def tokens_since(self, scope: str, since: datetime) -> int:
        stmt = select(func.coalesce(func.sum(quota_events.c.amount), 0)).where(
            quota_events.c.scope == scope,
            quota_events.c.kind == TOKENS,
            quota_events.c.created_at >= since,
        )
        async with self._db.read() as conn:
            total = (await conn.execute(stmt)).scalar_one()
        # PostgreSQL sums integers as numeric (Decimal).
        return int(total)

    @guard
    async def usage_by_scope(self, since: datetime, prefix: str) -> list[tuple[str, int]]:
        stmt = (
            select(quota_events.c.scope, func.sum(quota_events.c.amount))
            .where(quota_events.c.kind == TOKENS, quota_events.c.created_at >= since)
            .group_by(quota_events.c.scope)
        )
        if prefix:
            # Exact and case-sensitive on both backends (SQLite's LIKE ignores case).
            stmt = stmt.where(func.substr(quota_events.c.scope, 1, len(prefix)) == prefix)
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        # Sorted here: PostgreSQL's collation may order ties differently from SQLite's.
        return sorted(((scope, int(n)) for scope, n in rows), key=lambda r: (-r[1], r[0]))
