"""The store's contract: what the turn pipeline, the webhooks and the CLI need from a database.

One implementation (``SqlStore``) serves SQLite and PostgreSQL through SQLAlchemy's async core.
All times are timezone-aware UTC. Every method raises ``StoreError`` (never a driver exception)
when the database is unreachable, locked or fails.

Vocabulary
----------
* **key**: a printable platform key, ``{agent}:slack:C01::1763700000.000100``,
  ``{agent}:jira:AD-12``, ``{agent}:github:acme/widgets#42``.
* **live session**: status ``active`` and active within the TTL (``ttl_days``, given to the
  store's constructor with an injectable clock).
* **delivery**: one inbound message recorded in the inbox; the unit of work of the worker.
  Deliveries of one ``lane`` (the conversation key they arrived on) are handed out strictly in
  order and never two at once.
* **lease**: a session's turn lock across replicas, with a fencing counter; a turn commits only
  while it still holds the fence it was given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from app.core import KeyClaim, Usage

SessionStatus = Literal["active", "reset", "dropped", "expired"]
DeliveryStatus = Literal["pending", "processing", "done", "failed"]


@dataclass(frozen=True)
class Session:
    id: str
    agent: str
    status: SessionStatus
    created_at: datetime
    last_active_at: datetime
    resume_count: int


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


class Store(Protocol):
    """Persistence for sessions, keys, transcripts, the inbox, leases and the event log."""

    # lifecycle ---------------------------------------------------------------------------
    async def migrate(self) -> str:
        """Apply pending schema migrations (safe when several replicas start at once)."""
        ...

    async def schema_version(self) -> str | None: ...

    async def head_version(self) -> str: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...

    # inbox -------------------------------------------------------------------------------
    async def record_delivery(
        self, delivery_id: str, source: str, lane: str, payload: dict[str, Any]
    ) -> bool:
        """Insert a delivery; False when ``delivery_id`` was seen before (a duplicate)."""
        ...

    async def claim_delivery(self, holder: str, lease_seconds: float) -> Delivery | None:
        """Claim the oldest pending delivery whose lane has no earlier unfinished delivery.

        Deliveries left ``processing`` by a holder whose lease expired are claimable again.
        """
        ...

    async def extend_delivery(self, pk: int, holder: str, lease_seconds: float) -> bool: ...

    async def release_delivery(self, pk: int, holder: str, delay_seconds: float) -> None:
        """Hand a claimed delivery back (e.g. its session is busy elsewhere), not counted."""
        ...

    async def finish_delivery(
        self, pk: int, holder: str, status: DeliveryStatus, error: str | None = None
    ) -> None: ...

    async def set_reply_ref(
        self, pk: int, ref: dict[str, Any], *, holder: str | None = None
    ) -> bool:
        """Record what was posted for this delivery, so a retry edits instead of reposting.

        With ``holder``, only while that holder still has the delivery claimed (a turn that
        lost it must not overwrite what its successor recorded); returns whether it was set.
        """
        ...

    async def get_delivery(self, pk: int) -> Delivery | None: ...

    async def previous_delivery(self, lane: str, before_pk: int) -> Delivery | None:
        """The latest handled (done or failed) delivery of ``lane`` before ``before_pk``."""
        ...

    async def remember_posted(self, ref: str) -> None:
        """Remember an item we posted ourselves.

        Refs look like ``github:comment:123`` or ``jira:comment:AD-1/9``.
        """
        ...

    async def was_posted(self, ref: str) -> bool: ...

    # sessions and keys -------------------------------------------------------------------
    async def create_session(self, agent: str, *, turn_id: str | None = None) -> Session: ...

    async def get_session(self, session_id: str) -> Session | None: ...

    async def resolve(self, key: str) -> Session | None:
        """The live session a key points to, or None (unknown, ended or expired)."""
        ...

    async def register_key(
        self, key: str, session_id: str, *, url: str | None = None, turn_id: str | None = None
    ) -> KeyClaim:
        """First-writer-wins: never moves a key owned by another live session."""
        ...

    async def unlink_key(self, key: str, *, cause: str, turn_id: str | None = None) -> str | None:
        """Remove a key; returns the session id it pointed to, if any."""
        ...

    async def keys_for(self, session_id: str) -> list[KeyLink]: ...

    async def end_session(
        self,
        session_id: str,
        status: SessionStatus,
        *,
        cause: str,
        turn_id: str | None = None,
    ) -> None:
        """Mark a session reset/dropped/expired and release its keys."""
        ...

    # leases ------------------------------------------------------------------------------
    async def acquire_lease(self, session_id: str, holder: str, lease_seconds: float) -> int | None:
        """Take the session's turn lease; returns the new fencing token, None when held."""
        ...

    async def renew_lease(
        self, session_id: str, holder: str, fence: int, lease_seconds: float
    ) -> bool: ...

    async def release_lease(self, session_id: str, holder: str, fence: int) -> None: ...

    # transcript and turns ----------------------------------------------------------------
    async def load_transcript(self, session_id: str) -> list[TranscriptEntry]: ...

    async def load_messages(self, session_id: str) -> list[dict[str, Any]]:
        """The transcript as Messages API messages (``role``, ``content``) only: what a turn
        replays, without the per-row metadata (cheaper on long sessions)."""
        ...

    async def commit_turn(self, commit: TurnCommit) -> None:
        """Append messages, record usage, finish the delivery, touch the session: atomically.

        Raises ``LeaseLost`` (and writes nothing) when ``commit.fence`` is no longer current
        or the session is no longer active.
        """
        ...

    async def record_turn(self, record: TurnRecord) -> None:
        """Record a turn that did not commit messages (failed, refused, command)."""
        ...

    async def turns_for(self, session_id: str) -> list[TurnRecord]: ...

    # event log ---------------------------------------------------------------------------
    async def log_event(
        self, session_id: str, kind: str, *, cause: str | None = None, turn_id: str | None = None
    ) -> None: ...

    async def events_for(self, session_id: str) -> list[SessionEvent]: ...

    # operations --------------------------------------------------------------------------
    async def list_sessions(self, flt: SessionFilter) -> list[SessionSummary]: ...

    async def delete_session(self, session_id: str) -> bool: ...

    async def expire_sessions(self, *, batch: int = 500) -> int:
        """Mark sessions idle past the TTL as expired (logging an event); returns how many."""
        ...

    async def prune(self, retention_days: float, *, batch: int = 500) -> PruneResult:
        """Delete ended sessions (with transcripts, keys, events) and old inbox rows."""
        ...

    async def stats(self) -> StoreStats: ...
