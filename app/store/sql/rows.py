"""What more than one SQL role needs: rows as value types, the liveness rule, event rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, and_
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core import Usage
from app.store.schema import session_events, sessions
from app.store.types import Delivery, Session, TurnRecord, live_since


def live(now: datetime, ttl: timedelta) -> ColumnElement[bool]:
    """``app.store.types.is_live`` as a condition on ``sessions``: the same rule, for queries.

    Both are built on ``live_since`` (at exactly the TTL a session is still live).
    """
    return and_(sessions.c.status == "active", sessions.c.last_active_at >= live_since(now, ttl))


def stale(now: datetime, ttl: timedelta) -> ColumnElement[bool]:
    """``app.store.types.is_stale`` as a condition: still ``active`` but idle past the TTL."""
    return and_(sessions.c.status == "active", sessions.c.last_active_at < live_since(now, ttl))


async def insert_event(
    conn: AsyncConnection,
    session_id: str,
    kind: str,
    now: datetime,
    *,
    cause: str | None = None,
    turn_id: str | None = None,
) -> None:
    """Append to a session's event log within the caller's transaction."""
    await conn.execute(
        session_events.insert().values(
            session_id=session_id, kind=kind, cause=cause, turn_id=turn_id, created_at=now
        )
    )


def to_session(row: Row[Any]) -> Session:
    return Session(
        id=row.id,
        agent=row.agent,
        status=row.status,
        created_at=row.created_at,
        last_active_at=row.last_active_at,
        resume_count=row.resume_count,
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
