"""The ``Sessions`` role in memory: sessions, keys (first writer wins), the event log."""

from __future__ import annotations

import uuid

from app.core import KeyClaim
from app.errors import StoreError
from app.store.memory.tables import SessionRow, Tables
from app.store.types import (
    ENDED_STATUSES,
    KeyLink,
    Session,
    SessionEvent,
    SessionStatus,
    audiences_below,
)


class MemorySessions:
    """``Sessions`` on ``Tables``."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def create_session(self, agent: str, *, turn_id: str | None = None) -> Session:
        t = self._t
        now = t.now()
        session = Session(
            id=str(uuid.uuid4()),
            agent=agent,
            status="active",
            created_at=now,
            last_active_at=now,
            resume_count=0,
        )
        async with t.lock:
            t.sessions[session.id] = SessionRow(session)
            t.log(session.id, "created", now, turn_id=turn_id)
        return session

    async def get_session(self, session_id: str) -> Session | None:
        async with self._t.lock:
            row = self._t.sessions.get(session_id)
            return row.session if row is not None else None

    async def resolve(self, key: str) -> Session | None:
        t = self._t
        now = t.now()
        async with t.lock:
            session = self._holder_of(key)
            return session if session is not None and t.is_live(session, now) else None

    async def session_for_key(self, key: str) -> Session | None:
        async with self._t.lock:
            return self._holder_of(key)

    def _holder_of(self, key: str) -> Session | None:
        link = self._t.keys.get(key)
        row = self._t.sessions.get(link.session_id) if link is not None else None
        return row.session if row is not None else None

    async def register_key(
        self, key: str, session_id: str, *, url: str | None = None, turn_id: str | None = None
    ) -> KeyClaim:
        t = self._t
        now = t.now()
        async with t.lock:
            link = t.keys.get(key)
            if link is not None:
                owner = link.session_id
                if owner == session_id:
                    if url is not None and link.url != url:
                        t.keys[key] = KeyLink(key, owner, url, link.created_at)
                    return KeyClaim(key, session_id, True)
                if t.live(owner, now):
                    return KeyClaim(key, owner, False)
            # The key is free, or its owner ended or went past its TTL: the key can be taken
            # by a session that exists (in SQL, the foreign key refuses any other).
            if session_id not in t.sessions:
                raise StoreError(f"store.register_key failed: no session {session_id!r}")
            t.keys[key] = KeyLink(key, session_id, url, now)
            if link is not None:
                cause = f"taken over: {key}"
                t.log(link.session_id, "key_unlinked", now, cause=cause, turn_id=turn_id)
            t.log(session_id, "key_linked", now, cause=key, turn_id=turn_id)
            return KeyClaim(key, session_id, True)

    async def unlink_key(self, key: str, *, cause: str, turn_id: str | None = None) -> str | None:
        t = self._t
        now = t.now()
        async with t.lock:
            link = t.keys.pop(key, None)
            if link is None:
                return None
            t.log(link.session_id, "key_unlinked", now, cause=cause, turn_id=turn_id)
            return link.session_id

    async def keys_for(self, session_id: str) -> list[KeyLink]:
        async with self._t.lock:
            return self._t.keys_of(session_id)

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
        t = self._t
        now = t.now()
        async with t.lock:
            row = t.sessions.get(session_id)
            if row is None:
                return
            row.update(status=status)
            row.drop_lease()
            t.release_keys(session_id)
            t.log(session_id, status, now, cause=cause, turn_id=turn_id)

    async def raise_audience(
        self, session_id: str, audience: str, *, cause: str, turn_id: str | None = None
    ) -> bool:
        below = audiences_below(audience)
        t = self._t
        now = t.now()
        async with t.lock:
            return t.raise_audience(session_id, audience, below, now, cause=cause, turn_id=turn_id)

    async def log_event(
        self, session_id: str, kind: str, *, cause: str | None = None, turn_id: str | None = None
    ) -> None:
        t = self._t
        now = t.now()
        async with t.lock:
            t.log(session_id, kind, now, cause=cause, turn_id=turn_id)

    async def events_for(self, session_id: str) -> list[SessionEvent]:
        async with self._t.lock:
            return list(self._t.events.get(session_id, []))
