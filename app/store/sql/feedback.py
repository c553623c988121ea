"""The ``Feedback`` role in SQL: one row per person per answer in ``feedback``.

A vote is an upsert on the primary key (channel, message ts, user), so two clicks racing on
any replicas leave one row holding the later write; the session is read from the ``turns``
row of the answer's turn in the same statement. A reason is a compare-and-set ``UPDATE`` that
matches only a thumbs-down.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, case, delete, func, select, update

from app.store.schema import feedback, turns
from app.store.sql.engine import Db, guard
from app.store.types import MAX_REASON_CHARS, VOTES, Vote, VoteFilter, VoteValue


def to_vote(row: Row[Any]) -> Vote:
    return Vote(
        channel=row.channel,
        message_ts=row.message_ts,
        user_id=row.user_id,
        vote=row.vote,
        session_id=row.session_id,
        turn_id=row.turn_id,
        reason=row.reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SqlFeedback:
    """``Feedback`` on a ``Db``."""

    def __init__(self, db: Db) -> None:
        self._db = db

    @guard
    async def record_vote(
        self,
        *,
        channel: str,
        message_ts: str,
        user_id: str,
        vote: VoteValue,
        turn_id: str | None,
    ) -> Vote:
        if vote not in VOTES:
            raise ValueError(f"a vote is up or down, not {vote!r}")
        now = self._db.now()
        session_of_turn = (
            select(turns.c.session_id).where(turns.c.turn_id == turn_id).scalar_subquery()
        )
        stmt = self._db.insert(feedback).values(
            channel=channel,
            message_ts=message_ts,
            user_id=user_id,
            vote=vote,
            session_id=session_of_turn if turn_id else None,
            turn_id=turn_id,
            reason=None,
            created_at=now,
            updated_at=now,
        )
        new = stmt.excluded
        upsert = stmt.on_conflict_do_update(
            index_elements=["channel", "message_ts", "user_id"],
            set_={
                "vote": new.vote,
                "session_id": new.session_id,
                "turn_id": new.turn_id,
                # A thumbs-down keeps the reason it was given; a thumbs-up has none.
                "reason": case((new.vote == "down", feedback.c.reason), else_=None),
                "updated_at": new.updated_at,
            },
        ).returning(*feedback.c)
        async with self._db.write() as conn:
            row = (await conn.execute(upsert)).one()
        return to_vote(row)

    @guard
    async def record_reason(
        self, *, channel: str, message_ts: str, user_id: str, reason: str
    ) -> Vote | None:
        kept = reason.strip()[:MAX_REASON_CHARS] or None
        stmt = (
            update(feedback)
            .where(
                feedback.c.channel == channel,
                feedback.c.message_ts == message_ts,
                feedback.c.user_id == user_id,
                feedback.c.vote == "down",
            )
            .values(reason=kept, updated_at=self._db.now())
            .returning(*feedback.c)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(stmt)).first()
        return to_vote(row) if row is not None else None

    @guard
    async def list_votes(self, flt: VoteFilter) -> list[Vote]:
        stmt = select(feedback)
        if flt.since is not None:
            stmt = stmt.where(feedback.c.updated_at >= flt.since)
        if flt.until is not None:
            stmt = stmt.where(feedback.c.updated_at < flt.until)
        if flt.channel is not None:
            stmt = stmt.where(feedback.c.channel == flt.channel)
        if flt.vote is not None:
            stmt = stmt.where(feedback.c.vote == flt.vote)
        stmt = stmt.order_by(
            feedback.c.updated_at.desc(),
            feedback.c.channel,
            feedback.c.message_ts,
            feedback.c.user_id,
        ).limit(flt.limit)
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [to_vote(row) for row in rows]

    @guard
    async def votes_for_turns(self, turn_ids: list[str]) -> list[Vote]:
        if not turn_ids:
            return []
        stmt = (
            select(feedback)
            .where(feedback.c.turn_id.in_(turn_ids))
            .order_by(
                feedback.c.created_at, feedback.c.channel, feedback.c.message_ts, feedback.c.user_id
            )
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [to_vote(row) for row in rows]

    @guard
    async def vote_totals(self) -> dict[VoteValue, int]:
        stmt = select(feedback.c.vote, func.count()).group_by(feedback.c.vote)
        async with self._db.read() as conn:
            counted = {vote: int(n) for vote, n in (await conn.execute(stmt)).all()}
        return {"up": counted.get("up", 0), "down": counted.get("down", 0)}

    @guard
    async def forget_voter(self, user_id: str) -> int:
        async with self._db.write() as conn:
            result = await conn.execute(delete(feedback).where(feedback.c.user_id == user_id))
        return int(result.rowcount or 0)
