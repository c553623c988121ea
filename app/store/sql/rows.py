"""What more than one SQL role needs: rows as value types, the liveness rule, event rows and
the audience compare-and-set."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Row, and_, bindparam, func, or_, select, update

from app.core import Usage
from app.store.schema import session_events, session_keys, sessions, turns
from app.store.sql.engine import Conn
from app.store.types import (
    Delivery,
    Session,
    TranscriptEntry,
    TurnRecord,
    born_since,
    live_since,
)

# Built once: every event row is inserted by this one statement.
_INSERT_EVENT: Final = session_events.insert()

# A key's live session: ``live`` with its limits bound (``p_live_since``, ``p_born_since``).
RESOLVE: Final = (
    select(sessions)
    .join(session_keys, session_keys.c.session_id == sessions.c.id)
    .where(
        session_keys.c.key == bindparam("p_key"),
        # ``live`` below, with its limits bound: the same rule.
        and_(
            sessions.c.status == "active",
            sessions.c.last_active_at >= bindparam("p_live_since"),
            sessions.c.created_at >= bindparam("p_born_since"),
        ),
    )
)


def live(now: datetime, ttl: timedelta, max_age: timedelta) -> ColumnElement[bool]:
    """``app.store.types.is_live`` as a condition on ``sessions``: the same rule, for queries.

    Both are built on ``live_since`` and ``born_since`` (at exactly either limit a session is
    still live).
    """
    return and_(
        sessions.c.status == "active",
        sessions.c.last_active_at >= live_since(now, ttl),
        sessions.c.created_at >= born_since(now, max_age),
    )


def stale(now: datetime, ttl: timedelta, max_age: timedelta) -> ColumnElement[bool]:
    """``app.store.types.is_stale`` as a condition: still ``active`` but no longer live."""
    return and_(
        sessions.c.status == "active",
        or_(
            sessions.c.last_active_at < live_since(now, ttl),
            sessions.c.created_at < born_since(now, max_age),
        ),
    )


async def insert_event(
    conn: Conn,
    session_id: str,
    kind: str,
    now: datetime,
    *,
    cause: str | None = None,
    turn_id: str | None = None,
) -> None:
    """Append to a session's event log within the caller's transaction."""
    await conn.execute(
        _INSERT_EVENT,
        {
            "session_id": session_id,
            "kind": kind,
            "cause": cause,
            "turn_id": turn_id,
            "created_at": now,
        },
    )


async def raise_audience_in(
    conn: Conn,
    session_id: str,
    audience: str,
    below: tuple[str, ...],
    now: datetime,
    *,
    cause: str,
    turn_id: str | None,
) -> bool:
    """Within the caller's transaction: set the session's audience to ``audience`` if it is
    one of ``below`` (compare-and-set), logging ``audience_changed``; whether it changed."""
    changed = (
        await conn.execute(
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.audience.in_(below))
            .values(audience=audience)
            .returning(sessions.c.id)
        )
    ).first()
    if changed is None:
        return False
    await insert_event(conn, session_id, "audience_changed", now, cause=cause, turn_id=turn_id)
    return True


def to_session(row: Row[Any]) -> Session:
    return Session(
        id=row.id,
        agent=row.agent,
        status=row.status,
        created_at=row.created_at,
        last_active_at=row.last_active_at,
        resume_count=row.resume_count,
        audience=row.audience,
    )


def to_delivery(row: Row[Any]) -> Delivery:
    return Delivery(
        id=row.pk,
        delivery_id=row.delivery_id,
        source=row.source,
        lane=row.lane,
        payload=row.payload,
        status=row.status,
        attempts=row.attempts,
        received_at=row.received_at,
        reply_ref=row.reply_ref,
    )


def to_turn(row: Row[Any]) -> TurnRecord:
    return TurnRecord(
        turn_id=row.turn_id,
        session_id=row.session_id,
        outcome=row.outcome,
        model=row.model,
        usage=Usage(
            int(row.input_tokens),
            int(row.output_tokens),
            int(row.cache_read_tokens),
            int(row.cache_write_tokens),
        ),
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def to_entry(row: Row[Any]) -> TranscriptEntry:
    return TranscriptEntry(
        seq=row.seq,
        role=row.role,
        content=row.content,
        author_id=row.author_id,
        author_name=row.author_name,
        source=row.source,
        turn_id=row.turn_id,
        created_at=row.created_at,
        ref=row.ref,
    )


async def usage_by_session(conn: Conn, ids: list[str]) -> dict[str, tuple[int, Usage]]:
    """Each of ``ids``' turns and token usage (sessions without a turn are left out)."""
    rows = (
        await conn.execute(
            select(
                turns.c.session_id,
                func.count().label("n"),
                func.coalesce(func.sum(turns.c.input_tokens), 0).label("i"),
                func.coalesce(func.sum(turns.c.output_tokens), 0).label("o"),
                func.coalesce(func.sum(turns.c.cache_read_tokens), 0).label("cr"),
                func.coalesce(func.sum(turns.c.cache_write_tokens), 0).label("cw"),
            )
            .where(turns.c.session_id.in_(ids))
            .group_by(turns.c.session_id)
        )
    ).all()
    # PostgreSQL sums integers as numeric (Decimal): convert.
    return {u.session_id: (int(u.n), Usage(int(u.i), int(u.o), int(u.cr), int(u.cw))) for u in rows}
