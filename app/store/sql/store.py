"""``SqlStore``: the facade that owns the engine and composes the SQL roles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import text

from app.store.compose import ComposedStore
from app.store.sql import migrate
from app.store.sql.approvals import SqlApprovals
from app.store.sql.browse import SqlBrowse
from app.store.sql.engine import Conn, Db, InboxListener, create_engine, engine_url, guard
from app.store.sql.feedback import SqlFeedback
from app.store.sql.home import SqlHomeReads
from app.store.sql.inbox import SqlInbox
from app.store.sql.jobs import SqlJobs
from app.store.sql.leases import SqlLeases
from app.store.sql.maintenance import SqlMaintenance
from app.store.sql.mutes import SqlMutes
from app.store.sql.quotas import SqlQuotas
from app.store.sql.sessions import SqlSessions
from app.store.sql.transcripts import SqlTranscripts
from app.store.types import DEFAULT_MAX_AGE_DAYS, Delivery, Opening, utcnow

if TYPE_CHECKING:
    from app.store.base import (
        Approvals,
        Browse,
        Feedback,
        HomeReads,
        Inbox,
        Jobs,
        Leases,
        Maintenance,
        Mutes,
        Quotas,
        Sessions,
        Store,
        Transcripts,
    )


class _KeyTaken(Exception):
    """Rolls ``start_session``'s transaction back: another replica's session has the key."""


class SqlStore(ComposedStore):
    """The ``Store`` on SQLite or PostgreSQL; see ``app.store.sql`` for the concurrency model.

    ``url`` is ``sqlite:///path/to/file.db`` (parent directories are created on first connect),
    ``postgresql://user:pass@host/db`` or ``postgres://...``. Nothing connects until the first
    call; call ``migrate()`` before use and ``close()`` at the end. A malformed or unsupported
    URL raises ``StoreError`` here. A session is live while active within ``ttl_days`` and
    created within ``max_age_days`` (``app.store.types.is_live``). ``activity`` hears of each
    transaction and statement (``app.store.sql.engine.Db``), for the metrics. On PostgreSQL,
    ``on_inbox`` is called whenever any replica records a delivery (``InboxListener``, from
    ``migrate()`` until ``close()``).

    The store owns one engine (its connection pool); every role shares it through one ``Db``,
    and each call runs in its own transaction (``Db.write()`` or ``Db.read()``).
    """

    def __init__(
        self,
        url: str,
        *,
        ttl_days: float = 30,
        max_age_days: float = DEFAULT_MAX_AGE_DAYS,
        clock: Callable[[], datetime] = utcnow,
        pool_size: int = 5,
        activity: Callable[[str], None] | None = None,
        on_inbox: Callable[[], None] | None = None,
    ) -> None:
        self._engine = create_engine(engine_url(url), pool_size=pool_size)
        self._listener = (
            InboxListener(self._engine.url, on_inbox)
            if on_inbox is not None and self._engine.dialect.name == "postgresql"
            else None
        )
        self._db = Db(
            self._engine,
            ttl_days=ttl_days,
            max_age_days=max_age_days,
            clock=clock,
            activity=activity,
        )
        # Kept as themselves too: ``claim_turn`` runs their statements in one transaction.
        self._sql_inbox = SqlInbox(self._db)
        self._sql_leases = SqlLeases(self._db)
        self._sql_transcripts = SqlTranscripts(self._db)
        self._sql_sessions = SqlSessions(self._db)
        super().__init__(
            inbox=self._sql_inbox,
            sessions=self._sql_sessions,
            leases=self._sql_leases,
            transcripts=self._sql_transcripts,
            maintenance=SqlMaintenance(self._db),
            approvals=SqlApprovals(self._db),
            quotas=SqlQuotas(self._db),
            mutes=SqlMutes(self._db),
            home_reads=SqlHomeReads(self._db),
            browse=SqlBrowse(self._db),
            jobs=SqlJobs(self._db),
            feedback=SqlFeedback(self._db),
        )

    @guard
    async def claim_turn(self, holder: str, lease_seconds: float) -> Delivery | None:
        """``Store.claim_turn`` in one writing transaction: the claim, the lease of the
        session its lane names, that session's messages and the lane's previous delivery.

        On PostgreSQL the claim locks its inbox row and then the session's row; a commit
        locks the session's row and then its own inbox row. The two meet only when a claim
        picks up a delivery whose lease lapsed while its turn is committing: PostgreSQL then
        aborts one of them (a ``StoreError``), and that delivery is handled as after any lost
        lease (the turn is retried, editing what it had posted).
        """
        return await self._sql_inbox.claim_with(holder, lease_seconds, self._open)

    async def _open(
        self, conn: Conn, delivery: Delivery, holder: str, now: datetime, until: datetime
    ) -> Delivery:
        """In the claim's transaction: the claimed delivery with its conversation opened."""
        lane = delivery.lane
        session, fence = await self._sql_leases.acquire_for_key_in(conn, lane, holder, now, until)
        messages = None
        if session is not None and fence is not None:
            messages = await self._sql_transcripts.messages_in(conn, session.id)
        previous = await self._sql_inbox.previous_in(conn, lane, delivery.id)
        return replace(delivery, opening=Opening(session, fence, messages, previous))

    @guard
    async def start_session(
        self, agent: str, key: str, holder: str, lease_seconds: float, *, turn_id: str | None
    ) -> Opening:
        """``Store.start_session`` in one writing transaction: the session is created with
        its lease taken and the key registered to it; rolled back, leaving no trace, when
        another replica registered the key first (whose session is then leased, if free)."""
        db = self._db
        until = db.now() + timedelta(seconds=lease_seconds)
        try:
            async with db.write() as conn:
                session = await self._sql_sessions.create_in(
                    conn, agent, turn_id=turn_id, lease=(holder, until)
                )
                claim = await self._sql_sessions.register_in(conn, key, session.id, turn_id=turn_id)
                if not claim.registered:
                    raise _KeyTaken(key)
        except _KeyTaken:
            winner, fence = await self.acquire_lease_for_key(key, holder, lease_seconds)
            return Opening(winner, fence, None, None)
        return Opening(session, 1, [], None)

    @guard
    async def migrate(self) -> str:
        """Upgrade to the head revision; safe when several replicas start at once."""
        version = await migrate.upgrade(self._db)
        if self._listener is not None:
            self._listener.start()
        return version

    @guard
    async def schema_version(self) -> str | None:
        return await migrate.current_revision(self._db)

    async def head_version(self) -> str:
        return migrate.head_revision()

    @guard
    async def ping(self) -> None:
        async with self._db.read() as conn:
            await conn.execute(text("SELECT 1"))

    @guard
    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
        await self._engine.dispose()


if TYPE_CHECKING:
    # mypy checks here that SqlStore is a whole Store and each role class a whole role.

    def _conforms(store: SqlStore) -> Store:
        return store

    def _inbox(part: SqlInbox) -> Inbox:
        return part

    def _sessions(part: SqlSessions) -> Sessions:
        return part

    def _leases(part: SqlLeases) -> Leases:
        return part

    def _transcripts(part: SqlTranscripts) -> Transcripts:
        return part

    def _maintenance(part: SqlMaintenance) -> Maintenance:
        return part

    def _approvals(part: SqlApprovals) -> Approvals:
        return part

    def _quotas(part: SqlQuotas) -> Quotas:
        return part

    def _mutes(part: SqlMutes) -> Mutes:
        return part

    def _home_reads(part: SqlHomeReads) -> HomeReads:
        return part

    def _browse(part: SqlBrowse) -> Browse:
        return part

    def _jobs(part: SqlJobs) -> Jobs:
        return part

    def _feedback(part: SqlFeedback) -> Feedback:
        return part
