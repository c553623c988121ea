"""Approvals of write actions, quota events, and an index for a lane's unfinished deliveries.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08

* ``approvals``: one row per write action waiting for (or past) a decision; JSON as text, no
  foreign key (deleted with their session explicitly, and by age).
* ``quota_events``: one row per admitted turn or token spend, per scope; kept two days.
* ``ix_inbox_lane_status``: counting a conversation's unfinished deliveries stays cheap
  however many handled ones the lane holds.

Only new tables and an index: existing rows are untouched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("turn_id", sa.String(100), nullable=False),
        sa.Column("tool", sa.String(100), nullable=False),
        sa.Column("tool_input", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("asked_by", sa.String(200), nullable=False),
        sa.Column("deciders", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(100), nullable=True),
        sa.Column("thread_ts", sa.String(64), nullable=True),
        sa.Column("card_ts", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        _ts("decided_at", nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("result_is_error", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
    )
    op.create_index("ix_approvals_session_id_status", "approvals", ["session_id", "status"])
    op.create_index("ix_approvals_expires_at", "approvals", ["expires_at"])

    op.create_table(
        "quota_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("scope", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_quota_events"),
    )
    op.create_index(
        "ix_quota_events_scope_kind_created_at", "quota_events", ["scope", "kind", "created_at"]
    )
    op.create_index("ix_quota_events_created_at", "quota_events", ["created_at"])

    op.create_index("ix_inbox_lane_status", "inbox", ["lane", "status"])


def downgrade() -> None:
    op.drop_index("ix_inbox_lane_status", table_name="inbox")
    op.drop_table("quota_events")
    op.drop_table("approvals")
