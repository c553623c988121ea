"""Plumbing the SQL roles share: URLs, engines, transactions, and driver errors as ``StoreError``.

Transactions (how the concurrency model of ``app.store.sql`` is put in place):

* ``Db.write()`` is a writing transaction. On SQLite the ``begin`` hook below issues
  ``BEGIN IMMEDIATE``, which takes the database's single write lock up front, so writers run
  one at a time (waiting up to ``SQLITE_BUSY_TIMEOUT_MS``) and a read-then-write sequence can
  never be overtaken. On PostgreSQL it is a plain READ COMMITTED transaction; the role modules
  lock what they decide on (``FOR UPDATE``, ``SKIP LOCKED``) or compare-and-set.
* ``Db.read()`` is a read-only transaction: a plain deferred ``BEGIN`` on SQLite, which in WAL
  mode reads a consistent snapshot without queueing behind writers and, never writing, cannot
  hit the lock-upgrade deadlock that makes deferred transactions unsafe for writers.

Errors: ``guard`` turns any driver, SQLAlchemy, OS or timeout failure into ``StoreError`` with
a short, secret-free description (no SQL, no parameters, no URL).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar

import asyncpg
from alembic.util import CommandError
from sqlalchemy import BigInteger, bindparam, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.errors import StoreError
from app.store.types import as_utc

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql.dml import Insert as PgInsert
    from sqlalchemy.dialects.sqlite.dml import Insert as SqliteInsert
    from sqlalchemy.sql.schema import Table

log = logging.getLogger(__name__)

# SQLite: how long a writer waits for the write lock before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS: Final = 5000
# PostgreSQL: connecting, one statement on the server, and the client's own backstop (seconds;
# the backstop also covers a silent network, where the server's timeout never reports back).
PG_CONNECT_TIMEOUT: Final = 5.0
PG_STATEMENT_TIMEOUT_MS: Final = 30_000
PG_LOCK_TIMEOUT_MS: Final = 10_000
PG_COMMAND_TIMEOUT: Final = 60.0
# How long a caller waits for a free pooled connection before the store reports an error.
POOL_TIMEOUT: Final = 15.0

P = ParamSpec("P")
T = TypeVar("T")

_DRIVER_ERRORS: Final = (
    SQLAlchemyError,
    # e.g. the database is at a revision this code does not know (a newer release migrated it)
    CommandError,
    OSError,
    TimeoutError,
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


def describe(exc: BaseException) -> str:
    """A short, secret-free description of a driver failure (no SQL, no parameters, no URL)."""
    inner: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        inner = exc.orig
        # SQLAlchemy's asyncpg adapter wraps the driver's exception once more; name that one.
        if isinstance(inner.__cause__, asyncpg.PostgresError | asyncpg.InterfaceError):
            inner = inner.__cause__
    lines = str(inner).strip().splitlines()
    first = lines[0] if lines else ""
    # SQLAlchemy's asyncpg adapter prefixes the driver class: "<class '...'>: message".
    if first.startswith("<class ") and ">: " in first:
        first = first.split(">: ", 1)[1]
    name = type(inner).__name__
    return (f"{name}: {first}" if first else name)[:240]


def guard(fn: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Turn any driver, SQLAlchemy, OS or timeout failure into ``StoreError``."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except StoreError:
            raise
        except _DRIVER_ERRORS as exc:
            raise StoreError(f"store.{fn.__name__} failed: {describe(exc)}") from exc

    return wrapper


def lock_key(namespace: str, name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock`` (Python's hash() is salted)."""
    digest = hashlib.blake2b(f"{namespace}\0{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def engine_url(url: str) -> URL:
    """Map a user-facing database URL to the async driver SQLAlchemy should use."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise StoreError("database URL is malformed") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise StoreError("SQLite needs a file path (sqlite:///path/to/threadline.db)")
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
        # libpq spells it sslmode; asyncpg takes the same values as ``ssl``.
        if "sslmode" in parsed.query:
            mode = parsed.query["sslmode"]
            parsed = parsed.difference_update_query(["sslmode"])
            if "ssl" not in parsed.query:
                parsed = parsed.update_query_dict({"ssl": mode})
        return parsed
    raise StoreError(f"unsupported database scheme {backend!r}; use sqlite:/// or postgresql://")


def create_engine(url: URL, *, pool_size: int) -> AsyncEngine:
    """The pooled engine for ``url`` (from ``engine_url``); nothing connects yet."""
    if url.get_backend_name() == "postgresql":
        return create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=2 * pool_size,
            pool_timeout=POOL_TIMEOUT,
            # A connection that died with the server is replaced on checkout, so the
            # store recovers by itself once the database is back.
            pool_pre_ping=True,
            pool_recycle=1800,
            connect_args={
                "timeout": PG_CONNECT_TIMEOUT,
                "command_timeout": PG_COMMAND_TIMEOUT,
                "server_settings": {
                    "application_name": "threadline",
                    "statement_timeout": str(PG_STATEMENT_TIMEOUT_MS),
                    "lock_timeout": str(PG_LOCK_TIMEOUT_MS),
                    "idle_in_transaction_session_timeout": "60000",
                },
            },
        )
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=2 * pool_size,
        pool_timeout=POOL_TIMEOUT,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )
    _install_sqlite_hooks(engine, Path(url.database or ""))
    return engine


class Db:
    """What every SQL role shares: the engine's transactions, the clock, the liveness limits
    (TTL and maximum age), the dialect.

    The engine belongs to ``SqlStore``, which creates and disposes of it; a ``Db`` only uses it.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        ttl_days: float,
        max_age_days: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"
        self.ttl = timedelta(days=ttl_days)
        self.ttl_days = ttl_days
        self.max_age = timedelta(days=max_age_days)
        self.max_age_days = max_age_days
        self._clock = clock
        # Same pool; the option only tells the SQLite begin hook to use a deferred BEGIN.
        self._read_engine = engine.execution_options(threadline_read_only=True)

    def now(self) -> datetime:
        """The injected clock's time as aware UTC: the store never asks the server."""
        return as_utc(self._clock())

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A writing transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success."""
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction (deferred ``BEGIN`` on SQLite)."""
        async with self._read_engine.begin() as conn:
            yield conn

    def insert(self, table: Table) -> PgInsert | SqliteInsert:
        """An INSERT that can take ``ON CONFLICT``: both dialects spell it the same way, only
        the construct differs."""
        return pg_insert(table) if self.pg else sqlite_insert(table)

    @staticmethod
    async def advisory_lock(conn: AsyncConnection, key: int) -> None:
        """PostgreSQL only: a lock held until this transaction ends."""
        stmt = text("SELECT pg_advisory_xact_lock(:key)").bindparams(
            bindparam("key", type_=BigInteger)
        )
        await conn.execute(stmt, {"key": key})


def _install_sqlite_hooks(engine: AsyncEngine, path: Path) -> None:
    """WAL, busy timeout, foreign keys, and our own BEGIN (IMMEDIATE for writers)."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "do_connect")
    def _make_parent(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> None:
        # Created on first connect rather than in the constructor, so a bad path surfaces as
        # a StoreError from the first call (ping/migrate), like any other connection failure.
        path.parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Stop the sqlite3 module from issuing its own (deferred) BEGIN; we issue ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA journal_mode")
            (mode,) = cursor.fetchone()
            if str(mode).lower() != "wal":
                try:
                    cursor.execute("PRAGMA journal_mode = WAL")
                except sqlite3.OperationalError:
                    # Switching needs the file to itself and does not wait for the busy
                    # timeout; another connection is using or converting it right now. WAL
                    # is a property of the file, so one success is enough, and migrate()
                    # retries until it holds (ensure_wal).
                    log.debug("journal_mode=WAL deferred: database busy")
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("threadline_read_only"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


async def ensure_wal(engine: AsyncEngine) -> None:
    """Switch the SQLite file to WAL if a connect hook could not (it was busy then)."""
    for _ in range(50):
        async with engine.connect() as conn:
            # The raw driver connection: PRAGMA journal_mode must run outside a
            # transaction, and SQLAlchemy would begin one first.
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            try:
                cursor = await raw.execute("PRAGMA journal_mode = WAL")
                row = await cursor.fetchone()
                await cursor.close()
            except sqlite3.OperationalError:
                row = None
        if row is not None:
            if str(row[0]).lower() != "wal":
                # e.g. a file system without shared memory: slower, still correct.
                log.warning("SQLite refused WAL mode (journal_mode=%s)", row[0])
            return
        await asyncio.sleep(0.1)
    log.warning("SQLite stayed busy; WAL mode is not enabled yet")
