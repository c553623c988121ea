"""Initial schema: sessions, keys, transcript, turns, inbox, session events, posted refs.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Written out explicitly (no autogenerate at runtime). Timestamps are ``DateTime(timezone=True)``
(timestamptz on PostgreSQL; naive-UTC text on SQLite, tagged UTC by the store's column type);
JSON is kept as text on both backends.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _bigint_pk(name: str) -> sa.Column[int]:
    # BIGSERIAL on PostgreSQL; INTEGER PRIMARY KEY (the rowid alias) on SQLite.
    return sa.Column(
        name,
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("agent", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("last_active_at"),
        sa.Column("resume_count", sa.Integer(), nullable=False),
        sa.Column("lease_holder", sa.String(200), nullable=True),
        _ts("lease_until", nullable=True),
        sa.Column("fence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    op.create_index("ix_sessions_status_last_active_at", "sessions", ["status", "last_active_at"])
    op.create_index("ix_sessions_last_active_at", "sessions", ["last_active_at"])

    op.create_table(
        "session_keys",
        sa.Column("key", sa.String(1000), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("key", name="pk_session_keys"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_session_keys_session_id_sessions",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_session_keys_session_id", "session_keys", ["session_id"])

    op.create_table(
        "transcript",
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("author_id", sa.String(200), nullable=True),
        sa.Column("author_name", sa.String(200), nullable=True),
        sa.Column("source", sa.String(32), nullable=True),
        sa.Column("turn_id", sa.String(100), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("session_id", "seq", name="pk_transcript"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_transcript_session_id_sessions",
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "turns",
        sa.Column("turn_id", sa.String(100), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=True),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.Column("model", sa.String(100), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        _ts("started_at"),
        _ts("finished_at"),
        sa.PrimaryKeyConstraint("turn_id", name="pk_turns"),
    )
    op.create_index("ix_turns_session_id_started_at", "turns", ["session_id", "started_at"])
    op.create_index("ix_turns_finished_at", "turns", ["finished_at"])

    op.create_table(
        "inbox",
        _bigint_pk("pk"),
        sa.Column("delivery_id", sa.String(255), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("lane", sa.String(1000), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(200), nullable=True),
        _ts("lease_until", nullable=True),
        _ts("available_at"),
        _ts("received_at"),
        _ts("finished_at", nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("reply_ref", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("pk", name="pk_inbox"),
        sa.UniqueConstraint("delivery_id", name="uq_inbox_delivery_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_inbox_status_available_at", "inbox", ["status", "available_at"])
    op.create_index("ix_inbox_lane_pk", "inbox", ["lane", "pk"])
    op.create_index("ix_inbox_finished_at", "inbox", ["finished_at"])

    op.create_table(
        "session_events",
        _bigint_pk("id"),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("cause", sa.Text(), nullable=True),
        sa.Column("turn_id", sa.String(100), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_session_events"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_session_events_session_id_id", "session_events", ["session_id", "id"])

    op.create_table(
        "posted",
        sa.Column("ref", sa.String(500), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("ref", name="pk_posted"),
    )
    op.create_index("ix_posted_created_at", "posted", ["created_at"])


def downgrade() -> None:
    op.drop_table("posted")
    op.drop_table("session_events")
    op.drop_table("inbox")
    op.drop_table("turns")
    op.drop_table("transcript")
    op.drop_table("session_keys")
    op.drop_table("sessions")
