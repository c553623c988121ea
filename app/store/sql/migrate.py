"""The schema's versions: upgrading with alembic, safely when several replicas start at once.

Migrations run only from here (there is no alembic.ini): ``upgrade`` opens one transaction
around the whole upgrade and hands its connection to ``migrations/env.py``. On SQLite that
transaction starts with ``BEGIN IMMEDIATE``, so a second process waits for the first and then
finds nothing left to do; on PostgreSQL a transaction-scoped advisory lock does the same.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.errors import StoreError
from app.store.sql.engine import Db, lock_key

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent.parent / "migrations"
MIGRATION_LOCK_KEY: Final = lock_key("threadline", "migrate")


def _alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    # configparser interpolation: a literal % in the path must be doubled.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def head_revision() -> str:
    """The newest revision this code ships."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a revision
        raise StoreError("the store's migrations are missing")
    return head


def _upgrade(connection: Connection) -> None:
    command.upgrade(_alembic_config(connection), "head")


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(db: Db) -> str:
    """Upgrade to the head revision; returns it. Unguarded: the caller maps errors."""
    # One transaction around the whole upgrade. On SQLite it starts with BEGIN IMMEDIATE,
    # so a second process waits for the first and then finds nothing left to do.
    async with db.write() as conn:
        if db.pg:
            # Migrations may take longer than an ordinary statement, and waiting for
            # another replica's upgrade is expected; the client backstop still applies.
            await conn.execute(text("SET LOCAL statement_timeout = 0"))
            await conn.execute(text("SET LOCAL lock_timeout = 0"))
            await db.advisory_lock(conn, MIGRATION_LOCK_KEY)
        await conn.run_sync(_upgrade)
    if not db.pg:
        await db.ensure_wal()
    return head_revision()


async def current_revision(db: Db) -> str | None:
    """The revision the database is at; None before the first upgrade."""
    async with db.read() as conn:
        return await conn.run_sync(_current_revision)
