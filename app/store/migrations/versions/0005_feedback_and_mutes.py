"""Votes on answers, and threads muted while the bot follows threads.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09

* ``feedback``: one row per person per answer (channel, message ts); a second vote replaces it.
* ``thread_mutes``: one row per Slack thread key muted with ``@bot mute``.

Only new tables: existing rows are untouched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("message_ts", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=True),
        sa.Column("turn_id", sa.String(100), nullable=True),
        sa.Column("vote", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("channel", "message_ts", "user_id", name="pk_feedback"),
    )
    op.create_index("ix_feedback_updated_at", "feedback", ["updated_at"])
    op.create_index("ix_feedback_turn_id", "feedback", ["turn_id"])
    op.create_table(
        "thread_mutes",
        sa.Column("key", sa.String(1000), nullable=False),
        sa.Column("muted_by", sa.String(200), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("key", name="pk_thread_mutes"),
    )


def downgrade() -> None:
    op.drop_table("thread_mutes")
    op.drop_table("feedback")
