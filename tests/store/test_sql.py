"""What only the SQL store has: migrations, URLs, driver errors, and several stores (replicas)
on one database; SQLite's locking and PostgreSQL's pool.

``store_url`` and ``sql_store`` run these on SQLite and, with ``TEST_DATABASE_URL``, PostgreSQL.
The contract every store keeps is in ``test_contract.py``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.errors import StoreError
from app.store import SqlStore, open_store
from app.store.schema import metadata, sessions, transcript
from app.store.sql import migrate
from tests.conftest import TEST_TTL_DAYS, Clock

# migrations ---------------------------------------------------------------------------------


async def test_schema_version_is_none_before_migrating(store_url: str) -> None:
    fresh = SqlStore(store_url)
    try:
        assert await fresh.schema_version() is None
        assert await fresh.head_version() == "0005"
    finally:
        await fresh.close()


async def test_migrations_create_exactly_the_schema_the_code_uses(sql_store: SqlStore) -> None:
    # A plain engine on the same database (the store's own URL object keeps the password).
    engine = create_async_engine(sql_store._engine.url)

    def diff(conn: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))

    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []


async def test_concurrent_migrate_from_three_stores_on_a_fresh_database(store_url: str) -> None:
    stores = [SqlStore(store_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(s.migrate() for s in stores))
        assert results == ["0005"] * 3
        for s in stores:
            assert await s.schema_version() == "0005"
        # and the schema works
        session = await stores[0].create_session("tl")
        assert await stores[2].get_session(session.id) == session
    finally:
        for s in stores:
            await s.close()


async def test_upgrade_from_0001_keeps_data_and_fills_the_new_columns(store_url: str) -> None:
    s = SqlStore(store_url)
    try:
        # A database left at the first revision by an older release, with a conversation.
        async with s._engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(migrate._alembic_config(c), "0001"))
            # Only the columns revision 0001 has (the tables describe the newest schema).
            when = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
            await conn.execute(
                sessions.insert().values(
                    id="s1",
                    agent="tl",
                    status="active",
                    created_at=when,
                    last_active_at=when,
                    resume_count=0,
                    fence=0,
                )
            )
            await conn.execute(
                transcript.insert().values(
                    session_id="s1",
                    seq=1,
                    role="user",
                    content=[{"type": "text", "text": "hi"}],
                    created_at=when,
                )
            )
        assert await s.schema_version() == "0001"
        assert await s.migrate() == "0005"
        session = await s.get_session("s1")
        assert session is not None and session.audience == "public"
        [entry] = await s.load_transcript("s1")
        assert entry.ref is None and entry.content == [{"type": "text", "text": "hi"}]
        assert await s.raise_audience("s1", "internal", cause="internal content")
    finally:
        await s.close()


async def test_migrate_refuses_a_database_from_a_newer_release(sql_store: SqlStore) -> None:
    store = sql_store
    async with store._engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    assert await store.schema_version() == "9999"
    with pytest.raises(StoreError) as info:
        await store.migrate()
    assert type(info.value) is StoreError


async def test_open_store_builds_without_migrating(store_url: str) -> None:
    s = await open_store(store_url, ttl_days=7)
    try:
        assert await s.schema_version() is None
        await s.migrate()
        assert await s.schema_version() == await s.head_version()
    finally:
        await s.close()


# errors -------------------------------------------------------------------------------------


async def test_unreachable_postgres_raises_store_error_without_secrets() -> None:
    s = SqlStore("postgresql://postgres:s3cret-pw@127.0.0.1:1/x")
    try:
        with pytest.raises(StoreError) as info:
            await s.ping()
        assert type(info.value) is StoreError
        assert "s3cret-pw" not in str(info.value)
        assert len(str(info.value)) < 300
        with pytest.raises(StoreError):
            await s.migrate()
        with pytest.raises(StoreError):
            await s.resolve("tl:slack:C1::1")
    finally:
        await s.close()


async def test_postgres_scheme_alias_is_accepted() -> None:
    s = SqlStore("postgres://postgres@127.0.0.1:1/x")
    try:
        with pytest.raises(StoreError):
            await s.ping()
    finally:
        await s.close()


async def test_unwritable_sqlite_path_raises_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    s = SqlStore(f"sqlite:///{blocker}/sub/threadline.db")
    try:
        with pytest.raises(StoreError):
            await s.ping()
        with pytest.raises(StoreError):
            await s.migrate()
        with pytest.raises(StoreError):
            await s.record_delivery("d", "slack", "l", {})
    finally:
        await s.close()


async def test_sqlite_creates_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "threadline.db"
    s = SqlStore(f"sqlite:///{path}")
    try:
        await s.migrate()
        assert path.exists()
    finally:
        await s.close()
    # WAL is a persistent property of the file: it was switched on by the store.
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


@pytest.mark.parametrize(
    "url",
    ["mysql://u@h/db", "sqlite:///:memory:", "sqlite://", "not a url"],
)
def test_unsupported_urls_raise_store_error(url: str) -> None:
    with pytest.raises(StoreError):
        SqlStore(url)


# replicas and backend specifics ------------------------------------------------------------


async def test_register_key_race_across_store_instances(
    sql_store: SqlStore, store_url: str, clock: Clock
) -> None:
    store = sql_store
    replicas = [SqlStore(store_url, ttl_days=TEST_TTL_DAYS, clock=clock.now) for _ in range(3)]
    try:
        sessions = [await store.create_session("tl") for _ in range(30)]
        key = "tl:jira:AD-7"
        claims = await asyncio.gather(
            *(replicas[i % 3].register_key(key, s.id) for i, s in enumerate(sessions))
        )
    finally:
        for r in replicas:
            await r.close()
    assert sum(c.registered for c in claims) == 1
    assert len({c.owner_session_id for c in claims}) == 1


async def test_sqlite_reads_while_locked_and_writes_fail_cleanly(sqlite_url: str) -> None:
    s = SqlStore(sqlite_url)
    try:
        await s.migrate()
        session = await s.create_session("tl")
        await s.register_key("tl:jira:AD-1", session.id)
        # Another process holds SQLite's write lock.
        other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            # readers are not held up by a writer (WAL, deferred read transactions) ...
            assert await s.resolve("tl:jira:AD-1") == session
            # ... a writer waits for the busy timeout, then fails as a StoreError
            with pytest.raises(StoreError, match="locked"):
                await s.create_session("tl")
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert (await s.create_session("tl")).status == "active"
    finally:
        await s.close()


async def test_postgres_pool_recovers_after_connections_are_killed(
    postgres_url: str, clock: Clock
) -> None:
    s = SqlStore(postgres_url, clock=clock.now)
    try:
        await s.migrate()
        sessions = await asyncio.gather(*(s.create_session("tl") for _ in range(5)))
        # What a server restart does to the pool: every connection is gone.
        admin = await asyncpg.connect(postgres_url, timeout=10)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert killed >= 1
        for session in sessions:
            assert await s.get_session(session.id) == session
        await s.ping()
    finally:
        await s.close()
