"""What only the SQL store has for bounded actions: several stores (replicas) on one database
racing to admit turns and to decide an approval, migration 0003 up and down, and driver
failures reported as ``StoreError``.

``store_url`` runs these on SQLite and, with ``TEST_DATABASE_URL``, PostgreSQL. The contract
every store keeps is in ``test_contract_approvals.py`` and ``test_contract_quotas.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect

from app.errors import StoreError
from app.store import SqlStore
from app.store.sql import migrate
from tests.conftest import TEST_TTL_DAYS, Clock

HOUR = 3600.0


@pytest.fixture
async def replicas(store_url: str, clock: Clock) -> AsyncIterator[list[SqlStore]]:
    """Two migrated stores on one database, as two replicas of the app would be."""
    stores = [SqlStore(store_url, ttl_days=TEST_TTL_DAYS, clock=clock.now) for _ in range(2)]
    try:
        await stores[0].migrate()
        yield stores
    finally:
        for s in stores:
            await s.close()


async def test_admit_race_across_replicas_lets_exactly_the_limit_through(
    replicas: list[SqlStore],
) -> None:
    results = await asyncio.gather(
        *(
            replicas[n % 2].admit(scopes=[("user:U1", 5), ("workspace", 0)], window_seconds=HOUR)
            for n in range(20)
        )
    )
    assert results.count(None) == 5
    assert results.count("user:U1") == 15


async def test_admit_race_across_replicas_over_scopes_in_opposite_orders(
    replicas: list[SqlStore],
) -> None:
    # Opposite orders would deadlock if each replica locked scopes in the order given.
    orders = [[("user:U1", 7), ("channel:C1", 7)], [("channel:C1", 7), ("user:U1", 7)]]
    results = await asyncio.gather(
        *(replicas[n % 2].admit(scopes=orders[n % 2], window_seconds=HOUR) for n in range(20))
    )
    assert results.count(None) == 7
    assert await replicas[0].admit(scopes=[("channel:C1", 8)], window_seconds=HOUR) is None
    assert await replicas[1].admit(scopes=[("user:U1", 7)], window_seconds=HOUR) == "user:U1"


async def test_exactly_one_decider_wins_across_replicas(replicas: list[SqlStore]) -> None:
    session = await replicas[0].create_session("tl")
    approval = await replicas[0].create_approval(
        session_id=session.id,
        turn_id="t1",
        tool="create_jira_ticket",
        tool_input={"project": "AD", "summary": "Crash"},
        summary={"action": "Create a Jira ticket"},
        asked_by="U1",
        deciders="channel",
        channel="C1",
        thread_ts="1763700000.000100",
        ttl_seconds=HOUR,
    )
    tries: list[tuple[str, Any]] = [
        (f"U{n}", "approved" if n % 3 else "declined") for n in range(20)
    ]
    results = await asyncio.gather(
        *(
            replicas[n % 2].decide_approval(approval.id, status, by)
            for n, (by, status) in enumerate(tries)
        )
    )
    won = [
        try_
        for try_, r in zip(tries, results, strict=True)
        if r is not None and (r.decided_by, r.status) == try_
    ]
    assert len(won) == 1
    assert {(r.decided_by, r.status) for r in results if r is not None} == set(won)
    assert all(r is not None for r in results)


async def test_tokens_recorded_by_one_replica_count_on_the_other(
    replicas: list[SqlStore], clock: Clock
) -> None:
    start = clock.now()
    await asyncio.gather(
        *(replicas[n % 2].add_tokens(scopes=["workspace"], tokens=10) for n in range(10))
    )
    assert await replicas[0].tokens_since("workspace", start) == 100
    assert await replicas[1].usage_by_scope(start, "work") == [("workspace", 100)]


# migration 0003 ----------------------------------------------------------------------------


async def _at_revision(s: SqlStore, revision: str) -> None:
    async with s._engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(migrate._alembic_config(c), revision))


async def _tables(s: SqlStore) -> set[str]:
    async with s._engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_upgrade_from_0002_keeps_the_inbox_and_adds_the_new_tables(
    store_url: str, clock: Clock
) -> None:
    s = SqlStore(store_url, clock=clock.now)
    try:
        await _at_revision(s, "0002")
        assert {"approvals", "quota_events"}.isdisjoint(await _tables(s))
        # what a 0002 release recorded: inbox rows of two lanes
        assert await s.record_delivery("d1", "slack", "tl:slack:C1::1", {})
        assert await s.record_delivery("d2", "slack", "tl:slack:C1::1", {})
        assert await s.record_delivery("d3", "slack", "tl:slack:C1::2", {})
        assert await s.migrate() == "0005"
        assert {"approvals", "quota_events"} <= await _tables(s)
        assert await s.pending_count("tl:slack:C1::1") == 2
        session = await s.create_session("tl")
        approval = await s.create_approval(
            session_id=session.id,
            turn_id="t1",
            tool="create_github_issue",
            tool_input={},
            summary={},
            asked_by="U1",
            deciders="asker",
            channel=None,
            thread_ts=None,
            ttl_seconds=HOUR,
        )
        assert await s.get_approval(approval.id) == approval
        assert await s.admit(scopes=[("user:U1", 1)], window_seconds=HOUR) is None
    finally:
        await s.close()


async def test_downgrade_to_0002_removes_them_and_upgrading_again_works(
    sql_store: SqlStore,
) -> None:
    async with sql_store._engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(migrate._alembic_config(c), "0002"))
    assert await sql_store.schema_version() == "0002"
    assert {"approvals", "quota_events"}.isdisjoint(await _tables(sql_store))
    assert await sql_store.migrate() == "0005"
    assert await sql_store.admit(scopes=[("user:U1", 1)], window_seconds=HOUR) is None


# errors -------------------------------------------------------------------------------------

Call = Callable[[SqlStore], Awaitable[object]]

WHEN = datetime(2026, 1, 15, tzinfo=UTC)
NEW_METHODS: list[tuple[str, Call]] = [
    (
        "create_approval",
        lambda s: s.create_approval(
            session_id="s",
            turn_id="t",
            tool="x",
            tool_input={},
            summary={},
            asked_by="U1",
            deciders="asker",
            channel=None,
            thread_ts=None,
            ttl_seconds=HOUR,
        ),
    ),
    ("get_approval", lambda s: s.get_approval("a")),
    ("set_approval_card", lambda s: s.set_approval_card("a", "1.2")),
    ("decide_approval", lambda s: s.decide_approval("a", "approved", "U1")),
    ("record_approval_result", lambda s: s.record_approval_result("a", "ok", False)),
    ("pending_approvals", lambda s: s.pending_approvals("s")),
    ("admit", lambda s: s.admit(scopes=[("user:U1", 1)], window_seconds=HOUR)),
    ("add_tokens", lambda s: s.add_tokens(scopes=["workspace"], tokens=1)),
    ("tokens_since", lambda s: s.tokens_since("workspace", WHEN)),
    ("usage_by_scope", lambda s: s.usage_by_scope(WHEN, "user:")),
    ("pending_count", lambda s: s.pending_count("lane")),
]


@pytest.mark.parametrize(("name", "call"), NEW_METHODS, ids=[n for n, _ in NEW_METHODS])
async def test_an_unreachable_database_is_a_store_error(name: str, call: Call) -> None:
    s = SqlStore("postgresql://postgres:s3cret-pw@127.0.0.1:1/x")
    try:
        with pytest.raises(StoreError) as info:
            await call(s)
        assert type(info.value) is StoreError
        assert name in str(info.value) and "s3cret-pw" not in str(info.value)
    finally:
        await s.close()


@pytest.mark.parametrize(("name", "call"), NEW_METHODS, ids=[n for n, _ in NEW_METHODS])
async def test_a_failing_statement_is_a_store_error(store_url: str, name: str, call: Call) -> None:
    # A database left at 0001 by an older release: the new tables and columns are missing.
    s = SqlStore(store_url)
    try:
        await _at_revision(s, "0001")
        if name == "pending_count":
            # inbox exists at 0001; drop it to make the statement fail
            async with s._engine.begin() as conn:
                await conn.run_sync(lambda c: c.exec_driver_sql("DROP TABLE inbox"))
        with pytest.raises(StoreError) as info:
            await call(s)
        assert name in str(info.value)
    finally:
        await s.close()
