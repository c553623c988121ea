"""The ``Maintenance`` role in memory: the same filters, clean-up and erasure as ``app.store.sql``.

The SQL store expires and prunes in batches to keep transactions short; here every call is
one step under the lock, so ``batch`` changes nothing but is accepted for the same signature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from app.core import Usage
from app.store.memory.tables import Tables, json_copy
from app.store.types import (
    ENDED_STATUSES,
    FINISHED,
    QUOTA_RETENTION,
    UNFINISHED,
    EraseResult,
    PruneResult,
    Session,
    SessionFilter,
    SessionSummary,
    StoreStats,
    expiry_cause,
    is_stale,
)


def on_platform(key: str, platform: str) -> bool:
    """The key's second ':'-separated part is ``platform`` (agent names have no ':').

    The same test as ``SqlMaintenance._platform_match``.
    """
    _, colon, rest = key.partition(":")
    return bool(colon) and (rest == platform or rest.startswith(platform + ":"))


def _matches(session: Session, keys: list[str], flt: SessionFilter, now: datetime) -> bool:
    """Whether ``session`` (holding ``keys``) passes ``flt``; see ``SqlMaintenance``."""
    if flt.status is not None and session.status != flt.status:
        return False
    idle = now - session.last_active_at
    if flt.active_within_days is not None and idle > timedelta(days=flt.active_within_days):
        return False
    if flt.older_than_days is not None and idle <= timedelta(days=flt.older_than_days):
        return False
    if flt.platform is None and flt.key_contains is None:
        return True
    # One key must pass both key tests; the text test ignores case.
    needle = flt.key_contains.lower() if flt.key_contains is not None else None
    return any(
        (flt.platform is None or on_platform(key, flt.platform))
        and (needle is None or needle in key.lower())
        for key in keys
    )


class MemoryMaintenance:
    """``Maintenance`` on ``Tables``."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def list_sessions(self, flt: SessionFilter) -> list[SessionSummary]:
        t = self._t
        now = t.now()
        async with t.lock:
            keys: dict[str, list[str]] = {}
            for link in sorted(t.keys.values(), key=lambda k: (k.created_at, k.key)):
                keys.setdefault(link.session_id, []).append(link.key)
            chosen = [
                row.session
                for row in t.sessions.values()
                if _matches(row.session, keys.get(row.session.id, []), flt, now)
            ]
            # Newest activity first, ties by id (a stable sort keeps the id order of ties).
            chosen.sort(key=lambda s: s.id)
            chosen.sort(key=lambda s: s.last_active_at, reverse=True)
            chosen = chosen[: max(flt.limit, 0)]
            summaries = []
            for session in chosen:
                mine = [r for r in t.turns.values() if r.session_id == session.id]
                usage = sum((r.usage for r in mine), Usage())
                summaries.append(
                    SessionSummary(session, keys.get(session.id, []), len(mine), usage)
                )
            return summaries

    async def delete_session(self, session_id: str) -> bool:
        async with self._t.lock:
            deleted, _ = self._t.delete_sessions([session_id])
            return deleted > 0

    async def expire_sessions(self, *, batch: int = 500) -> int:
        async with self._t.lock:
            return self._expire(self._t.now())

    def _expire(self, now: datetime) -> int:
        """Mark stale sessions expired, release their keys, log it (the caller holds the lock)."""
        t = self._t
        stale = [row for row in t.sessions.values() if is_stale(row.session, now, t.ttl, t.max_age)]
        for row in stale:
            cause = expiry_cause(row.session, t.ttl_days, t.max_age_days)
            row.update(status="expired")
            row.drop_lease()
            t.release_keys(row.session.id)
            t.log(row.session.id, "expired", now, cause=cause)
        return len(stale)

    async def prune(self, retention_days: float, *, batch: int = 500) -> PruneResult:
        t = self._t
        async with t.lock:
            expired = self._expire(t.now())
            cutoff = t.now() - timedelta(days=retention_days)
            old_ended = [
                sid
                for sid, row in t.sessions.items()
                if row.session.status in ENDED_STATUSES and row.session.last_active_at < cutoff
            ]
            sessions_deleted, events_deleted = t.delete_sessions(old_ended)
            old_deliveries = [
                row
                for row in t.inbox.values()
                if (
                    row.status in FINISHED
                    and row.finished_at is not None
                    and row.finished_at < cutoff
                )
                # Never handled within the whole retention period: nobody ever will.
                or (row.status in UNFINISHED and row.received_at < cutoff)
            ]
            for delivery in old_deliveries:
                del t.inbox[delivery.pk]
                del t.delivery_ids[delivery.delivery_id]
            for ref in [ref for ref, at in t.posted.items() if at < cutoff]:
                del t.posted[ref]
            # Turns recorded without a session age out on their own.
            for turn_id in [
                r.turn_id
                for r in t.turns.values()
                if r.session_id is None and r.finished_at < cutoff
            ]:
                del t.turns[turn_id]
            # Decided before the retention period, or could no longer be decided by then.
            old_approvals = [
                a.id
                for a in t.approvals.values()
                if a.expires_at < cutoff or (a.decided_at is not None and a.decided_at < cutoff)
            ]
            for approval_id in old_approvals:
                del t.approvals[approval_id]
            quota_cutoff = t.now() - QUOTA_RETENTION
            kept_admissions = [e for e in t.admissions if e[1] >= quota_cutoff]
            kept_spend = [e for e in t.spend if e[1] >= quota_cutoff]
            quota_events = len(t.admissions) - len(kept_admissions) + len(t.spend) - len(kept_spend)
            t.admissions, t.spend = kept_admissions, kept_spend
            return PruneResult(
                sessions_expired=expired,
                sessions_deleted=sessions_deleted,
                deliveries_deleted=len(old_deliveries),
                events_deleted=events_deleted,
                approvals_deleted=len(old_approvals),
                quota_events_deleted=quota_events,
            )

    async def erase_author(
        self,
        source: str,
        author_id: str,
        *,
        replacement: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
        cause: str,
        batch: int = 500,
    ) -> EraseResult:
        t = self._t
        now = t.now()
        async with t.lock:
            # Every new content first: a failing replacement leaves everything as it was.
            changes: list[tuple[str, int, list[dict[str, Any]]]] = []
            for sid, entries in sorted(t.transcripts.items()):
                for i, entry in enumerate(entries):
                    if entry.source == source and entry.author_id == author_id:
                        given = json_copy(entry.content, op="erase_author")
                        new = json_copy(replacement(given), op="erase_author")
                        changes.append((sid, i, new))
            for sid, i, content in changes:
                entries = t.transcripts[sid]
                entries[i] = replace(entries[i], content=content, author_name=None)
            sessions = list(dict.fromkeys(sid for sid, _, _ in changes))
            for sid in sessions:
                t.log(sid, "author_erased", now, cause=cause)
            doomed = [
                row
                for row in t.inbox.values()
                if row.source == source and row.payload.get("author_id") == author_id
            ]
            for row in doomed:
                del t.inbox[row.pk]
                del t.delivery_ids[row.delivery_id]
            return EraseResult(
                messages=len(changes), sessions=len(sessions), deliveries=len(doomed)
            )

    async def stats(self) -> StoreStats:
        t = self._t
        now = t.now()
        async with t.lock:
            live = sum(t.is_live(row.session, now) for row in t.sessions.values())
            by_status = {"pending": 0, "processing": 0, "failed": 0}
            for row in t.inbox.values():
                if row.status in by_status:
                    by_status[row.status] += 1
        return StoreStats(
            active_sessions=live,
            pending_deliveries=by_status["pending"],
            extra={
                "processing_deliveries": by_status["processing"],
                "failed_deliveries": by_status["failed"],
            },
        )
