"""The ``Leases`` role in SQL: a session's turn lease, on the ``sessions`` row itself.

Each operation is a single compare-and-set ``UPDATE`` whose ``WHERE`` states its precondition
(lease free or lapsed; or held by this holder under this fence), so of concurrent callers only
one matches, on either backend, without explicit locks. Acquiring increments ``fence``.
``acquire_lease_for_key`` looks the key up and acquires in one transaction; its ``UPDATE``
returns the session row as it stands under the lease (what another turn committed just
before is in it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import bindparam, or_, update

from app.store.schema import sessions
from app.store.sql.engine import Conn, Db, guard
from app.store.sql.rows import RESOLVE, to_session
from app.store.types import Session, born_since, live_since

_HOLDER: Final = bindparam("p_holder", type_=sessions.c.lease_holder.type)
_HELD = (
    sessions.c.id == bindparam("p_sid"),
    sessions.c.lease_holder == _HOLDER,
    sessions.c.fence == bindparam("p_fence"),
)
# Built once (a turn takes, renews and gives back its lease); each call binds its values.
_ACQUIRE: Final = (
    update(sessions)
    .where(
        sessions.c.id == bindparam("p_sid"),
        # Re-checked here: on PostgreSQL the row may have ended since it was looked up.
        sessions.c.status == "active",
        or_(sessions.c.lease_until.is_(None), sessions.c.lease_until < bindparam("p_now")),
    )
    .values(lease_holder=_HOLDER, lease_until=bindparam("p_until"), fence=sessions.c.fence + 1)
    .returning(sessions.c.fence)
)
_ACQUIRE_ROW: Final = _ACQUIRE.returning(*sessions.c)
_RENEW: Final = update(sessions).where(*_HELD).values(lease_until=bindparam("p_until"))
_RELEASE: Final = update(sessions).where(*_HELD).values(lease_holder=None, lease_until=None)


class SqlLeases:
    """``Leases`` on a ``Db``."""

    def __init__(self, db: Db) -> None:
        self._db = db

    @guard
    async def acquire_lease(self, session_id: str, holder: str, lease_seconds: float) -> int | None:
        now = self._db.now()
        until = now + timedelta(seconds=lease_seconds)
        async with self._db.write() as conn:
            # A single compare-and-set UPDATE: of concurrent acquirers only one matches.
            acquired = {"p_sid": session_id, "p_holder": holder, "p_now": now, "p_until": until}
            fence = (await conn.execute(_ACQUIRE, acquired)).scalar_one_or_none()
        return int(fence) if fence is not None else None

    @guard
    async def acquire_lease_for_key(
        self, key: str, holder: str, lease_seconds: float
    ) -> tuple[Session | None, int | None]:
        db = self._db
        now = db.now()
        async with db.write() as conn:
            until = now + timedelta(seconds=lease_seconds)
            return await self.acquire_for_key_in(conn, key, holder, now, until)

    async def acquire_for_key_in(
        self, conn: Conn, key: str, holder: str, now: datetime, until: datetime
    ) -> tuple[Session | None, int | None]:
        """``acquire_lease_for_key`` in the caller's writing transaction."""
        db = self._db
        limits = {
            "p_key": key,
            "p_live_since": live_since(now, db.ttl),
            "p_born_since": born_since(now, db.max_age),
        }
        found = (await conn.execute(RESOLVE, limits)).first()
        if found is None:
            return None, None
        acquired = {"p_sid": found.id, "p_holder": holder, "p_now": now, "p_until": until}
        row = (await conn.execute(_ACQUIRE_ROW, acquired)).first()
        if row is None:
            return to_session(found), None
        return to_session(row), int(row.fence)

    @guard
    async def renew_lease(
        self, session_id: str, holder: str, fence: int, lease_seconds: float
    ) -> bool:
        until = self._db.now() + timedelta(seconds=lease_seconds)
        held = {"p_sid": session_id, "p_holder": holder, "p_fence": fence, "p_until": until}
        async with self._db.write() as conn:
            return (await conn.execute(_RENEW, held)).rowcount > 0

    @guard
    async def release_lease(self, session_id: str, holder: str, fence: int) -> None:
        held = {"p_sid": session_id, "p_holder": holder, "p_fence": fence}
        async with self._db.write() as conn:
            await conn.execute(_RELEASE, held)
