"""The ``Inbox`` role in memory: the same lane order and claim rules as ``app.store.sql.inbox``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from app.errors import LaneFull
from app.store.memory.tables import InboxRow, Tables, json_copy
from app.store.types import FINISHED, UNFINISHED, Delivery, DeliveryStatus


class MemoryInbox:
    """``Inbox`` on ``Tables``."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def record_delivery(
        self,
        delivery_id: str,
        source: str,
        lane: str,
        payload: dict[str, Any],
        *,
        max_pending: int | None = None,
    ) -> bool:
        t = self._t
        now = t.now()
        stored = json_copy(payload, op="record_delivery")
        async with t.lock:
            if max_pending is not None and self._unfinished(lane) >= max_pending:
                raise LaneFull(f"{lane} has {max_pending} deliveries waiting")
            if delivery_id in t.delivery_ids:
                return False
            pk = t.next_pk()
            t.inbox[pk] = InboxRow(
                pk=pk,
                delivery_id=delivery_id,
                source=source,
                lane=lane,
                payload=stored,
                status="pending",
                attempts=0,
                available_at=now,
                received_at=now,
            )
            t.delivery_ids[delivery_id] = pk
            return True

    async def claim_delivery(self, holder: str, lease_seconds: float) -> Delivery | None:
        t = self._t
        now = t.now()
        async with t.lock:
            # In pk order: the first unfinished delivery of a lane blocks the rest of it.
            blocked: set[str] = set()
            chosen: InboxRow | None = None
            more = queued = False
            for row in t.inbox.values():
                if row.status not in UNFINISHED:
                    continue
                if chosen is not None and row.lane == chosen.lane:
                    queued = True
                elif row.lane not in blocked and row.claimable(now):
                    if chosen is None:
                        chosen = row
                    else:
                        more = True
                blocked.add(row.lane)
                if more and queued:
                    break
            if chosen is None:
                return None
            chosen.status = "processing"
            chosen.holder = holder
            chosen.lease_until = now + timedelta(seconds=lease_seconds)
            chosen.attempts += 1
            return replace(chosen.delivery(), more=more, queued=queued)

    async def extend_delivery(self, pk: int, holder: str, lease_seconds: float) -> bool:
        t = self._t
        until = t.now() + timedelta(seconds=lease_seconds)
        async with t.lock:
            row = t.inbox.get(pk)
            if row is None or not row.held_by(holder):
                return False
            row.lease_until = until
            return True

    async def release_delivery(self, pk: int, holder: str, delay_seconds: float) -> None:
        t = self._t
        now = t.now()
        async with t.lock:
            row = t.inbox.get(pk)
            if row is None or not row.held_by(holder):
                return
            row.status = "pending"
            row.holder = None
            row.lease_until = None
            row.available_at = now + timedelta(seconds=max(delay_seconds, 0.0))
            # A hand-back is not an attempt: undo the claim's increment.
            row.attempts = max(row.attempts - 1, 0)

    async def finish_delivery(
        self, pk: int, holder: str, status: DeliveryStatus, error: str | None = None
    ) -> None:
        if status not in FINISHED:
            raise ValueError(f"finish_delivery takes done or failed, not {status!r}")
        t = self._t
        now = t.now()
        async with t.lock:
            row = t.inbox.get(pk)
            if row is None or not row.held_by(holder):
                return
            row.status = status
            row.finished_at = now
            row.lease_until = None
            row.error = error

    async def set_reply_ref(
        self, pk: int, ref: dict[str, Any], *, holder: str | None = None
    ) -> bool:
        t = self._t
        stored = json_copy(ref, op="set_reply_ref")
        async with t.lock:
            row = t.inbox.get(pk)
            if row is None or (holder is not None and not row.held_by(holder)):
                return False
            row.reply_ref = stored
            return True

    async def get_delivery(self, pk: int) -> Delivery | None:
        async with self._t.lock:
            row = self._t.inbox.get(pk)
            return row.delivery() if row is not None else None

    async def pending_count(self, lane: str) -> int:
        async with self._t.lock:
            return self._unfinished(lane)

    def _unfinished(self, lane: str) -> int:
        return sum(row.lane == lane and row.status in UNFINISHED for row in self._t.inbox.values())

    async def processing_delivery(self, lane: str) -> Delivery | None:
        async with self._t.lock:
            rows = [
                r for r in self._t.inbox.values() if r.lane == lane and r.status == "processing"
            ]
            return min(rows, key=lambda r: r.pk).delivery() if rows else None

    async def previous_delivery(self, lane: str, before_pk: int) -> Delivery | None:
        async with self._t.lock:
            handled = [
                row
                for row in self._t.inbox.values()
                if row.lane == lane and row.pk < before_pk and row.status in FINISHED
            ]
            return handled[-1].delivery() if handled else None

    async def remember_posted(self, ref: str) -> None:
        t = self._t
        now = t.now()
        async with t.lock:
            t.posted.setdefault(ref, now)

    async def remember_once(self, ref: str) -> bool:
        t = self._t
        now = t.now()
        async with t.lock:
            if ref in t.posted:
                return False
            t.posted[ref] = now
            return True

    async def was_posted(self, ref: str) -> bool:
        async with self._t.lock:
            return ref in self._t.posted

    async def any_posted(self, refs: Sequence[str]) -> bool:
        async with self._t.lock:
            return any(ref in self._t.posted for ref in refs)
