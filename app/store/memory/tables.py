"""The memory store's data: one dict per SQL table, one lock, one clock.

Every role class of the memory store shares one ``Tables`` and does all its reading and
writing under ``Tables.lock``, so each store call is atomic, as a transaction is in SQL. What
goes in and comes out is copied through JSON, as the SQL store's ``JSONText`` columns do: a
caller can neither change stored data by mutating what it passed or got back, nor store what a
database could not (a value that is not JSON raises ``StoreError``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from app.errors import StoreError
from app.store.types import (
    Approval,
    Delivery,
    DeliveryStatus,
    KeyLink,
    Session,
    SessionEvent,
    TranscriptEntry,
    TurnRecord,
    Vote,
    as_utc,
    is_live,
)

if TYPE_CHECKING:
    from app.store.memory.jobs import JobRow

J = TypeVar("J")


def json_copy(value: J, *, op: str) -> J:
    """A deep copy of ``value`` as it would come back from a JSON column."""
    try:
        copied: J = json.loads(json.dumps(value, ensure_ascii=False))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"store.{op} failed: {type(exc).__name__}: {exc}"[:240]) from exc
    return copied


def approval_copy(approval: Approval, *, op: str) -> Approval:
    """``approval`` with its JSON fields copied, so a caller cannot change what is stored."""
    return replace(
        approval,
        tool_input=json_copy(approval.tool_input, op=op),
        summary=json_copy(approval.summary, op=op),
    )


@dataclass
class SessionRow:
    """A session with its turn lease (the columns ``Session`` does not show)."""

    session: Session
    lease_holder: str | None = None
    lease_until: datetime | None = None
    fence: int = 0

    def update(self, **changes: Any) -> None:
        self.session = replace(self.session, **changes)

    def drop_lease(self) -> None:
        self.lease_holder = None
        self.lease_until = None


@dataclass
class InboxRow:
    """A delivery with its claim (holder, lease, due time) and outcome."""

    pk: int
    delivery_id: str
    source: str
    lane: str
    payload: dict[str, Any]
    status: DeliveryStatus
    attempts: int
    available_at: datetime
    received_at: datetime
    holder: str | None = None
    lease_until: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    reply_ref: dict[str, Any] | None = None

    def claimable(self, now: datetime) -> bool:
        """Pending and due, or processing under a lease that has lapsed."""
        if self.status == "pending":
            return self.available_at <= now
        return (
            self.status == "processing" and self.lease_until is not None and self.lease_until < now
        )

    def held_by(self, holder: str) -> bool:
        return self.status == "processing" and self.holder == holder

    def delivery(self) -> Delivery:
        return Delivery(
            id=self.pk,
            delivery_id=self.delivery_id,
            source=self.source,
            lane=self.lane,
            payload=json_copy(self.payload, op="get_delivery"),
            status=self.status,
            attempts=self.attempts,
            received_at=self.received_at,
            reply_ref=json_copy(self.reply_ref, op="get_delivery"),
        )


class Tables:
    """All of the memory store's data, the lock that guards it, the clock and the liveness
    limits (TTL and maximum age)."""

    def __init__(
        self, *, ttl_days: float, max_age_days: float, clock: Callable[[], datetime]
    ) -> None:
        self.lock = asyncio.Lock()
        self.ttl = timedelta(days=ttl_days)
        self.ttl_days = ttl_days
        self.max_age = timedelta(days=max_age_days)
        self.max_age_days = max_age_days
        self._clock = clock
        self.sessions: dict[str, SessionRow] = {}
        self.keys: dict[str, KeyLink] = {}
        self.transcripts: dict[str, list[TranscriptEntry]] = {}
        self.turns: dict[str, TurnRecord] = {}
        self.events: dict[str, list[SessionEvent]] = {}
        # pk order is insertion order: dicts keep it, and claims rely on it.
        self.inbox: dict[int, InboxRow] = {}
        self.delivery_ids: dict[str, int] = {}
        self.posted: dict[str, datetime] = {}
        self.approvals: dict[str, Approval] = {}
        # quota events: (scope, time) per admission; (scope, time, tokens) per spend
        self.admissions: list[tuple[str, datetime]] = []
        self.spend: list[tuple[str, datetime, int]] = []
        # muted Slack thread keys: who muted each, and when
        self.mutes: dict[str, tuple[str, datetime]] = {}
        # votes on answers by (channel, message ts, user)
        self.votes: dict[tuple[str, str, str], Vote] = {}
        self.jobs: dict[str, JobRow] = {}
        self._last_pk = 0

    def now(self) -> datetime:
        """The injected clock's time as aware UTC."""
        return as_utc(self._clock())

    def next_pk(self) -> int:
        """Delivery pks only grow, never reused (like SQLite's AUTOINCREMENT)."""
        self._last_pk += 1
        return self._last_pk

    def live(self, session_id: str, now: datetime) -> bool:
        row = self.sessions.get(session_id)
        return row is not None and self.is_live(row.session, now)

    def is_live(self, session: Session, now: datetime) -> bool:
        """``app.store.types.is_live`` with this store's TTL and maximum age."""
        return is_live(session, now, self.ttl, self.max_age)

    def log(
        self,
        session_id: str,
        kind: str,
        now: datetime,
        *,
        cause: str | None = None,
        turn_id: str | None = None,
    ) -> None:
        """Append to a session's event log (known session or not: the log has no key)."""
        event = SessionEvent(session_id, kind, cause, turn_id, now)
        self.events.setdefault(session_id, []).append(event)

    def raise_audience(
        self,
        session_id: str,
        audience: str,
        below: tuple[str, ...],
        now: datetime,
        *,
        cause: str,
        turn_id: str | None,
    ) -> bool:
        """Set the session's audience to ``audience`` if it is one of ``below``, logging
        ``audience_changed``; whether it changed (the caller holds the lock)."""
        row = self.sessions.get(session_id)
        if row is None or row.session.audience not in below:
            return False
        row.update(audience=audience)
        self.log(session_id, "audience_changed", now, cause=cause, turn_id=turn_id)
        return True

    def keys_of(self, session_id: str) -> list[KeyLink]:
        links = [k for k in self.keys.values() if k.session_id == session_id]
        return sorted(links, key=lambda k: (k.created_at, k.key))

    def release_keys(self, session_id: str) -> None:
        for link in self.keys_of(session_id):
            del self.keys[link.key]

    def delete_sessions(self, ids: Iterable[str]) -> tuple[int, int]:
        """Delete sessions and everything hanging off them; returns (sessions, events)."""
        sessions = events = 0
        for sid in ids:
            self.release_keys(sid)
            for approval_id in [a.id for a in self.approvals.values() if a.session_id == sid]:
                del self.approvals[approval_id]
            for job_id in [j for j, row in self.jobs.items() if row.job.session_id == sid]:
                del self.jobs[job_id]
            for vote in [k for k, v in self.votes.items() if v.session_id == sid]:
                del self.votes[vote]
            self.transcripts.pop(sid, None)
            for turn_id in [t.turn_id for t in self.turns.values() if t.session_id == sid]:
                del self.turns[turn_id]
            events += len(self.events.pop(sid, []))
            sessions += self.sessions.pop(sid, None) is not None
        return sessions, events
