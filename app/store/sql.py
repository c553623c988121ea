"""``SqlStore``: the ``Store`` contract on SQLite (aiosqlite) and PostgreSQL (asyncpg).

One code path serves both databases through SQLAlchemy's async core; the few places that
differ are marked. How concurrency is made safe on each:

* **SQLite**: every writing transaction starts with ``BEGIN IMMEDIATE``, which takes the
  database's single write lock up front, so writers run one at a time (waiting up to the busy
  timeout) and a read-then-write sequence can never be overtaken. Read-only methods use a
  plain deferred ``BEGIN``: in WAL mode they read a consistent snapshot without queueing
  behind writers, and since they never write they cannot hit the lock-upgrade deadlock that
  makes deferred transactions unsafe for writers.
* **PostgreSQL** (READ COMMITTED): rows that decide an outcome are locked (``FOR UPDATE``,
  ``SKIP LOCKED`` for queue-like picks), inserts that may race use ``ON CONFLICT``, and updates
  that hand something over re-check their preconditions in their own ``WHERE`` clause
  (compare-and-set) so a lost race changes nothing.

Every time the store writes or compares comes from the injected clock, never from the
database server, so tests can move time and both backends agree.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Row,
    and_,
    bindparam,
    case,
    delete,
    event,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.core import KeyClaim, Usage
from app.errors import LeaseLost, StoreError
from app.store.base import (
    Delivery,
    DeliveryStatus,
    KeyLink,
    PruneResult,
    Session,
    SessionEvent,
    SessionFilter,
    SessionStatus,
    SessionSummary,
    StoreStats,
    TranscriptEntry,
    TurnCommit,
    TurnRecord,
)
from app.store.schema import (
    inbox,
    posted,
    session_events,
    session_keys,
    sessions,
    transcript,
    turns,
)

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql.dml import Insert as PgInsert
    from sqlalchemy.dialects.sqlite.dml import Insert as SqliteInsert
    from sqlalchemy.sql.schema import Table

    from app.store.base import Store

log = logging.getLogger(__name__)

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"

ENDED_STATUSES: Final[tuple[SessionStatus, ...]] = ("reset", "dropped", "expired")
UNFINISHED: Final = ("pending", "processing")

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

# Rounds of pick-then-claim before claim_delivery reports "nothing now" under heavy contention.
CLAIM_ROUNDS: Final = 8

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


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the store's default clock)."""
    return datetime.now(UTC)


def _lock_key(namespace: str, name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock`` (Python's hash() is salted)."""
    digest = hashlib.blake2b(f"{namespace}\0{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


MIGRATION_LOCK_KEY: Final = _lock_key("threadline", "migrate")


def _describe(exc: BaseException) -> str:
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


def _guard(fn: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Turn any driver, SQLAlchemy, OS or timeout failure into ``StoreError``."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except StoreError:
            raise
        except _DRIVER_ERRORS as exc:
            raise StoreError(f"store.{fn.__name__} failed: {_describe(exc)}") from exc

    return wrapper


def _engine_url(url: str) -> URL:
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


def _alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    # configparser interpolation: a literal % in the path must be doubled.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a revision
        raise StoreError("the store's migrations are missing")
    return head


def _upgrade(connection: Connection) -> None:
    command.upgrade(_alembic_config(connection), "head")


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _session(row: Row[Any]) -> Session:
    return Session(
        id=row.id,
        agent=row.agent,
        status=row.status,
        created_at=row.created_at,
        last_active_at=row.last_active_at,
        resume_count=row.resume_count,
    )


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(
        id=row.pk,
        delivery_id=row.delivery_id,
        source=row.source,
        lane=row.lane,
        payload=row.payload,
        status=row.status,
        attempts=row.attempts,
        received_at=row.received_at,
        reply_ref=row.reply_ref,
    )


def _turn(row: Row[Any]) -> TurnRecord:
    return TurnRecord(
        turn_id=row.turn_id,
        session_id=row.session_id,
        outcome=row.outcome,
        model=row.model,
        usage=Usage(
            int(row.input_tokens),
            int(row.output_tokens),
            int(row.cache_read_tokens),
            int(row.cache_write_tokens),
        ),
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SqlStore:
    """The ``Store`` on SQLite or PostgreSQL; see the module docstring for the concurrency model.

    ``url`` is ``sqlite:///path/to/file.db`` (parent directories are created on first connect),
    ``postgresql://user:pass@host/db`` or ``postgres://...``. Nothing connects until the first
    call; call ``migrate()`` before use and ``close()`` at the end.
    """

    def __init__(
        self,
        url: str,
        *,
        ttl_days: float = 30,
        clock: Callable[[], datetime] = utcnow,
        pool_size: int = 5,
    ) -> None:
        engine_url = _engine_url(url)
        self._ttl = timedelta(days=ttl_days)
        self._ttl_days = ttl_days
        self._clock = clock
        self._pg = engine_url.get_backend_name() == "postgresql"
        if self._pg:
            self._engine = create_async_engine(
                engine_url,
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
        else:
            self._engine = create_async_engine(
                engine_url,
                pool_size=pool_size,
                max_overflow=2 * pool_size,
                pool_timeout=POOL_TIMEOUT,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            )
            _install_sqlite_hooks(self._engine, Path(engine_url.database or ""))
        # Same pool; the option only tells the SQLite begin hook to use a deferred BEGIN.
        self._read_engine = self._engine.execution_options(threadline_read_only=True)

    # plumbing ----------------------------------------------------------------------------
    def _now(self) -> datetime:
        return _aware(self._clock())

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self._read_engine.begin() as conn:
            yield conn

    def _insert(self, table: Table) -> PgInsert | SqliteInsert:
        # Both dialects spell upserts the same way (ON CONFLICT); only the construct differs.
        return pg_insert(table) if self._pg else sqlite_insert(table)

    def _live(self, now: datetime) -> ColumnElement[bool]:
        return and_(sessions.c.status == "active", sessions.c.last_active_at >= now - self._ttl)

    async def _advisory_lock(self, conn: AsyncConnection, key: int) -> None:
        """PostgreSQL only: a lock held until this transaction ends."""
        stmt = text("SELECT pg_advisory_xact_lock(:key)").bindparams(
            bindparam("key", type_=BigInteger)
        )
        await conn.execute(stmt, {"key": key})

    @staticmethod
    async def _event(
        conn: AsyncConnection,
        session_id: str,
        kind: str,
        now: datetime,
        *,
        cause: str | None = None,
        turn_id: str | None = None,
    ) -> None:
        await conn.execute(
            session_events.insert().values(
                session_id=session_id, kind=kind, cause=cause, turn_id=turn_id, created_at=now
            )
        )

    # lifecycle ---------------------------------------------------------------------------
    @_guard
    async def migrate(self) -> str:
        """Upgrade to the head revision; safe when several replicas start at once."""
        # One transaction around the whole upgrade. On SQLite it starts with BEGIN IMMEDIATE,
        # so a second process waits for the first and then finds nothing left to do.
        async with self._engine.begin() as conn:
            if self._pg:
                # Migrations may take longer than an ordinary statement, and waiting for
                # another replica's upgrade is expected; the client backstop still applies.
                await conn.execute(text("SET LOCAL statement_timeout = 0"))
                await conn.execute(text("SET LOCAL lock_timeout = 0"))
                await self._advisory_lock(conn, MIGRATION_LOCK_KEY)
            await conn.run_sync(_upgrade)
        if not self._pg:
            await self._ensure_wal()
        return _head_revision()

    async def _ensure_wal(self) -> None:
        """Switch the SQLite file to WAL if a connect hook could not (it was busy then)."""
        for _ in range(50):
            async with self._engine.connect() as conn:
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

    @_guard
    async def schema_version(self) -> str | None:
        async with self._read() as conn:
            return await conn.run_sync(_current_revision)

    async def head_version(self) -> str:
        return _head_revision()

    @_guard
    async def ping(self) -> None:
        async with self._read() as conn:
            await conn.execute(text("SELECT 1"))

    @_guard
    async def close(self) -> None:
        await self._engine.dispose()

    # inbox -------------------------------------------------------------------------------
    @_guard
    async def record_delivery(
        self, delivery_id: str, source: str, lane: str, payload: dict[str, Any]
    ) -> bool:
        now = self._now()
        async with self._write() as conn:
            if self._pg:
                # Serialise inserts per lane so pk order equals commit order within a lane;
                # otherwise a claimer could see pk 11 committed before pk 10 and run them out
                # of order. (On SQLite, BEGIN IMMEDIATE already serialises all writers.)
                await self._advisory_lock(conn, _lock_key("lane", lane))
            stmt = (
                self._insert(inbox)
                .values(
                    delivery_id=delivery_id,
                    source=source,
                    lane=lane,
                    payload=payload,
                    status="pending",
                    attempts=0,
                    available_at=now,
                    received_at=now,
                )
                .on_conflict_do_nothing(index_elements=["delivery_id"])
                .returning(inbox.c.pk)
            )
            return (await conn.execute(stmt)).first() is not None

    @staticmethod
    def _claimable(table: Any, now: datetime) -> ColumnElement[bool]:
        return or_(
            and_(table.c.status == "pending", table.c.available_at <= now),
            and_(table.c.status == "processing", table.c.lease_until < now),
        )

    @_guard
    async def claim_delivery(self, holder: str, lease_seconds: float) -> Delivery | None:
        now = self._now()
        until = now + timedelta(seconds=lease_seconds)
        cand = inbox.alias("cand")
        prior = inbox.alias("prior")
        earlier_unfinished = (
            select(literal(1))
            .select_from(prior)
            .where(
                prior.c.lane == cand.c.lane,
                prior.c.pk < cand.c.pk,
                prior.c.status.in_(UNFINISHED),
            )
            .exists()
        )
        pick = (
            select(cand.c.pk)
            .where(self._claimable(cand, now), ~earlier_unfinished)
            .order_by(cand.c.pk)
            .limit(1)
            # PostgreSQL: concurrent claimers skip each other's candidates instead of queueing
            # on them. A skipped row still counts as unfinished for its lane in the NOT EXISTS
            # above, so skipping never lets a later delivery of that lane through.
            .with_for_update(skip_locked=True, of=cand)
        )
        for _ in range(CLAIM_ROUNDS):
            async with self._write() as conn:
                pk = (await conn.execute(pick)).scalar_one_or_none()
                if pk is None:
                    return None
                # Compare-and-set: only if it is still claimable (another claimer may have
                # taken it between our snapshot and our lock).
                row = (
                    await conn.execute(
                        update(inbox)
                        .where(inbox.c.pk == pk, self._claimable(inbox, now))
                        .values(
                            status="processing",
                            holder=holder,
                            lease_until=until,
                            attempts=inbox.c.attempts + 1,
                        )
                        .returning(*inbox.c)
                    )
                ).first()
                if row is not None:
                    return _delivery(row)
        return None

    @_guard
    async def extend_delivery(self, pk: int, holder: str, lease_seconds: float) -> bool:
        until = self._now() + timedelta(seconds=lease_seconds)
        async with self._write() as conn:
            result = await conn.execute(
                update(inbox)
                .where(inbox.c.pk == pk, inbox.c.holder == holder, inbox.c.status == "processing")
                .values(lease_until=until)
            )
            return result.rowcount > 0

    @_guard
    async def release_delivery(self, pk: int, holder: str, delay_seconds: float) -> None:
        now = self._now()
        async with self._write() as conn:
            await conn.execute(
                update(inbox)
                .where(inbox.c.pk == pk, inbox.c.holder == holder, inbox.c.status == "processing")
                .values(
                    status="pending",
                    holder=None,
                    lease_until=None,
                    available_at=now + timedelta(seconds=max(delay_seconds, 0.0)),
                    # A hand-back is not an attempt: undo the claim's increment.
                    attempts=case((inbox.c.attempts > 0, inbox.c.attempts - 1), else_=0),
                )
            )

    @_guard
    async def finish_delivery(
        self, pk: int, holder: str, status: DeliveryStatus, error: str | None = None
    ) -> None:
        if status not in ("done", "failed"):
            raise ValueError(f"finish_delivery takes done or failed, not {status!r}")
        now = self._now()
        async with self._write() as conn:
            await conn.execute(
                update(inbox)
                .where(inbox.c.pk == pk, inbox.c.holder == holder, inbox.c.status == "processing")
                .values(status=status, finished_at=now, lease_until=None, error=error)
            )

    @_guard
    async def set_reply_ref(
        self, pk: int, ref: dict[str, Any], *, holder: str | None = None
    ) -> bool:
        stmt = update(inbox).where(inbox.c.pk == pk)
        if holder is not None:
            stmt = stmt.where(inbox.c.holder == holder, inbox.c.status == "processing")
        async with self._write() as conn:
            result = await conn.execute(stmt.values(reply_ref=ref))
        return bool(result.rowcount)

    @_guard
    async def get_delivery(self, pk: int) -> Delivery | None:
        async with self._read() as conn:
            row = (await conn.execute(select(inbox).where(inbox.c.pk == pk))).first()
        return _delivery(row) if row is not None else None

    @_guard
    async def previous_delivery(self, lane: str, before_pk: int) -> Delivery | None:
        stmt = (
            select(inbox)
            .where(
                inbox.c.lane == lane,
                inbox.c.pk < before_pk,
                inbox.c.status.in_(("done", "failed")),
            )
            .order_by(inbox.c.pk.desc())
            .limit(1)
        )
        async with self._read() as conn:
            row = (await conn.execute(stmt)).first()
        return _delivery(row) if row is not None else None

    @_guard
    async def remember_posted(self, ref: str) -> None:
        now = self._now()
        async with self._write() as conn:
            await conn.execute(
                self._insert(posted)
                .values(ref=ref, created_at=now)
                .on_conflict_do_nothing(index_elements=["ref"])
            )

    @_guard
    async def was_posted(self, ref: str) -> bool:
        async with self._read() as conn:
            row = (await conn.execute(select(posted.c.ref).where(posted.c.ref == ref))).first()
        return row is not None

    # sessions and keys -------------------------------------------------------------------
    @_guard
    async def create_session(self, agent: str, *, turn_id: str | None = None) -> Session:
        now = self._now()
        session = Session(
            id=str(uuid.uuid4()),
            agent=agent,
            status="active",
            created_at=now,
            last_active_at=now,
            resume_count=0,
        )
        async with self._write() as conn:
            await conn.execute(
                sessions.insert().values(
                    id=session.id,
                    agent=agent,
                    status="active",
                    created_at=now,
                    last_active_at=now,
                    resume_count=0,
                    lease_holder=None,
                    lease_until=None,
                    fence=0,
                )
            )
            await self._event(conn, session.id, "created", now, turn_id=turn_id)
        return session

    @_guard
    async def get_session(self, session_id: str) -> Session | None:
        async with self._read() as conn:
            row = (await conn.execute(select(sessions).where(sessions.c.id == session_id))).first()
        return _session(row) if row is not None else None

    @_guard
    async def resolve(self, key: str) -> Session | None:
        now = self._now()
        stmt = (
            select(sessions)
            .join(session_keys, session_keys.c.session_id == sessions.c.id)
            .where(session_keys.c.key == key, self._live(now))
        )
        async with self._read() as conn:
            row = (await conn.execute(stmt)).first()
        return _session(row) if row is not None else None

    @_guard
    async def register_key(
        self, key: str, session_id: str, *, url: str | None = None, turn_id: str | None = None
    ) -> KeyClaim:
        now = self._now()
        insert_new = (
            self._insert(session_keys)
            .values(key=key, session_id=session_id, url=url, created_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(session_keys.c.key)
        )
        # PostgreSQL: FOR UPDATE waits for, then sees, the latest committed owner; holding the
        # row lock makes the takeover below a compare-and-set among concurrent registrars.
        owner_of = (
            select(session_keys.c.session_id, session_keys.c.url)
            .where(session_keys.c.key == key)
            .with_for_update()
        )
        async with self._write() as conn:
            # A few rounds: the row we collided with may vanish (its session ended) before
            # we read it; then the key is free again and we try to insert once more.
            for _ in range(5):
                if (await conn.execute(insert_new)).first() is not None:
                    await self._event(
                        conn, session_id, "key_linked", now, cause=key, turn_id=turn_id
                    )
                    return KeyClaim(key, session_id, True)
                current = (await conn.execute(owner_of)).first()
                if current is None:
                    continue
                owner: str = current.session_id
                if owner == session_id:
                    if url is not None and current.url != url:
                        await conn.execute(
                            update(session_keys).where(session_keys.c.key == key).values(url=url)
                        )
                    return KeyClaim(key, session_id, True)
                owner_live = (
                    await conn.execute(
                        select(sessions.c.id).where(sessions.c.id == owner, self._live(now))
                    )
                ).first()
                if owner_live is not None:
                    return KeyClaim(key, owner, False)
                # The owner is ended or past its TTL: the key is free to take.
                await conn.execute(
                    update(session_keys)
                    .where(session_keys.c.key == key, session_keys.c.session_id == owner)
                    .values(session_id=session_id, url=url, created_at=now)
                )
                await self._event(
                    conn, owner, "key_unlinked", now, cause=f"taken over: {key}", turn_id=turn_id
                )
                await self._event(conn, session_id, "key_linked", now, cause=key, turn_id=turn_id)
                return KeyClaim(key, session_id, True)
        raise StoreError("store.register_key failed: the key kept changing owner")

    @_guard
    async def unlink_key(self, key: str, *, cause: str, turn_id: str | None = None) -> str | None:
        now = self._now()
        async with self._write() as conn:
            owner = (
                await conn.execute(
                    delete(session_keys)
                    .where(session_keys.c.key == key)
                    .returning(session_keys.c.session_id)
                )
            ).scalar_one_or_none()
            if owner is not None:
                await self._event(conn, owner, "key_unlinked", now, cause=cause, turn_id=turn_id)
        return owner

    @_guard
    async def keys_for(self, session_id: str) -> list[KeyLink]:
        stmt = (
            select(session_keys)
            .where(session_keys.c.session_id == session_id)
            .order_by(session_keys.c.created_at, session_keys.c.key)
        )
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [KeyLink(r.key, r.session_id, r.url, r.created_at) for r in rows]

    @_guard
    async def end_session(
        self,
        session_id: str,
        status: SessionStatus,
        *,
        cause: str,
        turn_id: str | None = None,
    ) -> None:
        if status not in ENDED_STATUSES:
            raise ValueError(f"end_session takes reset, dropped or expired, not {status!r}")
        now = self._now()
        async with self._write() as conn:
            found = (
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.id == session_id)
                    .values(status=status, lease_holder=None, lease_until=None)
                    .returning(sessions.c.id)
                )
            ).first()
            if found is None:
                return
            await conn.execute(delete(session_keys).where(session_keys.c.session_id == session_id))
            await self._event(conn, session_id, status, now, cause=cause, turn_id=turn_id)

    # leases ------------------------------------------------------------------------------
    @_guard
    async def acquire_lease(self, session_id: str, holder: str, lease_seconds: float) -> int | None:
        now = self._now()
        async with self._write() as conn:
            # A single compare-and-set UPDATE: of concurrent acquirers only one matches.
            fence = (
                await conn.execute(
                    update(sessions)
                    .where(
                        sessions.c.id == session_id,
                        or_(sessions.c.lease_until.is_(None), sessions.c.lease_until < now),
                    )
                    .values(
                        lease_holder=holder,
                        lease_until=now + timedelta(seconds=lease_seconds),
                        fence=sessions.c.fence + 1,
                    )
                    .returning(sessions.c.fence)
                )
            ).scalar_one_or_none()
        return int(fence) if fence is not None else None

    @_guard
    async def renew_lease(
        self, session_id: str, holder: str, fence: int, lease_seconds: float
    ) -> bool:
        now = self._now()
        async with self._write() as conn:
            result = await conn.execute(
                update(sessions)
                .where(
                    sessions.c.id == session_id,
                    sessions.c.lease_holder == holder,
                    sessions.c.fence == fence,
                )
                .values(lease_until=now + timedelta(seconds=lease_seconds))
            )
            return result.rowcount > 0

    @_guard
    async def release_lease(self, session_id: str, holder: str, fence: int) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(sessions)
                .where(
                    sessions.c.id == session_id,
                    sessions.c.lease_holder == holder,
                    sessions.c.fence == fence,
                )
                .values(lease_holder=None, lease_until=None)
            )

    # transcript and turns ----------------------------------------------------------------
    @_guard
    async def load_transcript(self, session_id: str) -> list[TranscriptEntry]:
        stmt = (
            select(transcript)
            .where(transcript.c.session_id == session_id)
            .order_by(transcript.c.seq)
        )
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            TranscriptEntry(
                seq=r.seq,
                role=r.role,
                content=r.content,
                author_id=r.author_id,
                author_name=r.author_name,
                source=r.source,
                turn_id=r.turn_id,
                created_at=r.created_at,
            )
            for r in rows
        ]

    @_guard
    async def load_messages(self, session_id: str) -> list[dict[str, Any]]:
        stmt = (
            select(transcript.c.role, transcript.c.content)
            .where(transcript.c.session_id == session_id)
            .order_by(transcript.c.seq)
        )
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [{"role": r.role, "content": r.content} for r in rows]

    def _turn_upsert(self, values: dict[str, Any]) -> PgInsert | SqliteInsert:
        """Insert a turn row; a turn id seen before is updated instead of failing.

        A turn may be written twice under one id (a recorded failure, then the retry on a
        fresh session commits): the row then names the last session and outcome, keeps the
        first start time, and adds up the tokens of both attempts.
        """
        stmt = self._insert(turns).values(**values)
        new = stmt.excluded
        return stmt.on_conflict_do_update(
            index_elements=["turn_id"],
            set_={
                "session_id": func.coalesce(new.session_id, turns.c.session_id),
                "outcome": new.outcome,
                "model": func.coalesce(new.model, turns.c.model),
                "input_tokens": turns.c.input_tokens + new.input_tokens,
                "output_tokens": turns.c.output_tokens + new.output_tokens,
                "cache_read_tokens": turns.c.cache_read_tokens + new.cache_read_tokens,
                "cache_write_tokens": turns.c.cache_write_tokens + new.cache_write_tokens,
                "finished_at": new.finished_at,
            },
        )

    @staticmethod
    def _usage_values(usage: Usage) -> dict[str, int]:
        return {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        }

    @_guard
    async def commit_turn(self, commit: TurnCommit) -> None:
        now = self._now()
        sid = commit.session_id
        async with self._write() as conn:
            # Lock the session row for the whole commit (FOR NO KEY UPDATE on PostgreSQL, so
            # foreign-key checks of concurrent key/transcript inserts are not blocked by it).
            current = (
                await conn.execute(
                    select(sessions.c.status, sessions.c.fence, sessions.c.lease_holder)
                    .where(sessions.c.id == sid)
                    .with_for_update(key_share=True)
                )
            ).first()
            if current is None:
                raise LeaseLost(f"session {sid} no longer exists")
            if current.status != "active":
                raise LeaseLost(f"session {sid} is {current.status}")
            if int(current.fence) != commit.fence:
                raise LeaseLost(f"session {sid} lease fence moved on")
            # A released lease (e.g. by an earlier commit with this fence) no longer protects
            # anything: refusing it stops a turn from being committed twice.
            if current.lease_holder is None or (
                commit.holder is not None and current.lease_holder != commit.holder
            ):
                raise LeaseLost(f"session {sid} lease is not held by this turn")
            if commit.delivery_pk is not None:
                held = [
                    inbox.c.pk == commit.delivery_pk,
                    inbox.c.status == "processing",
                ]
                if commit.holder is not None:
                    held.append(inbox.c.holder == commit.holder)
                finished = (
                    await conn.execute(
                        update(inbox)
                        .where(*held)
                        .values(status="done", finished_at=now, lease_until=None, error=None)
                        .returning(inbox.c.pk)
                    )
                ).first()
                if finished is None:
                    # Another worker reclaimed the delivery and will run it again; committing
                    # here as well would answer and record the message twice.
                    raise LeaseLost(f"delivery {commit.delivery_pk} is no longer held")
            last_seq = (
                await conn.execute(
                    select(func.coalesce(func.max(transcript.c.seq), 0)).where(
                        transcript.c.session_id == sid
                    )
                )
            ).scalar_one()
            resumed = int(last_seq) > 0
            if commit.messages:
                await conn.execute(
                    transcript.insert(),
                    [
                        {
                            "session_id": sid,
                            "seq": int(last_seq) + i,
                            "role": m.role,
                            "content": list(m.content),
                            "author_id": m.author_id,
                            "author_name": m.author_name,
                            "source": m.source,
                            "turn_id": commit.turn_id,
                            "created_at": now,
                        }
                        for i, m in enumerate(commit.messages, start=1)
                    ],
                )
            await conn.execute(
                self._turn_upsert(
                    {
                        "turn_id": commit.turn_id,
                        "session_id": sid,
                        "outcome": commit.outcome,
                        "model": commit.model,
                        **self._usage_values(commit.usage),
                        "started_at": _aware(commit.started_at) if commit.started_at else now,
                        "finished_at": now,
                    }
                )
            )
            await conn.execute(
                update(sessions)
                .where(sessions.c.id == sid)
                .values(
                    last_active_at=now,
                    resume_count=sessions.c.resume_count + (1 if resumed else 0),
                    lease_holder=None,
                    lease_until=None,
                )
            )
            if resumed:
                await self._event(conn, sid, "resumed", now, turn_id=commit.turn_id)

    @_guard
    async def record_turn(self, record: TurnRecord) -> None:
        async with self._write() as conn:
            await conn.execute(
                self._turn_upsert(
                    {
                        "turn_id": record.turn_id,
                        "session_id": record.session_id,
                        "outcome": record.outcome,
                        "model": record.model,
                        **self._usage_values(record.usage),
                        "started_at": _aware(record.started_at),
                        "finished_at": _aware(record.finished_at),
                    }
                )
            )

    @_guard
    async def turns_for(self, session_id: str) -> list[TurnRecord]:
        stmt = (
            select(turns)
            .where(turns.c.session_id == session_id)
            .order_by(turns.c.started_at, turns.c.turn_id)
        )
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_turn(r) for r in rows]

    # event log ---------------------------------------------------------------------------
    @_guard
    async def log_event(
        self, session_id: str, kind: str, *, cause: str | None = None, turn_id: str | None = None
    ) -> None:
        now = self._now()
        async with self._write() as conn:
            await self._event(conn, session_id, kind, now, cause=cause, turn_id=turn_id)

    @_guard
    async def events_for(self, session_id: str) -> list[SessionEvent]:
        stmt = (
            select(session_events)
            .where(session_events.c.session_id == session_id)
            .order_by(session_events.c.id)
        )
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [SessionEvent(r.session_id, r.kind, r.cause, r.turn_id, r.created_at) for r in rows]

    # operations --------------------------------------------------------------------------
    def _platform_match(self, key: Any, platform: str) -> ColumnElement[bool]:
        """The key's second ':'-separated part equals ``platform`` (agent names have no ':')."""
        first_colon = func.strpos(key, ":") if self._pg else func.instr(key, ":")
        rest = func.substr(key, first_colon + 1)
        return and_(
            first_colon > 0,
            or_(
                rest == platform,
                func.substr(key, first_colon + 1, len(platform) + 1) == platform + ":",
            ),
        )

    @_guard
    async def list_sessions(self, flt: SessionFilter) -> list[SessionSummary]:
        now = self._now()
        conds: list[ColumnElement[bool]] = []
        if flt.status is not None:
            conds.append(sessions.c.status == flt.status)
        if flt.active_within_days is not None:
            conds.append(sessions.c.last_active_at >= now - timedelta(days=flt.active_within_days))
        if flt.older_than_days is not None:
            conds.append(sessions.c.last_active_at < now - timedelta(days=flt.older_than_days))
        if flt.platform is not None or flt.key_contains is not None:
            k = session_keys.alias("k")
            key_conds: list[ColumnElement[bool]] = [k.c.session_id == sessions.c.id]
            if flt.platform is not None:
                key_conds.append(self._platform_match(k.c.key, flt.platform))
            if flt.key_contains is not None:
                # Case-insensitive on both backends (SQLite's LIKE is, PostgreSQL's is not).
                key_conds.append(
                    func.lower(k.c.key).contains(flt.key_contains.lower(), autoescape=True)
                )
            conds.append(select(literal(1)).select_from(k).where(*key_conds).exists())
        stmt = (
            select(sessions)
            .where(*conds)
            .order_by(sessions.c.last_active_at.desc(), sessions.c.id)
            .limit(max(flt.limit, 0))
        )
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
            ids = [r.id for r in rows]
            if not ids:
                return []
            key_rows = (
                await conn.execute(
                    select(session_keys.c.session_id, session_keys.c.key)
                    .where(session_keys.c.session_id.in_(ids))
                    .order_by(session_keys.c.created_at, session_keys.c.key)
                )
            ).all()
            usage_rows = (
                await conn.execute(
                    select(
                        turns.c.session_id,
                        func.count().label("n"),
                        func.coalesce(func.sum(turns.c.input_tokens), 0).label("i"),
                        func.coalesce(func.sum(turns.c.output_tokens), 0).label("o"),
                        func.coalesce(func.sum(turns.c.cache_read_tokens), 0).label("cr"),
                        func.coalesce(func.sum(turns.c.cache_write_tokens), 0).label("cw"),
                    )
                    .where(turns.c.session_id.in_(ids))
                    .group_by(turns.c.session_id)
                )
            ).all()
        keys: dict[str, list[str]] = {i: [] for i in ids}
        for kr in key_rows:
            keys[kr.session_id].append(kr.key)
        # PostgreSQL sums integers as numeric (Decimal): convert.
        usage = {
            u.session_id: (int(u.n), Usage(int(u.i), int(u.o), int(u.cr), int(u.cw)))
            for u in usage_rows
        }
        return [
            SessionSummary(
                session=_session(r),
                keys=keys[r.id],
                turns=usage.get(r.id, (0, Usage()))[0],
                usage=usage.get(r.id, (0, Usage()))[1],
            )
            for r in rows
        ]

    @staticmethod
    async def _delete_sessions(conn: AsyncConnection, ids: Sequence[str]) -> tuple[int, int]:
        """Delete sessions and everything hanging off them; returns (sessions, events)."""
        await conn.execute(delete(session_keys).where(session_keys.c.session_id.in_(ids)))
        await conn.execute(delete(transcript).where(transcript.c.session_id.in_(ids)))
        await conn.execute(delete(turns).where(turns.c.session_id.in_(ids)))
        events = await conn.execute(
            delete(session_events).where(session_events.c.session_id.in_(ids))
        )
        gone = await conn.execute(delete(sessions).where(sessions.c.id.in_(ids)))
        return gone.rowcount, events.rowcount

    @_guard
    async def delete_session(self, session_id: str) -> bool:
        async with self._write() as conn:
            deleted, _ = await self._delete_sessions(conn, [session_id])
        return deleted > 0

    @_guard
    async def expire_sessions(self, *, batch: int = 500) -> int:
        batch = max(batch, 1)
        total = 0
        while True:
            now = self._now()
            cutoff = now - self._ttl
            stale = and_(sessions.c.status == "active", sessions.c.last_active_at < cutoff)
            async with self._write() as conn:
                ids = (
                    (
                        await conn.execute(
                            select(sessions.c.id)
                            .where(stale)
                            .order_by(sessions.c.last_active_at)
                            .limit(batch)
                            .with_for_update(skip_locked=True, key_share=True)
                        )
                    )
                    .scalars()
                    .all()
                )
                if not ids:
                    break
                expired = (
                    (
                        await conn.execute(
                            update(sessions)
                            .where(sessions.c.id.in_(ids), stale)
                            .values(status="expired", lease_holder=None, lease_until=None)
                            .returning(sessions.c.id)
                        )
                    )
                    .scalars()
                    .all()
                )
                if expired:
                    await conn.execute(
                        delete(session_keys).where(session_keys.c.session_id.in_(expired))
                    )
                    await conn.execute(
                        session_events.insert(),
                        [
                            {
                                "session_id": sid,
                                "kind": "expired",
                                "cause": f"idle for more than {self._ttl_days:g} days",
                                "turn_id": None,
                                "created_at": now,
                            }
                            for sid in expired
                        ],
                    )
            total += len(expired)
            if len(ids) < batch:
                break
        return total

    async def _delete_in_batches(self, table: Table, key: Any, where: Any, batch: int) -> int:
        """Delete matching rows ``batch`` at a time, each batch its own short transaction."""
        total = 0
        while True:
            async with self._write() as conn:
                chosen = select(key).where(where).limit(batch).scalar_subquery()
                result = await conn.execute(delete(table).where(key.in_(chosen)))
                count = result.rowcount
            total += count
            if count < batch:
                return total

    @_guard
    async def prune(self, retention_days: float, *, batch: int = 500) -> PruneResult:
        batch = max(batch, 1)
        expired = await self.expire_sessions(batch=batch)
        cutoff = self._now() - timedelta(days=retention_days)
        sessions_deleted = events_deleted = 0
        old_ended = and_(sessions.c.status.in_(ENDED_STATUSES), sessions.c.last_active_at < cutoff)
        while True:
            async with self._write() as conn:
                ids = (
                    (
                        await conn.execute(
                            select(sessions.c.id)
                            .where(old_ended)
                            .order_by(sessions.c.last_active_at)
                            .limit(batch)
                            .with_for_update(skip_locked=True)
                        )
                    )
                    .scalars()
                    .all()
                )
                if ids:
                    n_sessions, n_events = await self._delete_sessions(conn, ids)
                    sessions_deleted += n_sessions
                    events_deleted += n_events
            if len(ids) < batch:
                break
        deliveries_deleted = await self._delete_in_batches(
            inbox,
            inbox.c.pk,
            and_(inbox.c.status.in_(("done", "failed")), inbox.c.finished_at < cutoff),
            batch,
        )
        await self._delete_in_batches(posted, posted.c.ref, posted.c.created_at < cutoff, batch)
        # Turns recorded without a session (failed before one existed) have no owner to be
        # deleted with; they age out on their own.
        await self._delete_in_batches(
            turns,
            turns.c.turn_id,
            and_(turns.c.session_id.is_(None), turns.c.finished_at < cutoff),
            batch,
        )
        return PruneResult(
            sessions_expired=expired,
            sessions_deleted=sessions_deleted,
            deliveries_deleted=deliveries_deleted,
            events_deleted=events_deleted,
        )

    @_guard
    async def stats(self) -> StoreStats:
        now = self._now()
        async with self._read() as conn:
            live = (
                await conn.execute(
                    select(func.count()).select_from(sessions).where(self._live(now))
                )
            ).scalar_one()
            rows = (
                await conn.execute(
                    select(inbox.c.status, func.count())
                    .where(inbox.c.status.in_(("pending", "processing", "failed")))
                    .group_by(inbox.c.status)
                )
            ).all()
        by_status = {status: int(n) for status, n in rows}
        return StoreStats(
            active_sessions=int(live),
            pending_deliveries=int(by_status.get("pending", 0)),
            extra={
                "processing_deliveries": int(by_status.get("processing", 0)),
                "failed_deliveries": int(by_status.get("failed", 0)),
            },
        )


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
                    # retries until it holds.
                    log.debug("journal_mode=WAL deferred: database busy")
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("threadline_read_only"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


if TYPE_CHECKING:

    def _conforms(store: SqlStore) -> Store:
        # mypy checks here that SqlStore satisfies the Store protocol.
        return store
