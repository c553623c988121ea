"""The ``Browse`` role in memory: the same finding and paging as ``app.store.sql.browse``.

Transcript text is matched as the SQL store matches it: in the JSON text of the stored
content (``ensure_ascii`` off, compact separators, as ``JSONText`` writes it).
"""

from __future__ import annotations

import json
from dataclasses import replace

from app.core import Usage
from app.store.memory.maintenance import on_platform
from app.store.memory.tables import Tables, approval_copy, json_copy
from app.store.types import (
    Approval,
    Session,
    SessionPage,
    SessionQuery,
    SessionSummary,
    TranscriptEntry,
    seen_at,
)


class MemoryBrowse:
    """``Browse`` on ``Tables``."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def _keys_ever(self, session_id: str) -> list[str]:
        t = self._t
        linked = [
            e.cause for e in t.events.get(session_id, []) if e.kind == "key_linked" and e.cause
        ]
        current = [k.key for k in t.keys_of(session_id)]
        return list(dict.fromkeys([*linked, *current]))

    def _matches(self, session: Session, query: SessionQuery) -> bool:
        if query.agent is not None and session.agent != query.agent:
            return False
        if query.status is not None and session.status != query.status:
            return False
        keys = self._keys_ever(session.id)
        if query.key_prefixes is not None and not any(
            k.startswith(p) for k in keys for p in query.key_prefixes
        ):
            return False
        if query.platform and not any(on_platform(k, query.platform) for k in keys):
            return False
        text = query.text.strip()
        needle = text.lower()
        if not needle or session.id == text or any(needle in k.lower() for k in keys):
            return True
        for entry in self._t.transcripts.get(session.id, []):
            stored = json.dumps(entry.content, ensure_ascii=False, separators=(",", ":"))
            if any(
                needle in (value or "").lower()
                for value in (stored, entry.author_name, entry.author_id)
            ):
                return True
        return False

    async def browse_sessions(self, query: SessionQuery) -> SessionPage:
        t = self._t
        now = t.now()
        async with t.lock:
            chosen = [r for r in t.sessions.values() if self._matches(r.session, query)]
            chosen.sort(key=lambda r: r.session.id)
            chosen.sort(key=lambda r: r.session.last_active_at, reverse=True)
            offset = max(query.offset, 0)
            page = chosen[offset : offset + max(query.limit, 0)]
            summaries = []
            for row in page:
                records = [x for x in t.turns.values() if x.session_id == row.session.id]
                summaries.append(
                    SessionSummary(
                        session=row.session,
                        keys=[k.key for k in t.keys_of(row.session.id)]
                        or self._keys_ever(row.session.id),
                        turns=len(records),
                        usage=sum((x.usage for x in records), Usage()),
                    )
                )
            running = frozenset(
                r.session.id for r in page if r.lease_until is not None and r.lease_until >= now
            )
        return SessionPage(summaries, len(chosen), running)

    async def keys_ever(self, session_id: str) -> list[str]:
        async with self._t.lock:
            return self._keys_ever(session_id)

    async def transcript_after(self, session_id: str, seq: int) -> list[TranscriptEntry]:
        async with self._t.lock:
            entries = [e for e in self._t.transcripts.get(session_id, []) if e.seq > seq]
        return [replace(e, content=json_copy(e.content, op="transcript_after")) for e in entries]

    async def running_sessions(self, session_ids: list[str]) -> frozenset[str]:
        t = self._t
        now = t.now()
        async with t.lock:
            return frozenset(
                sid
                for sid in session_ids
                if (row := t.sessions.get(sid)) is not None
                and row.lease_until is not None
                and row.lease_until >= now
            )

    async def approvals_of_session(self, session_id: str) -> list[Approval]:
        t = self._t
        now = t.now()
        async with t.lock:
            found = [a for a in t.approvals.values() if a.session_id == session_id]
            found.sort(key=lambda a: (a.created_at, a.id))
            return [approval_copy(seen_at(a, now), op="approvals_of_session") for a in found]
