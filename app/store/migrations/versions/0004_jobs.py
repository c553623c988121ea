"""Background jobs handed to a runner (Claude Managed Agents or a callback runner).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-09

* ``jobs``: one row per job; the callback token is stored only as its SHA-256; JSON as text,
  no foreign key (deleted with their session explicitly, and by age).

Only a new table: existing rows are untouched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("runner", sa.String(16), nullable=False),
        sa.Column("runner_id", sa.String(200), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("repo", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("asked_by", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("resume_count", sa.Integer(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("links", sa.Text(), nullable=True),
        sa.Column("poll_holder", sa.String(200), nullable=True),
        _ts("poll_until", nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("expires_at"),
        _ts("finished_at", nullable=True),
        sa.Column("told", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_session_id", "jobs", ["session_id"])
    op.create_index("ix_jobs_status_expires_at", "jobs", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_table("jobs")
