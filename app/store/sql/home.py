"""The ``HomeReads`` role in SQL: what one person's App Home reads, in two queries each.

``sessions_spoken_in`` looks for the person's messages only in live sessions (through the
transcript's primary key, session first), then reads those sessions' keys in one more query.
"""

from __future__ import annotations

from sqlalchemy import exists, select

from app.store.personal import SpokenIn
from app.store.schema import approvals, session_keys, sessions, transcript
from app.store.sql.approvals import to_approval
from app.store.sql.engine import Db, guard
from app.store.sql.rows import live, to_session
from app.store.types import Approval


class SqlHomeReads:
    """``HomeReads`` on a ``Db``."""

    def __init__(self, db: Db) -> None:
        self._db = db

    @guard
    async def sessions_spoken_in(
        self, agent: str, source: str, author_id: str, *, limit: int
    ) -> list[SpokenIn]:
        db = self._db
        wrote = exists().where(
            transcript.c.session_id == sessions.c.id,
            transcript.c.source == source,
            transcript.c.author_id == author_id,
        )
        stmt = (
            select(sessions)
            .where(sessions.c.agent == agent, live(db.now(), db.ttl, db.max_age), wrote)
            .order_by(sessions.c.last_active_at.desc(), sessions.c.id)
            .limit(limit)
        )
        async with db.read() as conn:
            found = [to_session(row) for row in (await conn.execute(stmt)).all()]
            if not found:
                return []
            rows = await conn.execute(
                select(session_keys.c.session_id, session_keys.c.key)
                .where(session_keys.c.session_id.in_([s.id for s in found]))
                .order_by(session_keys.c.created_at, session_keys.c.key)
            )
            keys: dict[str, list[str]] = {}
            for session_id, key in rows:
                keys.setdefault(session_id, []).append(key)
        return [SpokenIn(s, keys.get(s.id, [])) for s in found]

    @guard
    async def open_approvals(self, *, limit: int) -> list[Approval]:
        stmt = (
            select(approvals)
            .where(approvals.c.status == "pending", approvals.c.expires_at >= self._db.now())
            .order_by(approvals.c.created_at.desc(), approvals.c.id)
            .limit(limit)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [to_approval(row) for row in rows]
