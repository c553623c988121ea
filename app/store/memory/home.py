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

    async def approvals_waiting_for(
        self, agent: str, user_id: str, *, approver: bool, limit: int
    ) -> list[Approval]:
        t = self._t
        now = t.now()
        async with t.lock:
            waiting = [a for a in t.approvals.values() if seen_at(a, now).status == "pending"]
            if not approver:
                channels = self._channels_written_in(agent, user_id)
                waiting = [
                    a
                    for a in waiting
                    if (a.deciders == "asker" and a.asked_by == user_id)
                    or (a.deciders == "channel" and a.channel in channels)
                ]
            waiting.sort(key=lambda a: (-a.created_at.timestamp(), a.id))
            return [approval_copy(a, op="approvals_waiting_for") for a in waiting[:limit]]

    def _channels_written_in(self, agent: str, user_id: str) -> set[str]:
        """Channels of the Slack keys of sessions holding a Slack message of ``user_id``."""
        t, prefix = self._t, f"{agent}:slack:"
        wrote = {
            sid
            for sid, entries in t.transcripts.items()
            if any(e.source == "slack" and e.author_id == user_id for e in entries)
        }
        return {
            key[len(prefix) :].split("::", 1)[0]
            for key, link in t.keys.items()
            if key.startswith(prefix) and "::" in key and link.session_id in wrote
        }
