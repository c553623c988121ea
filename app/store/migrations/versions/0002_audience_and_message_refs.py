"""A session's audience, and the platform message each transcript message came from.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

* ``sessions.audience``: ``public`` or ``internal`` (``app.core.Audience``), NOT NULL with the
  server default ``public``: an existing session has recorded nothing that restricts it yet,
  and the next turn that brings internal content raises it.
* ``transcript.ref``: nullable and indexed; rows written before this revision have none.

Both are added in place (``ALTER TABLE ... ADD COLUMN`` on SQLite too: batch mode only
recreates a table when a change needs it, and adding a column does not).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(
            sa.Column("audience", sa.String(16), nullable=False, server_default="public")
        )
    with op.batch_alter_table("transcript") as batch:
        batch.add_column(sa.Column("ref", sa.String(500), nullable=True))
    op.create_index("ix_transcript_ref", "transcript", ["ref"])


def downgrade() -> None:
    op.drop_index("ix_transcript_ref", table_name="transcript")
    with op.batch_alter_table("transcript") as batch:
        batch.drop_column("ref")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("audience")
