"""The store's tables, as SQLAlchemy Core metadata (shared by SQLite and PostgreSQL).

This module describes the schema the code queries; the migrations in ``migrations/versions``
create it explicitly and must be kept in step with it (a test compares the two).

Two column types smooth over the backends:

* ``UTCDateTime`` stores timezone-aware UTC everywhere. PostgreSQL keeps ``timestamptz``;
  SQLite has no time zones, so values are written as naive UTC text in one fixed format
  (which also makes SQLite's text comparison order the same as time order) and come back
  tagged as UTC.
* ``JSONText`` keeps JSON as plain text on both, so payloads and transcript content round-trip
  byte-for-byte the same way regardless of backend.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names, so migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on SQLite and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # Naive values are taken to be UTC already (the contract is UTC throughout).
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JSONText(TypeDecorator[Any]):
    """JSON stored as text; ``None`` stays SQL NULL."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(value)


# BIGSERIAL on PostgreSQL; on SQLite only a plain INTEGER PRIMARY KEY is the rowid alias.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("agent", String(100), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_active_at", UTCDateTime(), nullable=False),
    Column("resume_count", Integer, nullable=False, default=0),
    Column("lease_holder", String(200), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("fence", BigInteger, nullable=False, default=0),
    # "public" until the session holds internal content (migration 0002)
    Column("audience", String(16), nullable=False, server_default="public"),
    # resolve/stats/expiry filter live sessions by status and activity; listing sorts by it.
    Index("ix_sessions_status_last_active_at", "status", "last_active_at"),
    Index("ix_sessions_last_active_at", "last_active_at"),
)

session_keys = Table(
    "session_keys",
    metadata,
    Column("key", String(1000), primary_key=True),
    Column(
        "session_id",
        String(36),
        ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("url", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_session_keys_session_id", "session_id"),
)

transcript = Table(
    "transcript",
    metadata,
    Column(
        "session_id",
        String(36),
        ForeignKey("sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("role", String(16), nullable=False),
    Column("content", JSONText(), nullable=False),
    Column("author_id", String(200), nullable=True),
    Column("author_name", String(200), nullable=True),
    Column("source", String(32), nullable=True),
    Column("turn_id", String(100), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    # the platform message a user message came from (migration 0002); edits find it by this
    Column("ref", String(500), nullable=True),
    Index("ix_transcript_ref", "ref"),
)

# Turns and events are logs: no foreign key, so a record never fails because its session was
# deleted meanwhile (and a turn may have no session at all). They are deleted explicitly.
turns = Table(
    "turns",
    metadata,
    Column("turn_id", String(100), primary_key=True),
    Column("session_id", String(36), nullable=True),
    Column("outcome", String(40), nullable=False),
    Column("model", String(100), nullable=True),
    Column("input_tokens", BigInteger, nullable=False, default=0),
    Column("output_tokens", BigInteger, nullable=False, default=0),
    Column("cache_read_tokens", BigInteger, nullable=False, default=0),
    Column("cache_write_tokens", BigInteger, nullable=False, default=0),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=False),
    Index("ix_turns_session_id_started_at", "session_id", "started_at"),
    Index("ix_turns_finished_at", "finished_at"),
)

inbox = Table(
    "inbox",
    metadata,
    Column("pk", BigIntPK, primary_key=True, autoincrement=True),
    Column("delivery_id", String(255), nullable=False),
    Column("source", String(32), nullable=False),
    Column("lane", String(1000), nullable=False),
    Column("payload", JSONText(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("holder", String(200), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("available_at", UTCDateTime(), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("error", Text, nullable=True),
    Column("reply_ref", JSONText(), nullable=True),
    UniqueConstraint("delivery_id", name="uq_inbox_delivery_id"),
    # claim: candidates by status (and due time), then "no earlier unfinished one in the lane".
    Index("ix_inbox_status_available_at", "status", "available_at"),
    Index("ix_inbox_lane_pk", "lane", "pk"),
    # prune: finished rows by age.
    Index("ix_inbox_finished_at", "finished_at"),
    # pending_count: a lane's unfinished rows (migration 0003).
    Index("ix_inbox_lane_status", "lane", "status"),
    # never reuse a pk on SQLite (deliveries are ordered and referred to by pk)
    sqlite_autoincrement=True,
)

session_events = Table(
    "session_events",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("session_id", String(36), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("cause", Text, nullable=True),
    Column("turn_id", String(100), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_session_events_session_id_id", "session_id", "id"),
    sqlite_autoincrement=True,
)

posted = Table(
    "posted",
    metadata,
    Column("ref", String(500), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_posted_created_at", "created_at"),
)

# Write actions waiting for a decision (migration 0003). No foreign key, like the logs: they
# are deleted with their session explicitly, and by age.
approvals = Table(
    "approvals",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("session_id", String(36), nullable=False),
    Column("turn_id", String(100), nullable=False),
    Column("tool", String(100), nullable=False),
    Column("tool_input", JSONText(), nullable=False),
    Column("summary", JSONText(), nullable=False),
    Column("asked_by", String(200), nullable=False),
    Column("deciders", String(16), nullable=False),
    Column("channel", String(100), nullable=True),
    Column("thread_ts", String(64), nullable=True),
    Column("card_ts", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", UTCDateTime(), nullable=True),
    Column("result", Text, nullable=True),
    Column("result_is_error", Boolean(), nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    # pending_approvals and deleting a session's approvals
    Index("ix_approvals_session_id_status", "session_id", "status"),
    # prune by age
    Index("ix_approvals_expires_at", "expires_at"),
)

# Quota events (migration 0003): one row per admitted turn (kind "admit", amount 1) or per
# token spend (kind "tokens"), per scope. Kept for QUOTA_RETENTION only.
quota_events = Table(
    "quota_events",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("scope", String(300), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # admit counts and tokens_since sums: one scope and kind over a time range
    Index("ix_quota_events_scope_kind_created_at", "scope", "kind", "created_at"),
    # usage_by_scope and prune: by time
    Index("ix_quota_events_created_at", "created_at"),
)

# Background jobs (migration 0004): one row per job handed to a runner. ``token_hash`` is the
# SHA-256 of a callback runner's bearer token (the token itself is never stored);
# ``poll_holder``/``poll_until`` let one replica at a time poll a job's runner; ``told``: the
# end of the current run is in the inbox (its result turn is on its way).
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("session_id", String(36), nullable=False),
    Column("runner", String(16), nullable=False),
    Column("runner_id", String(200), nullable=True),
    Column("title", Text, nullable=False),
    Column("instructions", Text, nullable=False),
    Column("repo", String(200), nullable=True),
    Column("status", String(16), nullable=False),
    Column("asked_by", String(200), nullable=False),
    Column("token_hash", String(64), nullable=True),
    Column("resume_count", Integer, nullable=False, default=0),
    Column("result", Text, nullable=True),
    Column("links", JSONText(), nullable=True),
    Column("poll_holder", String(200), nullable=True),
    Column("poll_until", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    # the end of the current run was handed to the inbox (its result turn is on its way)
    Column("told", Boolean(), nullable=False, default=False),
    # a session's jobs
    Index("ix_jobs_session_id", "session_id"),
    # pending jobs to poll or expire
    Index("ix_jobs_status_expires_at", "status", "expires_at"),
)

# Feedback on answers (migration 0005): one vote per person per answer (a second click
# replaces it), with an optional reason for a thumbs-down.
feedback = Table(
    "feedback",
    metadata,
    Column("channel", String(100), primary_key=True),
    Column("message_ts", String(64), primary_key=True),
    Column("user_id", String(200), primary_key=True),
    Column("session_id", String(36), nullable=True),
    Column("turn_id", String(100), nullable=True),
    Column("vote", String(8), nullable=False),
    Column("reason", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # metrics and the feedback command: by day
    Index("ix_feedback_updated_at", "updated_at"),
    # a turn's votes in sessions show
    Index("ix_feedback_turn_id", "turn_id"),
)

# Threads muted with ``@bot mute`` while FOLLOW_THREADS is on (migration 0005).
thread_mutes = Table(
    "thread_mutes",
    metadata,
    Column("key", String(1000), primary_key=True),
    Column("muted_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
