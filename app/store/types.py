"""The store's value types, and the one rule that decides whether a session is live.

Every time in these types is timezone-aware UTC. Everything here is plain data: frozen
dataclasses a caller may keep and compare, whatever store produced them.

Vocabulary
----------
* **key**: a printable platform key, ``{agent}:slack:C01::1763700000.000100``,
  ``{agent}:jira:AD-12``, ``{agent}:github:acme/widgets#42``.
* **live session**: status ``active`` and active within the TTL (``ttl_days``, given to the
  store's constructor with an injectable clock); see ``is_live``.
* **delivery**: one inbound message recorded in the inbox; the unit of work of the worker.
  Deliveries of one ``lane`` (the conversation key they arrived on) are handed out strictly in
  order and never two at once.
* **lease**: a session's turn lock across replicas, with a fencing counter; a turn commits only
  while it still holds the fence it was given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from app.core import Usage

SessionStatus = Literal["active", "reset", "dropped", "expired"]
DeliveryStatus = Literal["pending", "processing", "done", "failed"]

# The statuses of a session that has ended (end_session takes only these).
ENDED_STATUSES: Final[tuple[SessionStatus, ...]] = ("reset", "dropped", "expired")
# Deliveries not yet handled: they hold up later deliveries of their lane.
UNFINISHED: Final[tuple[DeliveryStatus, ...]] = ("pending", "processing")
# How a delivery ends (finish_delivery takes only these).
FINISHED: Final[tuple[DeliveryStatus, ...]] = ("done", "failed")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (every store's default clock)."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` as timezone-aware UTC; a naive value is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Session:
    id: str
    agent: str
    status: SessionStatus
    created_at: datetime
    last_active_at: datetime
    resume_count: int


# -- liveness: the one rule ------------------------------------------------------------------
# A session is live while its status is ``active`` and it was active at most ``ttl`` ago
# (exactly at the TTL still counts). ``app.store.sql.rows.live`` states the same rule as a SQL
# condition built from ``live_since``; the memory store calls ``is_live``. Change them together.


def live_since(now: datetime, ttl: timedelta) -> datetime:
    """The oldest ``last_active_at`` a live session may have at ``now``."""
    return now - ttl


def is_live(session: Session, now: datetime, ttl: timedelta) -> bool:
    """Whether ``session``'s keys still lead to it: active, and idle no longer than ``ttl``."""
    return session.status == "active" and session.last_active_at >= live_since(now, ttl)


def is_stale(session: Session, now: datetime, ttl: timedelta) -> bool:
    """Still marked ``active`` but idle past the TTL: what ``expire_sessions`` marks expired."""
    return session.status == "active" and not is_live(session, now, ttl)


# -- the other records -----------------------------------------------------------------------


@dataclass(frozen=True)
class KeyLink:
    key: str
    session_id: str
    url: str | None
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    id: int
    delivery_id: str
    source: str  # "slack" | "github" | "jira"
    lane: str
    payload: dict[str, Any]
    status: DeliveryStatus
    attempts: int
    received_at: datetime
    reply_ref: dict[str, Any] | None


@dataclass(frozen=True)
class TranscriptEntry:
    seq: int
    role: Literal["user", "assistant"]
    content: list[dict[str, Any]]
    author_id: str | None
    author_name: str | None
    source: str | None
    turn_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class NewMessage:
    role: Literal["user", "assistant"]
    content: list[dict[str, Any]]
    author_id: str | None = None
    author_name: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class TurnCommit:
    """Everything a completed turn writes, in one transaction."""

    session_id: str
    fence: int
    turn_id: str
    messages: Sequence[NewMessage]
    usage: Usage
    model: str
    outcome: str  # "ok" | "ok_after_reset" | ...
    delivery_pk: int | None = None
    holder: str | None = None
    started_at: datetime | None = None


@dataclass(frozen=True)
class TurnRecord:
    turn_id: str
    session_id: str | None
    outcome: str
    model: str | None
    usage: Usage
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True)
class SessionEvent:
    session_id: str
    kind: str  # created, resumed, key_linked, key_unlinked, dropped, reset, expired
    cause: str | None
    turn_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class SessionSummary:
    session: Session
    keys: list[str]
    turns: int
    usage: Usage


@dataclass(frozen=True)
class PruneResult:
    sessions_expired: int = 0
    sessions_deleted: int = 0
    deliveries_deleted: int = 0
    events_deleted: int = 0


@dataclass(frozen=True)
class SessionFilter:
    platform: str | None = None  # "slack" | "jira" | "github"
    key_contains: str | None = None
    active_within_days: float | None = None
    older_than_days: float | None = None
    status: SessionStatus | None = None
    limit: int = 50


@dataclass
class StoreStats:
    active_sessions: int = 0
    pending_deliveries: int = 0
    extra: dict[str, int] = field(default_factory=dict)
