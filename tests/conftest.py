"""Database fixtures shared by the test suites.

* ``sqlite_url``: a fresh SQLite file in the test's temporary directory.
* ``postgres_url``: a fresh, uniquely named database on the server at ``TEST_DATABASE_URL``
  (created for the test, dropped afterwards); skipped when that variable is not set.
* ``store_url``: both of the above, as parameters ``sqlite`` and ``postgres``.
* ``clock``: a controllable UTC clock.
* ``store``: a migrated store that reads its time from ``clock``, on every backend: parameters
  ``memory`` (a ``MemoryStore``), ``sqlite`` and ``postgres`` (a ``SqlStore``). Tests of the
  contract take this one.
* ``sql_store``: a migrated ``SqlStore`` on ``store_url``, for tests of what only SQL has
  (migrations, drivers, locking).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.store import MemoryStore, SqlStore
from app.store.base import Store

TEST_TTL_DAYS = 30


class Clock:
    """A clock that stands still until told to move (timezone-aware UTC)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, *, seconds: float = 0, minutes: float = 0, days: float = 0) -> datetime:
        self._now += timedelta(seconds=seconds, minutes=minutes, days=days)
        return self._now


def _asyncpg_dsn(url: str) -> str:
    """The server URL as asyncpg wants it (plain postgresql://, no +driver)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'threadline.db'}"


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        pytest.skip("TEST_DATABASE_URL is not set; PostgreSQL tests need a server")
    name = f"tl_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(_asyncpg_dsn(server), timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield make_url(_asyncpg_dsn(server)).set(database=name).render_as_string(hide_password=False)
    admin = await asyncpg.connect(_asyncpg_dsn(server), timeout=10)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await admin.close()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def store_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def sql_store(store_url: str, clock: Clock) -> AsyncIterator[SqlStore]:
    s = SqlStore(store_url, ttl_days=TEST_TTL_DAYS, clock=clock.now)
    try:
        await s.migrate()
        yield s
    finally:
        await s.close()


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def store_target(request: pytest.FixtureRequest) -> str:
    """``memory``, or the database URL for the ``sqlite`` and ``postgres`` parameters."""
    if request.param == "memory":
        return "memory"
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
async def store(store_target: str, clock: Clock) -> AsyncIterator[Store]:
    s: Store
    if store_target == "memory":
        s = MemoryStore(ttl_days=TEST_TTL_DAYS, clock=clock.now)
    else:
        s = SqlStore(store_target, ttl_days=TEST_TTL_DAYS, clock=clock.now)
    try:
        await s.migrate()
        yield s
    finally:
        await s.close()
