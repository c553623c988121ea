"""Filling a store quickly: a long conversation through the Store API, and a large session
index by bulk inserts (benchmark only; the app itself never writes rows this way)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import create_async_engine

from app.core import Usage
from app.store.base import (
    NewMessage,
    Store,
    TurnCommit,
)
from app.store.schema import session_events, session_keys, sessions

USER = ("U1", "ada")


def said(n: int) -> NewMessage:
    """A user message as the pipeline stores it: a header naming the author, then the text."""
    text = f"[{USER[1]} ({USER[0]}) in Slack]\nmessage number {n}: how is the rollout going?"
    return NewMessage(
        role="user",
        content=[{"type": "text", "text": text}],
        author_id=USER[0],
        author_name=USER[1],
        source="slack",
    )


def answered(n: int) -> NewMessage:
    text = f"echo: [{USER[1]} ({USER[0]}) in Slack]\nmessage number {n}: on track, 40% done."
    return NewMessage(role="assistant", content=[{"type": "text", "text": text}], source="slack")


async def long_conversation(store: Store, agent: str, key: str, turns: int) -> str:
    """A session on ``key`` with ``turns`` earlier exchanges, committed one turn at a time
    (as the pipeline does); returns the session id."""
    session = await store.create_session(agent, turn_id="seed-0")
    claim = await store.register_key(key, session.id, turn_id="seed-0")
    assert claim.registered
    for n in range(1, turns + 1):
        fence = await store.acquire_lease(session.id, "seed", 30)
        assert fence is not None
        await store.commit_turn(
            TurnCommit(
                session_id=session.id,
                fence=fence,
                turn_id=f"seed-{n}",
                messages=[said(n), answered(n)],
                usage=Usage(20, 15, 1000 + 30 * n, 40),
                model="claude-sonnet-5-5",
                outcome="ok",
                holder="seed",
            )
        )
    return session.id


def slack_key(agent: str, n: int) -> str:
    return f"{agent}:slack:C{n % 997:07d}::{1763700000 + n}.{n % 1_000_000:06d}"


async def many_sessions(database_url: str, agent: str, count: int, batch: int = 5000) -> None:
    """``count`` live sessions, each with one Slack key and its creation event, inserted in
    batches straight into the (already migrated) tables."""
    engine = create_async_engine(database_url.replace("sqlite://", "sqlite+aiosqlite://", 1))
    now = datetime.now(UTC)
    try:
        for start in range(0, count, batch):
            rows, keys, events = [], [], []
            for n in range(start, min(start + batch, count)):
                sid = str(uuid.uuid4())
                # spread over the last 20 days, all within the TTL
                at = now - timedelta(seconds=(n * 17) % (20 * 86400))
                rows.append(
                    {
                        "id": sid,
                        "agent": agent,
                        "status": "active",
                        "created_at": at,
                        "last_active_at": at,
                        "resume_count": 0,
                        "lease_holder": None,
                        "lease_until": None,
                        "fence": 0,
                    }
                )
                keys.append(
                    {"key": slack_key(agent, n), "session_id": sid, "url": None, "created_at": at}
                )
                events.append(
                    {
                        "session_id": sid,
                        "kind": "created",
                        "cause": None,
                        "turn_id": None,
                        "created_at": at,
                    }
                )
            async with engine.begin() as conn:
                await conn.execute(sessions.insert(), rows)
                await conn.execute(session_keys.insert(), keys)
                await conn.execute(session_events.insert(), events)
    finally:
        await engine.dispose()
