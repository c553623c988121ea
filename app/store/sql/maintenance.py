"""The ``Maintenance`` role in SQL: listing, deleting, expiring and pruning sessions; erasing a
person (``erase.py``); stats.

Expiry and pruning work in batches, each its own short transaction, so a large backlog never
holds the write lock (SQLite) or many row locks (PostgreSQL) for long. On PostgreSQL a batch
picks its rows ``FOR UPDATE SKIP LOCKED`` (skipping sessions a turn is committing right now),
and expiry re-checks staleness in its ``UPDATE`` (compare-and-set), so a session touched
meanwhile is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, literal, or_, select, update
from sqlalchemy.sql.schema import Table

from app.core import Usage
from app.store.schema import (
    approvals,
    feedback,
    inbox,
    jobs,
    posted,
    quota_events,
    session_events,
    session_keys,
    sessions,
    transcript,
    turns,
)
from app.store.sql import erase
from app.store.sql.engine import Conn, Db, guard
from app.store.sql.rows import live, stale, to_session, usage_by_session
from app.store.types import (
    ENDED_STATUSES,
    FINISHED,
    QUOTA_RETENTION,
    UNFINISHED,
    EraseResult,
    PruneResult,
    SessionFilter,
    SessionSummary,
    StoreStats,
    expiry_cause,
)


async def _delete_sessions(conn: Conn, ids: Sequence[str]) -> tuple[int, int]:
    """Delete sessions and everything hanging off them; returns (sessions, events)."""
    await conn.execute(delete(session_keys).where(session_keys.c.session_id.in_(ids)))
    await conn.execute(delete(transcript).where(transcript.c.session_id.in_(ids)))
    await conn.execute(delete(turns).where(turns.c.session_id.in_(ids)))
    await conn.execute(delete(approvals).where(approvals.c.session_id.in_(ids)))
    await conn.execute(delete(jobs).where(jobs.c.session_id.in_(ids)))
    await conn.execute(delete(feedback).where(feedback.c.session_id.in_(ids)))
    events = await conn.execute(delete(session_events).where(session_events.c.session_id.in_(ids)))
    gone = await conn.execute(delete(sessions).where(sessions.c.id.in_(ids)))
    return gone.rowcount, events.rowcount


class SqlMaintenance:
    """``Maintenance`` on a ``Db``."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def _platform_match(self, key: Any, platform: str) -> ColumnElement[bool]:
        """The key's second ':'-separated part equals ``platform`` (agent names have no ':')."""
        first_colon = func.strpos(key, ":") if self._db.pg else func.instr(key, ":")
        rest = func.substr(key, first_colon + 1)
        return and_(
            first_colon > 0,
            or_(
                rest == platform,
                func.substr(key, first_colon + 1, len(platform) + 1) == platform + ":",
            ),
        )

    @guard
    async def list_sessions(self, flt: SessionFilter) -> list[SessionSummary]:
        now = self._db.now()
        conds: list[ColumnElement[bool]] = []
        if flt.status is not None:
            conds.append(sessions.c.status == flt.status)
        if flt.active_within_days is not None:
            conds.append(sessions.c.last_active_at >= now - timedelta(days=flt.active_within_days))
        if flt.older_than_days is not None:
            conds.append(sessions.c.last_active_at < now - timedelta(days=flt.older_than_days))
        if flt.platform is not None or flt.key_contains is not None:
            k = session_keys.alias("k")
            key_conds: list[ColumnElement[bool]] = [k.c.session_id == sessions.c.id]
            if flt.platform is not None:
                key_conds.append(self._platform_match(k.c.key, flt.platform))
            if flt.key_contains is not None:
                # Case-insensitive on both backends (SQLite's LIKE is, PostgreSQL's is not).
                key_conds.append(
                    func.lower(k.c.key).contains(flt.key_contains.lower(), autoescape=True)
                )
            conds.append(select(literal(1)).select_from(k).where(*key_conds).exists())
        stmt = (
            select(sessions)
            .where(*conds)
            .order_by(sessions.c.last_active_at.desc(), sessions.c.id)
            .limit(max(flt.limit, 0))
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
            ids = [r.id for r in rows]
            if not ids:
                return []
            key_rows = (
                await conn.execute(
                    select(session_keys.c.session_id, session_keys.c.key)
                    .where(session_keys.c.session_id.in_(ids))
                    .order_by(session_keys.c.created_at, session_keys.c.key)
                )
            ).all()
            usage = await usage_by_session(conn, ids)
        keys: dict[str, list[str]] = {i: [] for i in ids}
        for kr in key_rows:
            keys[kr.session_id].append(kr.key)
        return [
            SessionSummary(
                session=to_session(r),
                keys=keys[r.id],
                turns=usage.get(r.id, (0, Usage()))[0],
                usage=usage.get(r.id, (0, Usage()))[1],
            )
            for r in rows
        ]

    @guard
    async def delete_session(self, session_id: str) -> bool:
        async with self._db.write() as conn:
            deleted, _ = await _delete_sessions(conn, [session_id])
        return deleted > 0

    @guard
    async def expire_sessions(self, *, batch: int = 500) -> int:
        db = self._db
        batch = max(batch, 1)
        total = 0
        while True:
            now = db.now()
            is_stale = stale(now, db.ttl, db.max_age)
            async with db.write() as conn:
                ids = (
                    (
                        await conn.execute(
                            select(sessions.c.id)
                            .where(is_stale)
                            .order_by(sessions.c.last_active_at)
                            .limit(batch)
                            .with_for_update(skip_locked=True, key_share=True)
                        )
                    )
                    .scalars()
                    .all()
                )
                if not ids:
                    break
                expired = [
                    to_session(row)
                    for row in await conn.execute(
                        update(sessions)
                        .where(sessions.c.id.in_(ids), is_stale)
                        .values(status="expired", lease_holder=None, lease_until=None)
                        .returning(*sessions.c)
                    )
                ]
                if expired:
                    await conn.execute(
                        delete(session_keys).where(
                            session_keys.c.session_id.in_([s.id for s in expired])
                        )
                    )
                    await conn.execute(
                        session_events.insert(),
                        [
                            {
                                "session_id": s.id,
                                "kind": "expired",
                                "cause": expiry_cause(s, db.ttl_days, db.max_age_days),
                                "turn_id": None,
                                "created_at": now,
                            }
                            for s in expired
                        ],
                    )
            total += len(expired)
            if len(ids) < batch:
                break
        return total

    async def _delete_in_batches(self, table: Table, key: Any, where: Any, batch: int) -> int:
        """Delete matching rows ``batch`` at a time, each batch its own short transaction."""
        total = 0
        while True:
            async with self._db.write() as conn:
                chosen = select(key).where(where).limit(batch).scalar_subquery()
                result = await conn.execute(delete(table).where(key.in_(chosen)))
                count = result.rowcount
            total += count
            if count < batch:
                return total

    @guard
    async def prune(self, retention_days: float, *, batch: int = 500) -> PruneResult:
        batch = max(batch, 1)
        expired = await self.expire_sessions(batch=batch)
        cutoff = self._db.now() - timedelta(days=retention_days)
        sessions_deleted = events_deleted = 0
        old_ended = and_(sessions.c.status.in_(ENDED_STATUSES), sessions.c.last_active_at < cutoff)
        while True:
            async with self._db.write() as conn:
                ids = (
                    (
                        await conn.execute(
                            select(sessions.c.id)
                            .where(old_ended)
                            .order_by(sessions.c.last_active_at)
                            .limit(batch)
                            .with_for_update(skip_locked=True)
                        )
                    )
                    .scalars()
                    .all()
                )
                if ids:
                    n_sessions, n_events = await _delete_sessions(conn, ids)
                    sessions_deleted += n_sessions
                    events_deleted += n_events
            if len(ids) < batch:
                break
        deliveries_deleted = await self._delete_in_batches(
            inbox,
            inbox.c.pk,
            or_(
                and_(inbox.c.status.in_(FINISHED), inbox.c.finished_at < cutoff),
                # Never handled within the whole retention period: nobody ever will.
                and_(inbox.c.status.in_(UNFINISHED), inbox.c.received_at < cutoff),
            ),
            batch,
        )
        await self._delete_in_batches(posted, posted.c.ref, posted.c.created_at < cutoff, batch)
        # Turns recorded without a session (failed before one existed) have no owner to be
        # deleted with; they age out on their own.
        await self._delete_in_batches(
            turns,
            turns.c.turn_id,
            and_(turns.c.session_id.is_(None), turns.c.finished_at < cutoff),
            batch,
        )
        # Decided before the retention period, or could no longer be decided by then.
        approvals_deleted = await self._delete_in_batches(
            approvals,
            approvals.c.id,
            or_(approvals.c.expires_at < cutoff, approvals.c.decided_at < cutoff),
            batch,
        )
        quota_events_deleted = await self._delete_in_batches(
            quota_events,
            quota_events.c.id,
            quota_events.c.created_at < self._db.now() - QUOTA_RETENTION,
            batch,
        )
        return PruneResult(
            sessions_expired=expired,
            sessions_deleted=sessions_deleted,
            deliveries_deleted=deliveries_deleted,
            events_deleted=events_deleted,
            approvals_deleted=approvals_deleted,
            quota_events_deleted=quota_events_deleted,
        )

    @guard
    async def erase_author(
        self,
        source: str,
        author_id: str,
        *,
        replacement: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
        cause: str,
        batch: int = 500,
    ) -> EraseResult:
        return await erase.erase_author(
            self._db, source, author_id, replacement=replacement, cause=cause, batch=max(batch, 1)
        )

    @guard
    async def stats(self) -> StoreStats:
        now = self._db.now()
        async with self._db.read() as conn:
            n_live = (
                await conn.execute(
                    select(func.count())
                    .select_from(sessions)
                    .where(live(now, self._db.ttl, self._db.max_age))
                )
            ).scalar_one()
            rows = (
                await conn.execute(
                    select(inbox.c.status, func.count())
                    .where(inbox.c.status.in_(("pending", "processing", "failed")))
                    .group_by(inbox.c.status)
                )
            ).all()
        by_status = {status: int(n) for status, n in rows}
        return StoreStats(
            active_sessions=int(n_live),
            pending_deliveries=int(by_status.get("pending", 0)),
            extra={
                "processing_deliveries": int(by_status.get("processing", 0)),
                "failed_deliveries": int(by_status.get("failed", 0)),
            },
        )
