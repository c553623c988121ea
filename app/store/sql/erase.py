"""Erasing a person from the SQL store: ``SqlMaintenance.erase_author``.

Transcripts are rewritten one session at a time, each in its own transaction that locks the
person's rows (``FOR UPDATE``; on SQLite the write lock), rewrites them, clears their author
name and logs ``author_erased``: a session is either wholly erased, with its event, or not at
all. The inbox is then read in batches by source (a payload is JSON text, so it is filtered
here, not in SQL) and the person's deliveries are deleted by pk, each batch its own short
transaction. Running it again finds the same rows and changes nothing more.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select, update

from app.store.schema import inbox, transcript
from app.store.sql.engine import Db
from app.store.sql.rows import insert_event
from app.store.types import EraseResult

Rewrite = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


async def erase_author(
    db: Db, source: str, author_id: str, *, replacement: Rewrite, cause: str, batch: int
) -> EraseResult:
    """Unguarded: the caller maps driver errors to ``StoreError``."""
    by_author = (transcript.c.source == source, transcript.c.author_id == author_id)
    async with db.read() as conn:
        session_ids = (
            (
                await conn.execute(
                    select(transcript.c.session_id)
                    .where(*by_author)
                    .distinct()
                    .order_by(transcript.c.session_id)
                )
            )
            .scalars()
            .all()
        )
    messages = sessions = 0
    for sid in session_ids:
        async with db.write() as conn:
            rows = (
                await conn.execute(
                    select(transcript.c.seq, transcript.c.content)
                    .where(transcript.c.session_id == sid, *by_author)
                    .order_by(transcript.c.seq)
                    .with_for_update()
                )
            ).all()
            if not rows:  # deleted meanwhile
                continue
            for r in rows:
                await conn.execute(
                    update(transcript)
                    .where(transcript.c.session_id == sid, transcript.c.seq == r.seq)
                    .values(content=replacement(copy.deepcopy(r.content)), author_name=None)
                )
            await insert_event(conn, sid, "author_erased", db.now(), cause=cause)
        messages += len(rows)
        sessions += 1
    return EraseResult(
        messages=messages,
        sessions=sessions,
        deliveries=await _delete_deliveries(db, source, author_id, batch),
    )


async def _delete_deliveries(db: Db, source: str, author_id: str, batch: int) -> int:
    """Delete the inbox rows of ``source`` whose payload names ``author_id`` as its author."""
    deleted = 0
    after = 0
    while True:
        async with db.read() as conn:
            rows = (
                await conn.execute(
                    select(inbox.c.pk, inbox.c.payload)
                    .where(inbox.c.source == source, inbox.c.pk > after)
                    .order_by(inbox.c.pk)
                    .limit(batch)
                )
            ).all()
        if not rows:
            return deleted
        after = rows[-1].pk
        doomed = [
            r.pk
            for r in rows
            if isinstance(r.payload, dict) and r.payload.get("author_id") == author_id
        ]
        if doomed:
            async with db.write() as conn:
                result = await conn.execute(delete(inbox).where(inbox.c.pk.in_(doomed)))
                deleted += result.rowcount
        if len(rows) < batch:
            return deleted
