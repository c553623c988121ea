"""The ``HomeReads`` role in SQL: what one person's App Home reads, in two queries at most.

``sessions_spoken_in`` looks for the person's messages only in live sessions (through the
transcript's primary key, session first), then reads those sessions' keys in one more query.
``approvals_waiting_for`` is one query over the open approvals; for one decided by its channel
it looks for a key of that channel (a range of ``session_keys``' primary key:
``{agent}:slack:{channel}::`` up to the next character after the last ``:``, and the prefix
compared exactly, whatever the database's collation) whose session holds a Slack message of
the person (the transcript's primary key, session first).
"""

from __future__ import annotations

from sqlalchemy import String, and_, exists, func, literal, or_, select

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
    async def approvals_waiting_for(
        self, agent: str, user_id: str, *, approver: bool, limit: int
    ) -> list[Approval]:
        stmt = select(approvals).where(
            approvals.c.status == "pending", approvals.c.expires_at >= self._db.now()
        )
        if not approver:
            place = literal(f"{agent}:slack:", String) + approvals.c.channel
            opening = place + literal("::", String)
            in_their_channel = exists().where(
                session_keys.c.key >= opening,  # the range uses the key's index; the
                session_keys.c.key < place + literal(":;", String),  # prefix is exact
                func.substr(session_keys.c.key, 1, func.length(opening)) == opening,
                transcript.c.session_id == session_keys.c.session_id,
                transcript.c.source == "slack",
                transcript.c.author_id == user_id,
            )
            stmt = stmt.where(
                or_(
                    and_(approvals.c.deciders == "asker", approvals.c.asked_by == user_id),
                    and_(
                        approvals.c.deciders == "channel",
                        approvals.c.channel.is_not(None),
                        in_their_channel,
                    ),
                )
            )
        stmt = stmt.order_by(approvals.c.created_at.desc(), approvals.c.id).limit(limit)
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [to_approval(row) for row in rows]
