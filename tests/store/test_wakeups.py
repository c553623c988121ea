"""PostgreSQL: a delivery recorded by one replica wakes every other at once (LISTEN/NOTIFY),
and the listener comes back by itself when its connection is lost."""

from __future__ import annotations

import asyncio

import asyncpg

from app.store.sql import SqlStore
from tests.conftest import Clock

WAIT = 5.0


async def test_a_recorded_delivery_wakes_another_replica(postgres_url: str, clock: Clock) -> None:
    woken = asyncio.Event()
    listening = SqlStore(postgres_url, clock=clock.now, on_inbox=woken.set)
    recording = SqlStore(postgres_url, clock=clock.now)
    try:
        await listening.migrate()
        await recording.migrate()
        # The listener says so once when it starts (what was recorded before it listened).
        await asyncio.wait_for(woken.wait(), WAIT)
        woken.clear()
        assert await recording.record_delivery("d1", "slack", "tl:slack:C1::1", {"text": "hi"})
        await asyncio.wait_for(woken.wait(), WAIT)
        # A duplicate is refused and announces nothing.
        woken.clear()
        assert not await recording.record_delivery("d1", "slack", "tl:slack:C1::1", {})
        await asyncio.sleep(0.3)
        assert not woken.is_set()
    finally:
        await recording.close()
        await listening.close()


async def test_the_listener_comes_back_after_its_connection_is_lost(
    postgres_url: str, clock: Clock
) -> None:
    woken = asyncio.Event()
    store = SqlStore(postgres_url, clock=clock.now, on_inbox=woken.set)
    try:
        await store.migrate()
        await asyncio.wait_for(woken.wait(), WAIT)
        admin = await asyncpg.connect(postgres_url, timeout=10)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        finally:
            await admin.close()
        assert killed == 1
        woken.clear()
        # Back (it says so once), and what is recorded then is announced again.
        await asyncio.wait_for(woken.wait(), WAIT)
        woken.clear()
        assert await store.record_delivery("d2", "slack", "tl:slack:C1::2", {"text": "hi"})
        await asyncio.wait_for(woken.wait(), WAIT)
    finally:
        await store.close()


async def test_sqlite_has_no_listener(sqlite_url: str, clock: Clock) -> None:
    woken = asyncio.Event()
    store = SqlStore(sqlite_url, clock=clock.now, on_inbox=woken.set)
    try:
        await store.migrate()
        assert await store.record_delivery("d3", "slack", "tl:slack:C1::3", {"text": "hi"})
        await asyncio.sleep(0.2)
        assert not woken.is_set()  # the process that records wakes its own worker
    finally:
        await store.close()
