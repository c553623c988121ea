"""Alembic environment for Threadline's store.

Migrations run only programmatically, from ``SqlStore.migrate()``: the caller opens the
connection and the transaction (and takes the cross-replica lock), then hands the connection
over in ``config.attributes["connection"]``. There is no alembic.ini and no URL here.
"""

from __future__ import annotations

from alembic import context

from app.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Threadline's migrations run through SqlStore.migrate(), which passes a connection"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    # The caller's transaction spans every step, so a failed upgrade leaves nothing behind
    # (SQLite included: the store issues its own BEGIN, which makes DDL transactional there).
    transactional_ddl=True,
    render_as_batch=connection.dialect.name == "sqlite",
)

with context.begin_transaction():
    context.run_migrations()
