"""The ``Browse`` role in SQL: what the dashboard reads across sessions.

A session's keys, for finding it, are the rows of ``session_keys`` together with the causes
of its ``key_linked`` events (the key each names), so ended sessions, whose keys were
released, are still found by their place, and listed with the keys they held. Text is
matched with ``LIKE`` on lower-cased values (the same on SQLite and PostgreSQL), wildcards in
what people type escaped; transcript text is matched as stored (its JSON text). Every call is
one read transaction; ``SessionQuery.agent`` keeps to one bot's sessions.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    ColumnElement,
    Subquery,
    Text,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    union_all,
)

from app.core import Usage
from app.store.schema import (
    approvals,
    session_events,
    session_keys,
    sessions,
    transcript,
)
from app.store.sql.approvals import to_approval
from app.store.sql.engine import Db, guard
from app.store.sql.rows import to_entry, to_session, usage_by_session
from app.store.types import (
    Approval,
    SessionPage,
    SessionQuery,
    SessionSummary,
    TranscriptEntry,
    seen_at,
)


def _all_keys() -> Subquery:
    """(sid, key) for every key a session holds or once held."""
    current = select(session_keys.c.session_id.label("sid"), session_keys.c.key.label("key"))
    past = select(
        session_events.c.session_id.label("sid"), session_events.c.cause.label("key")
    ).where(session_events.c.kind == "key_linked", session_events.c.cause.is_not(None))
    return union_all(current, past).subquery("ak")


def _has_key(test: Callable[[ColumnElement[str]], ColumnElement[bool]]) -> ColumnElement[bool]:
    """The session has (or had) a key passing ``test``."""
    ak = _all_keys()
    return (
        select(literal(1)).select_from(ak).where(ak.c.sid == sessions.c.id, test(ak.c.key)).exists()
    )


class SqlBrowse:
    """``Browse`` on a ``Db``."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def _on_platform(self, platform: str) -> Callable[[ColumnElement[str]], ColumnElement[bool]]:
        """The key's second ':'-separated part is ``platform`` (as ``SqlMaintenance``)."""

        def test(key: ColumnElement[str]) -> ColumnElement[bool]:
            first_colon = func.strpos(key, ":") if self._db.pg else func.instr(key, ":")
            return func.substr(key, first_colon + 1, len(platform) + 1) == platform + ":"

        return test

    def _conditions(self, query: SessionQuery) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if query.agent is not None:
            conds.append(sessions.c.agent == query.agent)
        if query.status is not None:
            conds.append(sessions.c.status == query.status)
        prefixes = query.key_prefixes
        if prefixes is not None:
            conds.append(
                _has_key(
                    lambda k: or_(false(), *(k.startswith(p, autoescape=True) for p in prefixes))
                )
            )
        if query.platform:
            conds.append(_has_key(self._on_platform(query.platform)))
        text = query.text.strip()
        needle = text.lower()
        if needle:
            in_keys = _has_key(lambda k: func.lower(k).contains(needle, autoescape=True))
            t = transcript.alias("t")
            in_transcript = (
                select(literal(1))
                .select_from(t)
                .where(
                    t.c.session_id == sessions.c.id,
                    or_(
                        func.lower(cast(t.c.content, Text)).contains(needle, autoescape=True),
                        func.lower(t.c.author_name).contains(needle, autoescape=True),
                        func.lower(t.c.author_id).contains(needle, autoescape=True),
                    ),
                )
                .exists()
            )
            conds.append(or_(sessions.c.id == text, in_keys, in_transcript))
        return conds

    @guard
    async def browse_sessions(self, query: SessionQuery) -> SessionPage:
        conds = self._conditions(query)
        stmt = (
            select(sessions)
            .where(*conds)
            .order_by(sessions.c.last_active_at.desc(), sessions.c.id)
            .offset(max(query.offset, 0))
            .limit(max(query.limit, 0))
        )
        now = self._db.now()
        async with self._db.read() as conn:
            total = int(
                (
                    await conn.execute(select(func.count()).select_from(sessions).where(*conds))
                ).scalar_one()
            )
            rows = (await conn.execute(stmt)).all()
            ids = [r.id for r in rows]
            if not ids:
                return SessionPage([], total)
            key_rows = (
                await conn.execute(
                    select(session_keys.c.session_id, session_keys.c.key)
                    .where(session_keys.c.session_id.in_(ids))
                    .order_by(session_keys.c.created_at, session_keys.c.key)
                )
            ).all()
            held = {kr.session_id for kr in key_rows}
            released = [i for i in ids if i not in held]
            past_rows = (
                (
                    await conn.execute(
                        select(session_events.c.session_id, session_events.c.cause)
                        .where(
                            session_events.c.session_id.in_(released),
                            session_events.c.kind == "key_linked",
                            session_events.c.cause.is_not(None),
                        )
                        .order_by(session_events.c.id)
                    )
                ).all()
                if released
                else []
            )
            usage = await usage_by_session(conn, ids)
        keys: dict[str, list[str]] = {i: [] for i in ids}
        for kr in key_rows:
            keys[kr.session_id].append(kr.key)
        for pr in past_rows:
            if pr.cause not in keys[pr.session_id]:
                keys[pr.session_id].append(pr.cause)
        running = frozenset(
            r.id for r in rows if r.lease_until is not None and r.lease_until >= now
        )
        summaries = [
            SessionSummary(
                session=to_session(r),
                keys=keys[r.id],
                turns=usage.get(r.id, (0, Usage()))[0],
                usage=usage.get(r.id, (0, Usage()))[1],
            )
            for r in rows
        ]
        return SessionPage(summaries, total, running)

    @guard
    async def keys_ever(self, session_id: str) -> list[str]:
        async with self._db.read() as conn:
            linked = (
                await conn.execute(
                    select(session_events.c.cause)
                    .where(
                        session_events.c.session_id == session_id,
                        session_events.c.kind == "key_linked",
                        session_events.c.cause.is_not(None),
                    )
                    .order_by(session_events.c.id)
                )
            ).scalars()
            current = (
                await conn.execute(
                    select(session_keys.c.key)
                    .where(session_keys.c.session_id == session_id)
                    .order_by(session_keys.c.created_at, session_keys.c.key)
                )
            ).scalars()
            found = [str(k) for k in linked] + [str(k) for k in current]
        return list(dict.fromkeys(found))

    @guard
    async def transcript_after(self, session_id: str, seq: int) -> list[TranscriptEntry]:
        stmt = (
            select(transcript)
            .where(transcript.c.session_id == session_id, transcript.c.seq > seq)
            .order_by(transcript.c.seq)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [to_entry(r) for r in rows]

    @guard
    async def running_sessions(self, session_ids: list[str]) -> frozenset[str]:
        if not session_ids:
            return frozenset()
        now = self._db.now()
        async with self._db.read() as conn:
            rows = (
                await conn.execute(
                    select(sessions.c.id).where(
                        sessions.c.id.in_(session_ids),
                        sessions.c.lease_until.is_not(None),
                        sessions.c.lease_until >= now,
                    )
                )
            ).scalars()
            return frozenset(str(r) for r in rows)

    @guard
    async def approvals_of_session(self, session_id: str) -> list[Approval]:
        now = self._db.now()
        stmt = (
            select(approvals)
            .where(approvals.c.session_id == session_id)
            .order_by(approvals.c.created_at, approvals.c.id)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [seen_at(to_approval(r), now) for r in rows]
