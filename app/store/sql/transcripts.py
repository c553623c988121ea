"""The ``Transcripts`` role in SQL: transcripts, turns and their token usage.

``commit_turn`` is one transaction that locks the session row first (``FOR NO KEY UPDATE`` on
PostgreSQL, so foreign-key checks of concurrent key and transcript inserts are not blocked by
it; ``BEGIN IMMEDIATE`` on SQLite), checks status, fence and holder under that lock, finishes
the delivery with a compare-and-set, and only then appends. Any refusal raises ``LeaseLost``
and rolls everything back; so does any failure part-way. A commit that brings internal
content raises the session's audience under the same lock (``audience_changed`` is logged once).

``rewrite_messages`` locks the rows it rewrites (``FOR UPDATE``; on SQLite the write lock) and
logs ``message_rewritten`` per session in the same transaction: all of it, or none.

What every turn runs (loading, committing) is built once with bound parameters
(``_Statements``), so SQLAlchemy neither rebuilds it nor recomputes its cache key per call.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from sqlalchemy import BindParameter, Integer, bindparam, func, select, update

from app.core import Usage
from app.errors import LeaseLost
from app.store.schema import inbox, quota_events, sessions, transcript, turns
from app.store.sql.engine import Conn, Db, guard
from app.store.sql.quotas import TOKENS
from app.store.sql.rows import insert_event, raise_audience_in, to_entry, to_turn
from app.store.types import TranscriptEntry, TurnCommit, TurnRecord, as_utc, audiences_below


def _usage_values(usage: Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
    }


class _Statements:
    """What every turn runs, built once; each call binds its values (``p_*``)."""

    def __init__(self, db: Db) -> None:
        sid: BindParameter[str] = bindparam("p_sid")
        self.messages = (
            select(transcript.c.role, transcript.c.content)
            .where(transcript.c.session_id == sid)
            .order_by(transcript.c.seq)
        )
        # Locked for the whole commit (FOR NO KEY UPDATE on PostgreSQL, so foreign-key
        # checks of concurrent key/transcript inserts are not blocked by it).
        self.lock = (
            select(
                sessions.c.status, sessions.c.fence, sessions.c.lease_holder, sessions.c.audience
            )
            .where(sessions.c.id == sid)
            .with_for_update(key_share=True)
        )
        processing = (inbox.c.pk == bindparam("p_pk"), inbox.c.status == "processing")
        done: dict[str, Any] = {
            "status": "done",
            "finished_at": bindparam("p_now"),
            "lease_until": None,
            "error": None,
        }
        self.finish = update(inbox).where(*processing).values(**done).returning(inbox.c.pk)
        self.finish_held = (
            update(inbox)
            .where(*processing, inbox.c.holder == bindparam("p_holder"))
            .values(**done)
            .returning(inbox.c.pk)
        )
        self.last_seq = select(func.coalesce(func.max(transcript.c.seq), 0)).where(
            transcript.c.session_id == sid
        )
        self.append = transcript.insert()
        self.touch = (
            update(sessions)
            .where(sessions.c.id == sid)
            .values(
                last_active_at=bindparam("p_now"),
                resume_count=sessions.c.resume_count + bindparam("p_resumed", type_=Integer),
                lease_holder=None,
                lease_until=None,
            )
        )
        upsert = db.insert(turns)
        new = upsert.excluded
        # A turn may be written twice under one id (a recorded failure, then the retry on a
        # fresh session commits): the row then names the last session and outcome, keeps the
        # first start time, and adds up the tokens of both attempts.
        self.turn = upsert.on_conflict_do_update(
            index_elements=["turn_id"],
            set_={
                "session_id": func.coalesce(new.session_id, turns.c.session_id),
                "outcome": new.outcome,
                "model": func.coalesce(new.model, turns.c.model),
                "input_tokens": turns.c.input_tokens + new.input_tokens,
                "output_tokens": turns.c.output_tokens + new.output_tokens,
                "cache_read_tokens": turns.c.cache_read_tokens + new.cache_read_tokens,
                "cache_write_tokens": turns.c.cache_write_tokens + new.cache_write_tokens,
                "finished_at": new.finished_at,
            },
        )


class SqlTranscripts:
    """``Transcripts`` on a ``Db``."""

    def __init__(self, db: Db) -> None:
        self._db = db
        self._sql = _Statements(db)

    @guard
    async def load_transcript(self, session_id: str) -> list[TranscriptEntry]:
        stmt = (
            select(transcript)
            .where(transcript.c.session_id == session_id)
            .order_by(transcript.c.seq)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [to_entry(r) for r in rows]

    @guard
    async def load_messages(self, session_id: str) -> list[dict[str, Any]]:
        async with self._db.read() as conn:
            return await self.messages_in(conn, session_id)

    async def messages_in(self, conn: Conn, session_id: str) -> list[dict[str, Any]]:
        """``load_messages`` in the caller's transaction."""
        rows = (await conn.execute(self._sql.messages, {"p_sid": session_id})).all()
        return [{"role": r.role, "content": r.content} for r in rows]

    @guard
    async def commit_turn(self, commit: TurnCommit) -> None:
        # Checked before anything is written: an unknown audience is a caller's mistake.
        below = audiences_below(commit.audience) if commit.audience is not None else ()
        if commit.tokens < 0:
            raise ValueError(f"a turn's tokens are a count, not {commit.tokens}")
        now = self._db.now()
        sid = commit.session_id
        sql = self._sql
        async with self._db.write() as conn:
            current = (await conn.execute(sql.lock, {"p_sid": sid})).first()
            if current is None:
                raise LeaseLost(f"session {sid} no longer exists")
            if current.status != "active":
                raise LeaseLost(f"session {sid} is {current.status}")
            if int(current.fence) != commit.fence:
                raise LeaseLost(f"session {sid} lease fence moved on")
            # A released lease (e.g. by an earlier commit with this fence) no longer protects
            # anything: refusing it stops a turn from being committed twice.
            if current.lease_holder is None or (
                commit.holder is not None and current.lease_holder != commit.holder
            ):
                raise LeaseLost(f"session {sid} lease is not held by this turn")
            if commit.delivery_pk is not None:
                finish = sql.finish if commit.holder is None else sql.finish_held
                held = {"p_pk": commit.delivery_pk, "p_holder": commit.holder, "p_now": now}
                if (await conn.execute(finish, held)).first() is None:
                    # Another worker reclaimed the delivery and will run it again; committing
                    # here as well would answer and record the message twice.
                    raise LeaseLost(f"delivery {commit.delivery_pk} is no longer held")
            last_seq = int((await conn.execute(sql.last_seq, {"p_sid": sid})).scalar_one())
            resumed = last_seq > 0
            if commit.messages:
                await conn.execute(
                    sql.append,
                    [
                        {
                            "session_id": sid,
                            "seq": last_seq + i,
                            "role": m.role,
                            "content": list(m.content),
                            "author_id": m.author_id,
                            "author_name": m.author_name,
                            "source": m.source,
                            "turn_id": commit.turn_id,
                            "created_at": now,
                            "ref": m.ref,
                        }
                        for i, m in enumerate(commit.messages, start=1)
                    ],
                )
            await conn.execute(
                sql.turn,
                {
                    "turn_id": commit.turn_id,
                    "session_id": sid,
                    "outcome": commit.outcome,
                    "model": commit.model,
                    **_usage_values(commit.usage),
                    "started_at": as_utc(commit.started_at) if commit.started_at else now,
                    "finished_at": now,
                },
            )
            touched = {"p_sid": sid, "p_now": now, "p_resumed": 1 if resumed else 0}
            await conn.execute(sql.touch, touched)
            if commit.tokens > 0 and commit.token_scopes:
                spent = {"kind": TOKENS, "amount": commit.tokens, "created_at": now}
                await conn.execute(
                    quota_events.insert(),
                    [{"scope": s, **spent} for s in dict.fromkeys(commit.token_scopes)],
                )
            if resumed:
                await insert_event(conn, sid, "resumed", now, turn_id=commit.turn_id)
            # Read under the row's lock: a session already as restricted needs no write.
            if below and commit.audience is not None and current.audience in below:
                await raise_audience_in(
                    conn,
                    sid,
                    commit.audience,
                    below,
                    now,
                    cause=f"{commit.audience} content",
                    turn_id=commit.turn_id,
                )

    @guard
    async def rewrite_messages(
        self,
        ref: str,
        rewrite: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
        *,
        cause: str,
    ) -> int:
        now = self._db.now()
        changed = 0
        touched: list[str] = []
        async with self._db.write() as conn:
            rows = (
                await conn.execute(
                    select(transcript.c.session_id, transcript.c.seq, transcript.c.content)
                    .where(transcript.c.ref == ref)
                    .order_by(transcript.c.session_id, transcript.c.seq)
                    .with_for_update()
                )
            ).all()
            for r in rows:
                # A copy: ``rewrite`` may change what it is given, and we compare with it.
                content = rewrite(copy.deepcopy(r.content))
                if content == r.content:
                    continue
                await conn.execute(
                    update(transcript)
                    .where(transcript.c.session_id == r.session_id, transcript.c.seq == r.seq)
                    .values(content=content)
                )
                changed += 1
                if r.session_id not in touched:
                    touched.append(r.session_id)
            for sid in touched:
                await insert_event(conn, sid, "message_rewritten", now, cause=cause)
        return changed

    @guard
    async def record_turn(self, record: TurnRecord) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                self._sql.turn,
                {
                    "turn_id": record.turn_id,
                    "session_id": record.session_id,
                    "outcome": record.outcome,
                    "model": record.model,
                    **_usage_values(record.usage),
                    "started_at": as_utc(record.started_at),
                    "finished_at": as_utc(record.finished_at),
                },
            )

    @guard
    async def turns_for(self, session_id: str) -> list[TurnRecord]:
        stmt = (
            select(turns)
            .where(turns.c.session_id == session_id)
            .order_by(turns.c.started_at, turns.c.turn_id)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [to_turn(r) for r in rows]
