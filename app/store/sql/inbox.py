"""The ``Inbox`` role in SQL: deliveries handed out per lane in order, and posted refs.

How the lane order holds under concurrency:

* **Recording**: on PostgreSQL, inserts are serialised per lane with a transaction-scoped
  advisory lock, so pk order equals commit order within a lane (otherwise a claimer could see
  pk 11 committed before pk 10 and run them out of order). On SQLite, ``BEGIN IMMEDIATE``
  already serialises all writers. Duplicates are refused by ``ON CONFLICT DO NOTHING``.
* **Claiming**: pick the oldest claimable delivery with no earlier unfinished one in its lane
  (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent claimers skip each other's
  candidates), then compare-and-set it to ``processing``; a lost race retries a few rounds.
* **Extending, releasing, finishing, recording a reply**: each UPDATE re-checks holder and
  status in its own ``WHERE``, so a holder that lost its claim changes nothing.
* **Counting a lane's unfinished deliveries**: one indexed count (``ix_inbox_lane_status``);
  ``record_delivery(max_pending=...)`` counts and inserts in one transaction, under the lane's
  lock.
* **Remembering a ref once**: ``INSERT ... ON CONFLICT DO NOTHING RETURNING``: of concurrent
  callers on any replica, exactly the one whose row went in gets True.

The statements of a turn's hot path are built once, with bound parameters (``_Statements``):
SQLAlchemy then neither rebuilds them nor recomputes their cache keys on every call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Exists,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    update,
)

from app.errors import LaneFull
from app.store.schema import inbox, posted
from app.store.sql.engine import Conn, Db, guard, lock_key
from app.store.sql.rows import to_delivery
from app.store.types import FINISHED, UNFINISHED, Delivery, DeliveryStatus

# Rounds of pick-then-claim before claim_delivery reports "nothing now" under heavy contention.
CLAIM_ROUNDS: Final = 8
# What a claim does with its delivery inside its transaction (connection, delivery, holder,
# the claim's time and lease end): the delivery as the claim returns it.
Opener = Callable[[Conn, Delivery, str, datetime, datetime], Awaitable[Delivery]]


def _claimable(table: Any, now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """Pending and due, or processing under a lease that has lapsed."""
    return or_(
        and_(table.c.status == "pending", table.c.available_at <= now),
        and_(table.c.status == "processing", table.c.lease_until < now),
    )


def _earlier_unfinished(row: Any, prior: Any) -> Exists:
    """Whether ``row``'s lane has an unfinished delivery before it (``prior``: an alias)."""
    return (
        select(literal(1))
        .select_from(prior)
        .where(
            prior.c.lane == row.c.lane,
            prior.c.pk < row.c.pk,
            prior.c.status.in_(UNFINISHED),
        )
        .exists()
    )


class _Statements:
    """The hot path's statements, built once; each call binds its values (``p_*``)."""

    def __init__(self, db: Db) -> None:
        now: BindParameter[datetime] = bindparam("p_now")
        self.record = (
            db.insert(inbox)
            .on_conflict_do_nothing(index_elements=["delivery_id"])
            .returning(inbox.c.pk)
        )
        cand = inbox.alias("cand")
        prior = inbox.alias("prior")
        later = inbox.alias("later")
        other = inbox.alias("other")
        earlier_unfinished = _earlier_unfinished(cand, prior)
        later_unfinished = (
            select(literal(1))
            .select_from(later)
            .where(
                later.c.lane == cand.c.lane,
                later.c.pk > cand.c.pk,
                later.c.status.in_(UNFINISHED),
            )
            .exists()
        )
        # Whether claiming again now may find one: checked, not locked, so concurrent
        # claimers still skip only each other's one candidate.
        other_claimable = (
            select(literal(1))
            .select_from(other)
            .where(
                other.c.pk != cand.c.pk,
                _claimable(other, now),
                ~_earlier_unfinished(other, inbox.alias("other_prior")),
            )
            .exists()
        )
        self.pick = (
            select(cand.c.pk, later_unfinished.label("queued"), other_claimable.label("more"))
            .where(_claimable(cand, now), ~earlier_unfinished)
            .order_by(cand.c.pk)
            .limit(1)
            # PostgreSQL: concurrent claimers skip each other's candidates instead of
            # queueing on them. A skipped row still counts as unfinished for its lane in the
            # NOT EXISTS above, so skipping never lets a later delivery of that lane through.
            .with_for_update(skip_locked=True, of=cand)
        )
        # Compare-and-set: only if it is still claimable (another claimer may have taken it
        # between our snapshot and our lock).
        self.take = (
            update(inbox)
            .where(inbox.c.pk == bindparam("p_pk"), _claimable(inbox, now))
            .values(
                status="processing",
                holder=bindparam("p_holder"),
                lease_until=bindparam("p_until"),
                attempts=inbox.c.attempts + 1,
            )
            .returning(*inbox.c)
        )
        held = (
            inbox.c.pk == bindparam("p_pk"),
            inbox.c.holder == bindparam("p_holder"),
            inbox.c.status == "processing",
        )
        self.extend = update(inbox).where(*held).values(lease_until=bindparam("p_until"))
        self.finish = (
            update(inbox)
            .where(*held)
            .values(
                status=bindparam("p_status"),
                finished_at=now,
                lease_until=None,
                error=bindparam("p_error"),
            )
        )
        reply_ref = bindparam("p_ref", type_=inbox.c.reply_ref.type)
        self.reply_ref = (
            update(inbox).where(inbox.c.pk == bindparam("p_pk")).values(reply_ref=reply_ref)
        )
        self.held_reply_ref = update(inbox).where(*held).values(reply_ref=reply_ref)
        self.previous = (
            select(inbox)
            .where(
                inbox.c.lane == bindparam("p_lane"),
                inbox.c.pk < bindparam("p_pk"),
                inbox.c.status.in_(FINISHED),
            )
            .order_by(inbox.c.pk.desc())
            .limit(1)
        )
        self.pending = (
            select(func.count())
            .select_from(inbox)
            .where(inbox.c.lane == bindparam("p_lane"), inbox.c.status.in_(UNFINISHED))
        )


class SqlInbox:
    """``Inbox`` on a ``Db``."""

    def __init__(self, db: Db) -> None:
        self._db = db
        self._sql = _Statements(db)

    @guard
    async def record_delivery(
        self,
        delivery_id: str,
        source: str,
        lane: str,
        payload: dict[str, Any],
        *,
        max_pending: int | None = None,
    ) -> bool:
        db = self._db
        now = db.now()
        async with db.write() as conn:
            if db.pg:
                # Serialise inserts per lane so pk order equals commit order within a lane;
                # otherwise a claimer could see pk 11 committed before pk 10 and run them out
                # of order. (On SQLite, BEGIN IMMEDIATE already serialises all writers.) The
                # same lock makes the count below exact for this lane.
                await db.advisory_lock(conn, lock_key("lane", lane))
            if max_pending is not None:
                waiting = (await conn.execute(self._sql.pending, {"p_lane": lane})).scalar_one()
                if int(waiting) >= max_pending:
                    raise LaneFull(f"{lane} has {max_pending} deliveries waiting")
            row = {
                "delivery_id": delivery_id,
                "source": source,
                "lane": lane,
                "payload": payload,
                "status": "pending",
                "attempts": 0,
                "available_at": now,
                "received_at": now,
            }
            fresh = (await conn.execute(self._sql.record, row)).first() is not None
            if fresh:
                await db.notify_inbox(conn)
            return fresh

    @guard
    async def claim_delivery(self, holder: str, lease_seconds: float) -> Delivery | None:
        return await self.claim_with(holder, lease_seconds)

    async def claim_with(
        self, holder: str, lease_seconds: float, opener: Opener | None = None
    ) -> Delivery | None:
        """``claim_delivery``; with ``opener``, the claimed delivery as ``opener`` makes it
        within the claim's transaction (``SqlStore.claim_turn``)."""
        now = self._db.now()
        until = now + timedelta(seconds=lease_seconds)
        for _ in range(CLAIM_ROUNDS):
            async with self._db.write() as conn:
                picked = (await conn.execute(self._sql.pick, {"p_now": now})).first()
                if picked is None:
                    return None
                taken = {"p_pk": picked.pk, "p_now": now, "p_holder": holder, "p_until": until}
                row = (await conn.execute(self._sql.take, taken)).first()
                if row is None:
                    continue  # another claimer took the pick first
                more, queued = bool(picked.more), bool(picked.queued)
                delivery = replace(to_delivery(row), more=more, queued=queued)
                return (
                    delivery if opener is None else await opener(conn, delivery, holder, now, until)
                )
        return None

    @guard
    async def extend_delivery(self, pk: int, holder: str, lease_seconds: float) -> bool:
        until = self._db.now() + timedelta(seconds=lease_seconds)
        async with self._db.write() as conn:
            result = await conn.execute(
                self._sql.extend, {"p_pk": pk, "p_holder": holder, "p_until": until}
            )
            return result.rowcount > 0

    @guard
    async def release_delivery(self, pk: int, holder: str, delay_seconds: float) -> None:
        now = self._db.now()
        async with self._db.write() as conn:
            await conn.execute(
                update(inbox)
                .where(inbox.c.pk == pk, inbox.c.holder == holder, inbox.c.status == "processing")
                .values(
                    status="pending",
                    holder=None,
                    lease_until=None,
                    available_at=now + timedelta(seconds=max(delay_seconds, 0.0)),
                    # A hand-back is not an attempt: undo the claim's increment.
                    attempts=case((inbox.c.attempts > 0, inbox.c.attempts - 1), else_=0),
                )
            )

    @guard
    async def finish_delivery(
        self, pk: int, holder: str, status: DeliveryStatus, error: str | None = None
    ) -> None:
        if status not in FINISHED:
            raise ValueError(f"finish_delivery takes done or failed, not {status!r}")
        finished = {
            "p_pk": pk,
            "p_holder": holder,
            "p_status": status,
            "p_now": self._db.now(),
            "p_error": error,
        }
        async with self._db.write() as conn:
            await conn.execute(self._sql.finish, finished)

    @guard
    async def set_reply_ref(
        self, pk: int, ref: dict[str, Any], *, holder: str | None = None
    ) -> bool:
        stmt = self._sql.reply_ref if holder is None else self._sql.held_reply_ref
        async with self._db.write() as conn:
            result = await conn.execute(stmt, {"p_pk": pk, "p_holder": holder, "p_ref": ref})
        return bool(result.rowcount)

    @guard
    async def get_delivery(self, pk: int) -> Delivery | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(inbox).where(inbox.c.pk == pk))).first()
        return to_delivery(row) if row is not None else None

    @guard
    async def pending_count(self, lane: str) -> int:
        async with self._db.read() as conn:
            return int((await conn.execute(self._sql.pending, {"p_lane": lane})).scalar_one())

    @guard
    async def processing_delivery(self, lane: str) -> Delivery | None:
        stmt = (
            select(inbox)
            .where(inbox.c.lane == lane, inbox.c.status == "processing")
            .order_by(inbox.c.pk)
            .limit(1)
        )
        async with self._db.read() as conn:
            row = (await conn.execute(stmt)).first()
        return to_delivery(row) if row is not None else None

    @guard
    async def previous_delivery(self, lane: str, before_pk: int) -> Delivery | None:
        async with self._db.read() as conn:
            return await self.previous_in(conn, lane, before_pk)

    async def previous_in(self, conn: Conn, lane: str, before_pk: int) -> Delivery | None:
        """``previous_delivery`` in the caller's transaction."""
        found = {"p_lane": lane, "p_pk": before_pk}
        row = (await conn.execute(self._sql.previous, found)).first()
        return to_delivery(row) if row is not None else None

    @guard
    async def remember_posted(self, ref: str) -> None:
        now = self._db.now()
        async with self._db.write() as conn:
            await conn.execute(
                self._db.insert(posted)
                .values(ref=ref, created_at=now)
                .on_conflict_do_nothing(index_elements=["ref"])
            )

    @guard
    async def remember_once(self, ref: str) -> bool:
        now = self._db.now()
        async with self._db.write() as conn:
            inserted = await conn.execute(
                self._db.insert(posted)
                .values(ref=ref, created_at=now)
                .on_conflict_do_nothing(index_elements=["ref"])
                .returning(posted.c.ref)
            )
            return inserted.first() is not None

    @guard
    async def was_posted(self, ref: str) -> bool:
        async with self._db.read() as conn:
            row = (await conn.execute(select(posted.c.ref).where(posted.c.ref == ref))).first()
        return row is not None

    @guard
    async def any_posted(self, refs: Sequence[str]) -> bool:
        if not refs:
            return False
        stmt = select(posted.c.ref).where(posted.c.ref.in_(list(refs))).limit(1)
        async with self._db.read() as conn:
            return (await conn.execute(stmt)).first() is not None
