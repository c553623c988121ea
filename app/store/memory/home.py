"""The ``HomeReads`` role in memory: the same answers as ``app.store.sql.home``."""

from __future__ import annotations

from app.store.memory.tables import Tables, approval_copy
from app.store.personal import SpokenIn
from app.store.types import Approval, seen_at


class MemoryHomeReads:
    """``HomeReads`` on ``Tables``."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def sessions_spoken_in(
        self, agent: str, source: str, author_id: str, *, limit: int
    ) -> list[SpokenIn]:
        t = self._t
        now = t.now()
        async with t.lock:
            found = [
                row.session
                for sid, row in t.sessions.items()
                if row.session.agent == agent
                and t.is_live(row.session, now)
                and any(
                    e.source == source and e.author_id == author_id
                    for e in t.transcripts.get(sid, ())
                )
            ]
            found.sort(key=lambda s: (-s.last_active_at.timestamp(), s.id))
            return [SpokenIn(s, [k.key for k in t.keys_of(s.id)]) for s in found[:limit]]

    async def open_approvals(self, *, limit: int) -> list[Approval]:
        t = self._t
        now = t.now()
        async with t.lock:
            waiting = [a for a in t.approvals.values() if seen_at(a, now).status == "pending"]
            waiting.sort(key=lambda a: (-a.created_at.timestamp(), a.id))
            return [approval_copy(a, op="open_approvals") for a in waiting[:limit]]
