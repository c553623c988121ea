"""The ``Leases`` role in memory: the same compare-and-set rules as ``app.store.sql.leases``."""

from __future__ import annotations

from datetime import timedelta

from app.store.memory.tables import Tables
from app.store.types import Session


class MemoryLeases:
    """``Leases`` on ``Tables``."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def acquire_lease(self, session_id: str, holder: str, lease_seconds: float) -> int | None:
        t = self._t
        now = t.now()
        async with t.lock:
            row = t.sessions.get(session_id)
            if row is None or row.session.status != "active":
                return None
            if row.lease_until is not None and row.lease_until >= now:
                return None
            row.lease_holder = holder
            row.lease_until = now + timedelta(seconds=lease_seconds)
            row.fence += 1
            return row.fence

    async def acquire_lease_for_key(
        self, key: str, holder: str, lease_seconds: float
    ) -> tuple[Session | None, int | None]:
        t = self._t
        now = t.now()
        async with t.lock:
            link = t.keys.get(key)
            row = t.sessions.get(link.session_id) if link is not None else None
            if row is None or not t.is_live(row.session, now):
                return None, None
            if row.lease_until is not None and row.lease_until >= now:
                return row.session, None
            row.lease_holder = holder
            row.lease_until = now + timedelta(seconds=lease_seconds)
            row.fence += 1
            return row.session, row.fence

    async def renew_lease(
        self, session_id: str, holder: str, fence: int, lease_seconds: float
    ) -> bool:
        t = self._t
        now = t.now()
        async with t.lock:
            row = t.sessions.get(session_id)
            if row is None or row.lease_holder != holder or row.fence != fence:
                return False
            row.lease_until = now + timedelta(seconds=lease_seconds)
            return True

    async def release_lease(self, session_id: str, holder: str, fence: int) -> None:
        async with self._t.lock:
            row = self._t.sessions.get(session_id)
            if row is not None and row.lease_holder == holder and row.fence == fence:
                row.drop_lease()
