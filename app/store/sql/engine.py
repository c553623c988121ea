"""Plumbing the SQL roles share: URLs, engines, transactions, and driver errors as ``StoreError``.

Transactions (how the concurrency model of ``app.store.sql`` is put in place):

* ``Db.write()`` is a writing transaction. On SQLite it starts with ``BEGIN IMMEDIATE``, which
  takes the database's single write lock up front, so writers run one at a time and a
  read-then-write sequence can never be overtaken. On PostgreSQL it is a plain READ COMMITTED
  transaction; the role modules lock what they decide on (``FOR UPDATE``, ``SKIP LOCKED``) or
  compare-and-set.
* ``Db.read()`` is a read-only transaction: a plain deferred ``BEGIN`` on SQLite, which in WAL
  mode reads a consistent snapshot without queueing behind writers and, never writing, cannot
  hit the lock-upgrade deadlock that makes deferred transactions unsafe for writers. On
  PostgreSQL reads run in autocommit: under READ COMMITTED each statement sees its own
  snapshot either way, and a read then costs no ``BEGIN`` and ``COMMIT`` round trips.
* PostgreSQL connections are checked when taken from the pool with one empty query (a dead
  one is replaced at once, so the store recovers by itself when the database is back);
  SQLAlchemy's own pre-ping would wrap that query in a transaction, three round trips.

SQLite runs on the event loop's thread (``LoopSqlite``): one connection, each statement run
at once rather than handed to a driver thread. A transaction's ``await conn.execute(...)``
calls therefore never give the loop away, so the write lock is never held while other
coroutines run, and a turn's statements cost no thread hops. Only taking the lock waits: when
another process holds it, ``BEGIN IMMEDIATE`` is retried with asynchronous sleeps (the loop
keeps serving) for up to ``SQLITE_BUSY_TIMEOUT_MS``, then fails as "database is locked". A
transaction body must await nothing but its connection (nor open another transaction): the
connection is the process's only one, and whoever waits for it waits for that body.

Wake-ups: on PostgreSQL, recording a delivery notifies ``INBOX_CHANNEL`` in its transaction,
and ``InboxListener`` keeps a dedicated connection listening, so every replica looks at the
inbox the moment a delivery is committed, not at its next poll. If that connection is lost,
polling carries on and the listener reconnects. SQLite needs none: one process records and
claims, and wakes its worker itself.

Counting: ``Db`` reports every transaction (``write``/``read``) and statement to an optional
``activity`` callback (``/metrics``: ``threadline_store_transactions_total``,
``threadline_store_statements_total``).

Errors: ``guard`` turns any driver, SQLAlchemy, OS or timeout failure into ``StoreError`` with
a short, secret-free description (no SQL, no parameters, no URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, Final, ParamSpec, Protocol, TypeVar, overload

import asyncpg
from alembic.util import CommandError
from sqlalchemy import BigInteger, bindparam, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection, CursorResult, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.util import await_
from sqlalchemy.util.typing import TupleAny, TypeVarTuple, Unpack

from app.errors import StoreError
from app.store.types import as_utc

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql.dml import Insert as PgInsert
    from sqlalchemy.dialects.sqlite.dml import Insert as SqliteInsert
    from sqlalchemy.engine.interfaces import _CoreAnyExecuteParams
    from sqlalchemy.sql.base import Executable
    from sqlalchemy.sql.schema import Table
    from sqlalchemy.sql.selectable import TypedReturnsRows

log = logging.getLogger(__name__)

# SQLite: how long a writer waits for the write lock before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS: Final = 5000
# SQLite on the loop's thread: the longest a statement may block the loop on a lock held by
# another process (rare: in WAL mode only taking the write lock waits, and that is retried
# with asynchronous sleeps instead).
SQLITE_LOOP_BUSY_MS: Final = 20
# PostgreSQL: connecting, one statement on the server, and the client's own backstop (seconds;
# the backstop also covers a silent network, where the server's timeout never reports back).
PG_CONNECT_TIMEOUT: Final = 5.0
PG_STATEMENT_TIMEOUT_MS: Final = 30_000
PG_LOCK_TIMEOUT_MS: Final = 10_000
PG_COMMAND_TIMEOUT: Final = 60.0
# How long a caller waits for a free pooled connection before the store reports an error.
POOL_TIMEOUT: Final = 15.0
# PostgreSQL: the channel a recorded delivery is announced on, and the longest pause between
# attempts to listen again after the listening connection was lost (seconds).
INBOX_CHANNEL: Final = "threadline_inbox"
LISTEN_RETRY_MAX: Final = 30.0

P = ParamSpec("P")
T = TypeVar("T")
Ts = TypeVarTuple("Ts")
Activity = Callable[[str], None]

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
    """The pooled engine for ``url`` (from ``engine_url``); nothing connects yet.

    On SQLite the engine only names the file: ``Db`` runs the statements on the loop's thread
    (``LoopSqlite``) and closes that connection when the engine is disposed of.
    """
    if url.get_backend_name() == "postgresql":
        return create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=2 * pool_size,
            pool_timeout=POOL_TIMEOUT,
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
    return create_async_engine(url, pool_size=pool_size, max_overflow=2 * pool_size)


_NOTIFY_INBOX: Final = text(f"NOTIFY {INBOX_CHANNEL}")


class Conn(Protocol):
    """What a transaction body gets: ``execute`` (and ``run_sync`` for alembic), as on
    SQLAlchemy's ``AsyncConnection``, which is one."""

    @overload
    async def execute(
        self,
        statement: TypedReturnsRows[Unpack[Ts]],
        parameters: _CoreAnyExecuteParams | None = None,
    ) -> CursorResult[Unpack[Ts]]: ...

    @overload
    async def execute(
        self, statement: Executable, parameters: _CoreAnyExecuteParams | None = None
    ) -> CursorResult[Unpack[TupleAny]]: ...

    async def execute(
        self, statement: Executable, parameters: _CoreAnyExecuteParams | None = None
    ) -> CursorResult[Unpack[TupleAny]]: ...

    async def run_sync(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T: ...


class LoopConnection:
    """``Conn`` over a synchronous SQLite connection: each call runs at once, on the loop's
    thread, and never suspends."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @overload
    async def execute(
        self,
        statement: TypedReturnsRows[Unpack[Ts]],
        parameters: _CoreAnyExecuteParams | None = None,
    ) -> CursorResult[Unpack[Ts]]: ...

    @overload
    async def execute(
        self, statement: Executable, parameters: _CoreAnyExecuteParams | None = None
    ) -> CursorResult[Unpack[TupleAny]]: ...

    async def execute(
        self, statement: Executable, parameters: _CoreAnyExecuteParams | None = None
    ) -> CursorResult[Unpack[TupleAny]]:
        return self._conn.execute(statement, parameters)

    async def run_sync(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return fn(self._conn, *args, **kwargs)


class LoopSqlite:
    """The SQLite file on the event loop's thread: one connection, one transaction at a time.

    A transaction body never suspends (``LoopConnection``), so the asyncio lock that hands the
    connection out is free whenever a transaction starts, unless a body awaited something else.
    """

    def __init__(self, url: URL, activity: Activity | None) -> None:
        path = Path(url.database or "")
        self.engine: Engine = create_sync_engine(
            url.set(drivername="sqlite+pysqlite"),
            poolclass=StaticPool,
            connect_args={"check_same_thread": False, "timeout": SQLITE_LOOP_BUSY_MS / 1000},
        )
        _install_sqlite_hooks(self.engine, path, busy_ms=SQLITE_LOOP_BUSY_MS)
        if activity is not None:
            _count_statements(self.engine, activity)
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = self.engine.connect()
        return self._conn

    @asynccontextmanager
    async def transaction(self, *, immediate: bool) -> AsyncIterator[LoopConnection]:
        async with self._lock:
            conn = self._connection()
            raw = conn.connection.dbapi_connection
            assert isinstance(raw, sqlite3.Connection)
            if immediate:
                await _begin_immediate(raw)
            else:
                raw.execute("BEGIN")
            # The begin hook sees the transaction open and leaves it; SQLAlchemy commits it
            # (or rolls it back on an exception) when the block ends.
            with conn.begin():
                yield LoopConnection(conn)

    async def wal(self) -> str:
        """Switch the file to WAL (outside any transaction); the journal mode it is in."""
        async with self._lock:
            raw = self._connection().connection.dbapi_connection
            assert isinstance(raw, sqlite3.Connection)
            for _ in range(50):
                try:
                    return str(raw.execute("PRAGMA journal_mode = WAL").fetchone()[0])
                except sqlite3.OperationalError:
                    await asyncio.sleep(0.1)
        return "busy"


async def _begin_immediate(raw: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``; while another process holds the write lock, retry after short
    asynchronous sleeps (the loop keeps serving) until ``SQLITE_BUSY_TIMEOUT_MS``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.002
    while True:
        try:
            raw.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or loop.time() >= deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.05)


class Db:
    """What every SQL role shares: the engine's transactions, the clock, the liveness limits
    (TTL and maximum age), the dialect.

    The engine belongs to ``SqlStore``, which creates and disposes of it; a ``Db`` only uses it
    (on SQLite, its own connection on the loop's thread, closed with the engine).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        ttl_days: float,
        max_age_days: float,
        clock: Callable[[], datetime],
        activity: Activity | None = None,
    ) -> None:
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"
        self.ttl = timedelta(days=ttl_days)
        self.ttl_days = ttl_days
        self.max_age = timedelta(days=max_age_days)
        self.max_age_days = max_age_days
        self._clock = clock
        self._activity = activity
        self._local: LoopSqlite | None = None
        if engine.dialect.name == "sqlite":
            local = self._local = LoopSqlite(engine.url, activity)
            event.listen(engine.sync_engine, "engine_disposed", lambda _: local.close())
        else:
            _ping_on_checkout(engine.sync_engine)
            if activity is not None:
                _count_statements(engine.sync_engine, activity)
        # PostgreSQL: reads need no transaction (see the module's docstring).
        self._read_engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    def now(self) -> datetime:
        """The injected clock's time as aware UTC: the store never asks the server."""
        return as_utc(self._clock())

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Conn]:
        """A writing transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success."""
        if self._activity is not None:
            self._activity("write")
        if self._local is not None:
            async with self._local.transaction(immediate=True) as conn:
                yield conn
            return
        async with self.engine.begin() as pg:
            yield pg

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        """A read-only transaction (deferred ``BEGIN`` on SQLite)."""
        if self._activity is not None:
            self._activity("read")
        if self._local is not None:
            async with self._local.transaction(immediate=False) as conn:
                yield conn
            return
        async with self._read_engine.connect() as pg:
            yield pg

    async def ensure_wal(self) -> None:
        """SQLite: switch the file to WAL if a connect hook could not (it was busy then)."""
        if self._local is None:
            return
        mode = await self._local.wal()
        if mode.lower() != "wal":
            # e.g. a file system without shared memory: slower, still correct.
            log.warning("SQLite is not in WAL mode (journal_mode=%s)", mode)

    def insert(self, table: Table) -> PgInsert | SqliteInsert:
        """An INSERT that can take ``ON CONFLICT``: both dialects spell it the same way, only
        the construct differs."""
        return pg_insert(table) if self.pg else sqlite_insert(table)

    async def notify_inbox(self, conn: Conn) -> None:
        """PostgreSQL: tell every listening replica, when this transaction commits, that a
        delivery was recorded (nothing on SQLite)."""
        if self.pg:
            await conn.execute(_NOTIFY_INBOX)

    @staticmethod
    async def advisory_lock(conn: Conn, key: int) -> None:
        """PostgreSQL only: a lock held until this transaction ends."""
        stmt = text("SELECT pg_advisory_xact_lock(:key)").bindparams(
            bindparam("key", type_=BigInteger)
        )
        await conn.execute(stmt, {"key": key})


class InboxListener:
    """PostgreSQL: ``LISTEN`` on ``INBOX_CHANNEL`` over a connection of its own (outside the
    pool); each notification calls ``on_notify``. Lost, it reconnects after a growing pause
    and calls ``on_notify`` once more for what was recorded meanwhile."""

    def __init__(self, url: URL, on_notify: Callable[[], None]) -> None:
        self._url = url
        self._on_notify = on_notify
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="threadline-inbox-listener")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        pause = 1.0
        while True:
            try:
                conn = await asyncpg.connect(
                    host=self._url.host,
                    port=self._url.port,
                    user=self._url.username,
                    password=self._url.password,
                    database=self._url.database,
                    ssl=self._url.query.get("ssl"),
                    timeout=PG_CONNECT_TIMEOUT,
                )
            except (*_DRIVER_ERRORS, ValueError) as exc:
                log.warning("inbox notifications unavailable, polling: %s", describe(exc))
                await asyncio.sleep(pause)
                pause = min(pause * 2, LISTEN_RETRY_MAX)
                continue
            try:
                await self._until_lost(conn)
                pause = 1.0
                log.warning("inbox notifications lost, polling until they are back")
            except _DRIVER_ERRORS as exc:
                log.warning("inbox notifications failed, polling: %s", describe(exc))
            finally:
                with contextlib.suppress(*_DRIVER_ERRORS):
                    await conn.close(timeout=PG_CONNECT_TIMEOUT)
            await asyncio.sleep(pause)

    async def _until_lost(self, conn: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _: lost.set())
        await conn.add_listener(INBOX_CHANNEL, lambda *_: self._on_notify())
        self._on_notify()  # what was recorded while nobody listened
        await lost.wait()


def _ping_on_checkout(engine: Engine) -> None:
    """A pooled PostgreSQL connection answers one empty query before it is used; a dead one
    (the server restarted, a proxy dropped it) is replaced by the pool, up to three times."""

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
        try:
            await_(dbapi_connection.driver_connection.fetchrow(";"))
        except _DRIVER_ERRORS as exc:
            raise DisconnectionError(describe(exc)) from exc


def _count_statements(engine: Engine, activity: Activity) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _counted(*_: Any) -> None:
        activity("statement")


def _install_sqlite_hooks(engine: Engine, path: Path, *, busy_ms: int) -> None:
    """WAL, busy timeout, foreign keys, and our own BEGIN (IMMEDIATE for writers)."""

    @event.listens_for(engine, "do_connect")
    def _make_parent(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> None:
        # Created on first connect rather than in the constructor, so a bad path surfaces as
        # a StoreError from the first call (ping/migrate), like any other connection failure.
        path.parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Stop the sqlite3 module from issuing its own (deferred) BEGIN; we issue ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
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
                    # retries until it holds (Db.ensure_wal).
                    log.debug("journal_mode=WAL deferred: database busy")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # LoopSqlite opens the transaction itself (BEGIN IMMEDIATE for writers) before
        # SQLAlchemy's begin; anything else on this engine (none today) gets a writer's.
        raw = conn.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
