"""The ``Leases`` role in SQL: a session's turn lease, on the ``sessions`` row itself.

Each operation is a single compare-and-set ``UPDATE`` whose ``WHERE`` states its precondition
(lease free or lapsed; or held by this holder under this fence), so of concurrent callers only
one matches, on either backend, without explicit locks. Acquiring increments ``fence``.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, update

from app.store.schema import sessions
from app.store.sql.engine import Db, guard


class SqlLeases:
    """``Leases`` on a ``Db``."""

    def __init__(self, db: Db) -> None:
        self._db = db

    @guard
    async def acquire_lease(self, session_id: str, holder: str, lease_seconds: float) -> int | None:
        now = self._db.now()
        async with self._db.write() as conn:
            # A single compare-and-set UPDATE: of concurrent acquirers only one matches.
            fence = (
                await conn.execute(
                    update(sessions)
                    .where(
                        sessions.c.id == session_id,
                        or_(sessions.c.lease_until.is_(None), sessions.c.lease_until < now),
                    )
                    .values(
                        lease_holder=holder,
                        lease_until=now + timedelta(seconds=lease_seconds),
                        fence=sessions.c.fence + 1,
                    )
                    .returning(sessions.c.fence)
                )
            ).scalar_one_or_none()
        return int(fence) if fence is not None else None

    @guard
    async def renew_lease(
        self, session_id: str, holder: str, fence: int, lease_seconds: float
    ) -> bool:
        now = self._db.now()
        async with self._db.write() as conn:
            result = await conn.execute(
                update(sessions)
                .where(
                    sessions.c.id == session_id,
                    sessions.c.lease_holder == holder,
                    sessions.c.fence == fence,
                )
                .values(lease_until=now + timedelta(seconds=lease_seconds))
            )
            return result.rowcount > 0

    @guard
    async def release_lease(self, session_id: str, holder: str, fence: int) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                update(sessions)
                .where(
                    sessions.c.id == session_id,
                    sessions.c.lease_holder == holder,
                    sessions.c.fence == fence,
                )
                .values(lease_holder=None, lease_until=None)
            )
