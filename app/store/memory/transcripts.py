"""The ``Transcripts`` role in memory: the same commit rules as ``app.store.sql.transcripts``.

``commit_turn`` checks everything and copies the messages before it changes anything, so a
refusal (``LeaseLost``) or a failure (``StoreError`` for content that is not JSON) leaves the
store as it was, like the rolled-back transaction in SQL. ``rewrite_messages`` computes every
new content before it stores any, for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from app.errors import LeaseLost
from app.store.memory.tables import Tables, json_copy
from app.store.types import TranscriptEntry, TurnCommit, TurnRecord, as_utc, audiences_below


def _merge(old: TurnRecord | None, new: TurnRecord) -> TurnRecord:
    """A turn id written again names the last session and outcome, keeps the first start
    time and adds up the tokens (``SqlTranscripts._turn_upsert``)."""
    if old is None:
        return new
    return replace(
        new,
        session_id=new.session_id if new.session_id is not None else old.session_id,
        model=new.model if new.model is not None else old.model,
        usage=old.usage + new.usage,
        started_at=old.started_at,
    )


class MemoryTranscripts:
    """``Transcripts`` on ``Tables``."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def load_transcript(self, session_id: str) -> list[TranscriptEntry]:
        async with self._t.lock:
            entries = list(self._t.transcripts.get(session_id, []))
        return [replace(e, content=json_copy(e.content, op="load_transcript")) for e in entries]

    async def load_messages(self, session_id: str) -> list[dict[str, Any]]:
        async with self._t.lock:
            entries = list(self._t.transcripts.get(session_id, []))
        return [
            {"role": e.role, "content": json_copy(e.content, op="load_messages")} for e in entries
        ]

    async def commit_turn(self, commit: TurnCommit) -> None:
        below = audiences_below(commit.audience) if commit.audience is not None else ()
        if commit.tokens < 0:
            raise ValueError(f"a turn's tokens are a count, not {commit.tokens}")
        t = self._t
        now = t.now()
        sid = commit.session_id
        async with t.lock:
            row = t.sessions.get(sid)
            if row is None:
                raise LeaseLost(f"session {sid} no longer exists")
            if row.session.status != "active":
                raise LeaseLost(f"session {sid} is {row.session.status}")
            if row.fence != commit.fence:
                raise LeaseLost(f"session {sid} lease fence moved on")
            # A released lease (e.g. by an earlier commit with this fence) no longer protects
            # anything: refusing it stops a turn from being committed twice.
            if row.lease_holder is None or (
                commit.holder is not None and row.lease_holder != commit.holder
            ):
                raise LeaseLost(f"session {sid} lease is not held by this turn")
            delivery = t.inbox.get(commit.delivery_pk) if commit.delivery_pk is not None else None
            if commit.delivery_pk is not None and (
                delivery is None
                or delivery.status != "processing"
                or (commit.holder is not None and delivery.holder != commit.holder)
            ):
                # Another worker reclaimed the delivery and will run it again; committing
                # here as well would answer and record the message twice.
                raise LeaseLost(f"delivery {commit.delivery_pk} is no longer held")
            entries = t.transcripts.get(sid, [])
            last_seq = entries[-1].seq if entries else 0
            appended = [
                TranscriptEntry(
                    seq=last_seq + i,
                    role=m.role,
                    content=json_copy(list(m.content), op="commit_turn"),
                    author_id=m.author_id,
                    author_name=m.author_name,
                    source=m.source,
                    turn_id=commit.turn_id,
                    created_at=now,
                    ref=m.ref,
                )
                for i, m in enumerate(commit.messages, start=1)
            ]
            # Nothing can fail from here on.
            if delivery is not None:
                delivery.status = "done"
                delivery.finished_at = now
                delivery.lease_until = None
                delivery.error = None
            t.transcripts.setdefault(sid, []).extend(appended)
            record = TurnRecord(
                turn_id=commit.turn_id,
                session_id=sid,
                outcome=commit.outcome,
                model=commit.model,
                usage=commit.usage,
                started_at=as_utc(commit.started_at) if commit.started_at else now,
                finished_at=now,
            )
            t.turns[commit.turn_id] = _merge(t.turns.get(commit.turn_id), record)
            if commit.tokens > 0:
                for scope in dict.fromkeys(commit.token_scopes):
                    t.spend.append((scope, now, commit.tokens))
            resumed = last_seq > 0
            row.update(
                last_active_at=now, resume_count=row.session.resume_count + (1 if resumed else 0)
            )
            row.drop_lease()
            if resumed:
                t.log(sid, "resumed", now, turn_id=commit.turn_id)
            if below and commit.audience is not None:
                cause = f"{commit.audience} content"
                t.raise_audience(
                    sid, commit.audience, below, now, cause=cause, turn_id=commit.turn_id
                )

    async def rewrite_messages(
        self,
        ref: str,
        rewrite: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
        *,
        cause: str,
    ) -> int:
        t = self._t
        now = t.now()
        async with t.lock:
            changes: list[tuple[str, int, TranscriptEntry]] = []
            for sid, entries in sorted(t.transcripts.items()):
                for i, entry in enumerate(entries):
                    if entry.ref != ref:
                        continue
                    given = json_copy(entry.content, op="rewrite_messages")
                    content = json_copy(rewrite(given), op="rewrite_messages")
                    if content != entry.content:
                        changes.append((sid, i, replace(entry, content=content)))
            # Nothing can fail from here on.
            for sid, i, entry in changes:
                t.transcripts[sid][i] = entry
            for sid in dict.fromkeys(sid for sid, _, _ in changes):
                t.log(sid, "message_rewritten", now, cause=cause)
            return len(changes)

    async def record_turn(self, record: TurnRecord) -> None:
        t = self._t
        record = replace(
            record, started_at=as_utc(record.started_at), finished_at=as_utc(record.finished_at)
        )
        async with t.lock:
            t.turns[record.turn_id] = _merge(t.turns.get(record.turn_id), record)

    async def turns_for(self, session_id: str) -> list[TurnRecord]:
        async with self._t.lock:
            mine = [r for r in self._t.turns.values() if r.session_id == session_id]
        return sorted(mine, key=lambda r: (r.started_at, r.turn_id))
