"""The ``Store`` contract on SQLite (sqlite3, on the event loop's thread) and PostgreSQL (asyncpg).

One code path serves both databases through SQLAlchemy's async core; the few places that
differ are marked. How concurrency is made safe on each:

* **SQLite**: every writing transaction starts with ``BEGIN IMMEDIATE``, which takes the
  database's single write lock up front, so writers run one at a time (waiting up to the busy
  timeout) and a read-then-write sequence can never be overtaken. Statements run on the event
  loop's thread, so a transaction never gives the loop away while it holds the lock
  (``engine.LoopSqlite``). Read-only methods use a
  plain deferred ``BEGIN``: in WAL mode they read a consistent snapshot without queueing
  behind writers, and since they never write they cannot hit the lock-upgrade deadlock that
  makes deferred transactions unsafe for writers.
* **PostgreSQL** (READ COMMITTED): rows that decide an outcome are locked (``FOR UPDATE``,
  ``SKIP LOCKED`` for queue-like picks), inserts that may race use ``ON CONFLICT``, and updates
  that hand something over re-check their preconditions in their own ``WHERE`` clause
  (compare-and-set) so a lost race changes nothing.

Every time the store writes or compares comes from the injected clock, never from the
database server, so tests can move time and both backends agree.

Layout::

    store.py        SqlStore: owns the engine, composes the roles, migrate/ping/close
    engine.py       URLs, engine creation, SQLite hooks, transactions (Db), errors (guard)
    migrate.py      alembic: upgrade under a cross-replica lock, current and head revision
    rows.py         rows as value types, the liveness condition, event rows
    inbox.py        Inbox          (per-lane order, SKIP LOCKED claims, compare-and-set)
    sessions.py     Sessions       (keys first-writer-wins, event log)
    leases.py       Leases         (compare-and-set with a fencing counter)
    transcripts.py  Transcripts    (commit_turn under the session row lock)
    maintenance.py  Maintenance    (listing, expiry and pruning in batches, stats)
    erase.py        Maintenance.erase_author (one transaction per session, inbox in batches)
    approvals.py    Approvals      (decided once: compare-and-set from pending)
    quotas.py       Quotas         (admissions under per-scope advisory locks, token spend)

The tables are described in ``app.store.schema`` and created by ``app.store.migrations``.
"""

from __future__ import annotations

from app.store.sql.migrate import MIGRATIONS_DIR
from app.store.sql.store import SqlStore
from app.store.types import utcnow

__all__ = ["MIGRATIONS_DIR", "SqlStore", "utcnow"]
