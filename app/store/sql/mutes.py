"""The ``Mutes`` role in SQL: one ``thread_mutes`` row per muted key.

Muting inserts with ``ON CONFLICT DO NOTHING``, so of concurrent mutes on any replicas exactly
one inserts (and keeps its author); unmuting deletes the row.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from app.store.schema import thread_mutes
from app.store.sql.engine import Db, guard


class SqlMutes:
    """``Mutes`` on a ``Db``."""

    def __init__(self, db: Db) -> None:
        self._db = db

    @guard
    async def mute_thread(self, key: str, by: str) -> bool:
        stmt = (
            self._db.insert(thread_mutes)
            .values(key=key, muted_by=by, created_at=self._db.now())
            .on_conflict_do_nothing(index_elements=[thread_mutes.c.key])
            .returning(thread_mutes.c.key)
        )
        async with self._db.write() as conn:
            return (await conn.execute(stmt)).first() is not None

    @guard
    async def unmute_thread(self, key: str) -> bool:
        stmt = delete(thread_mutes).where(thread_mutes.c.key == key).returning(thread_mutes.c.key)
        async with self._db.write() as conn:
            return (await conn.execute(stmt)).first() is not None

    @guard
    async def is_muted(self, key: str) -> bool:
        stmt = select(thread_mutes.c.key).where(thread_mutes.c.key == key)
        async with self._db.read() as conn:
            return (await conn.execute(stmt)).first() is not None
