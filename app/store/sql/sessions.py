"""The ``Sessions`` role in SQL: sessions, their keys (first writer wins), their event log.

How a key gets exactly one owner under concurrency: ``register_key`` first tries an
``INSERT ... ON CONFLICT DO NOTHING``; when the key exists it reads the owner ``FOR UPDATE``
(on PostgreSQL this waits for, then sees, the latest committed owner, and holding the row lock
makes a takeover a compare-and-set among concurrent registrars; on SQLite ``BEGIN IMMEDIATE``
already serialises them). A key owned by a live session is never moved; one whose owner ended
or went past the TTL is taken over, with ``key_unlinked``/``key_linked`` events.

A session's audience only rises: ``raise_audience`` is a compare-and-set whose ``WHERE`` admits
only the audiences below the new one, so concurrent raises log ``audience_changed`` once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from sqlalchemy import bindparam, delete, select, update

from app.core import KeyClaim
from app.errors import StoreError
from app.store.schema import session_events, session_keys, sessions
from app.store.sql.engine import Conn, Db, guard
from app.store.sql.rows import RESOLVE, insert_event, live, raise_audience_in, to_session
from app.store.types import (
    ENDED_STATUSES,
    KeyLink,
    Session,
    SessionEvent,
    SessionStatus,
    audiences_below,
    born_since,
    live_since,
)

# Rounds of insert-or-read in register_key before giving up on a key that keeps changing owner.
REGISTER_ROUNDS = 5


# Built once (a session by its id is read often); each call binds it.
_GET: Final = select(sessions).where(sessions.c.id == bindparam("p_sid"))


class SqlSessions:
    """``Sessions`` on a ``Db``."""

    def __init__(self, db: Db) -> None:
        self._db = db

    @guard
    async def create_session(self, agent: str, *, turn_id: str | None = None) -> Session:
        async with self._db.write() as conn:
            return await self.create_in(conn, agent, turn_id=turn_id)

    async def create_in(
        self,
        conn: Conn,
        agent: str,
        *,
        turn_id: str | None = None,
        lease: tuple[str, datetime] | None = None,
    ) -> Session:
        """``create_session`` in the caller's writing transaction; with ``lease`` (holder,
        until), created with its lease taken (fence 1)."""
        now = self._db.now()
        session = Session(
            id=str(uuid.uuid4()),
            agent=agent,
            status="active",
            created_at=now,
            last_active_at=now,
            resume_count=0,
        )
        holder, until = lease if lease is not None else (None, None)
        await conn.execute(
            sessions.insert().values(
                id=session.id,
                agent=agent,
                status="active",
                created_at=now,
                last_active_at=now,
                resume_count=0,
                lease_holder=holder,
                lease_until=until,
                fence=0 if lease is None else 1,
                audience=session.audience,
            )
        )
        await insert_event(conn, session.id, "created", now, turn_id=turn_id)
        return session

    @guard
    async def get_session(self, session_id: str) -> Session | None:
        async with self._db.read() as conn:
            row = (await conn.execute(_GET, {"p_sid": session_id})).first()
        return to_session(row) if row is not None else None

    @guard
    async def resolve(self, key: str) -> Session | None:
        db = self._db
        now = db.now()
        limits = {
            "p_key": key,
            "p_live_since": live_since(now, db.ttl),
            "p_born_since": born_since(now, db.max_age),
        }
        async with db.read() as conn:
            row = (await conn.execute(RESOLVE, limits)).first()
        return to_session(row) if row is not None else None

    @guard
    async def session_for_key(self, key: str) -> Session | None:
        stmt = (
            select(sessions)
            .join(session_keys, session_keys.c.session_id == sessions.c.id)
            .where(session_keys.c.key == key)
        )
        async with self._db.read() as conn:
            row = (await conn.execute(stmt)).first()
        return to_session(row) if row is not None else None

    @guard
    async def register_key(
        self, key: str, session_id: str, *, url: str | None = None, turn_id: str | None = None
    ) -> KeyClaim:
        async with self._db.write() as conn:
            return await self.register_in(conn, key, session_id, url=url, turn_id=turn_id)

    async def register_in(
        self,
        conn: Conn,
        key: str,
        session_id: str,
        *,
        url: str | None = None,
        turn_id: str | None = None,
    ) -> KeyClaim:
        """``register_key`` in the caller's writing transaction."""
        db = self._db
        now = db.now()
        insert_new = (
            db.insert(session_keys)
            .values(key=key, session_id=session_id, url=url, created_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(session_keys.c.key)
        )
        # PostgreSQL: FOR UPDATE waits for, then sees, the latest committed owner; holding the
        # row lock makes the takeover below a compare-and-set among concurrent registrars.
        owner_of = (
            select(session_keys.c.session_id, session_keys.c.url)
            .where(session_keys.c.key == key)
            .with_for_update()
        )
        # A few rounds: the row we collided with may vanish (its session ended) before
        # we read it; then the key is free again and we try to insert once more.
        for _ in range(REGISTER_ROUNDS):
            if (await conn.execute(insert_new)).first() is not None:
                await insert_event(conn, session_id, "key_linked", now, cause=key, turn_id=turn_id)
                return KeyClaim(key, session_id, True)
            current = (await conn.execute(owner_of)).first()
            if current is None:
                continue
            owner: str = current.session_id
            if owner == session_id:
                if url is not None and current.url != url:
                    await conn.execute(
                        update(session_keys).where(session_keys.c.key == key).values(url=url)
                    )
                return KeyClaim(key, session_id, True)
            owner_live = (
                await conn.execute(
                    select(sessions.c.id).where(
                        sessions.c.id == owner, live(now, db.ttl, db.max_age)
                    )
                )
            ).first()
            if owner_live is not None:
                return KeyClaim(key, owner, False)
            # The owner is ended or past its TTL: the key is free to take.
            await conn.execute(
                update(session_keys)
                .where(session_keys.c.key == key, session_keys.c.session_id == owner)
                .values(session_id=session_id, url=url, created_at=now)
            )
            await insert_event(
                conn, owner, "key_unlinked", now, cause=f"taken over: {key}", turn_id=turn_id
            )
            await insert_event(conn, session_id, "key_linked", now, cause=key, turn_id=turn_id)
            return KeyClaim(key, session_id, True)
        raise StoreError("store.register_key failed: the key kept changing owner")

    @guard
    async def unlink_key(self, key: str, *, cause: str, turn_id: str | None = None) -> str | None:
        now = self._db.now()
        async with self._db.write() as conn:
            owner = (
                await conn.execute(
                    delete(session_keys)
                    .where(session_keys.c.key == key)
                    .returning(session_keys.c.session_id)
                )
            ).scalar_one_or_none()
            if owner is not None:
                await insert_event(conn, owner, "key_unlinked", now, cause=cause, turn_id=turn_id)
        return owner

    @guard
    async def keys_for(self, session_id: str) -> list[KeyLink]:
        stmt = (
            select(session_keys)
            .where(session_keys.c.session_id == session_id)
            .order_by(session_keys.c.created_at, session_keys.c.key)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [KeyLink(r.key, r.session_id, r.url, r.created_at) for r in rows]

    @guard
    async def end_session(
        self,
        session_id: str,
        status: SessionStatus,
        *,
        cause: str,
        turn_id: str | None = None,
    ) -> None:
        if status not in ENDED_STATUSES:
            raise ValueError(f"end_session takes reset, dropped or expired, not {status!r}")
        now = self._db.now()
        async with self._db.write() as conn:
            found = (
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.id == session_id)
                    .values(status=status, lease_holder=None, lease_until=None)
                    .returning(sessions.c.id)
                )
            ).first()
            if found is None:
                return
            await conn.execute(delete(session_keys).where(session_keys.c.session_id == session_id))
            await insert_event(conn, session_id, status, now, cause=cause, turn_id=turn_id)

    @guard
    async def raise_audience(
        self, session_id: str, audience: str, *, cause: str, turn_id: str | None = None
    ) -> bool:
        below = audiences_below(audience)
        if not below:
            return False
        now = self._db.now()
        async with self._db.write() as conn:
            return await raise_audience_in(
                conn, session_id, audience, below, now, cause=cause, turn_id=turn_id
            )

    @guard
    async def log_event(
        self, session_id: str, kind: str, *, cause: str | None = None, turn_id: str | None = None
    ) -> None:
        now = self._db.now()
        async with self._db.write() as conn:
            await insert_event(conn, session_id, kind, now, cause=cause, turn_id=turn_id)

    @guard
    async def events_for(self, session_id: str) -> list[SessionEvent]:
        stmt = (
            select(session_events)
            .where(session_events.c.session_id == session_id)
            .order_by(session_events.c.id)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [SessionEvent(r.session_id, r.kind, r.cause, r.turn_id, r.created_at) for r in rows]
