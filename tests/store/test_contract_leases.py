"""The store contract (memory, SQLite, PostgreSQL): looking a key up and taking its session's
lease in one step, as a turn starts."""

from __future__ import annotations

import asyncio

from app.store.base import Store
from tests.conftest import TEST_TTL_DAYS, Clock

KEY = "tl:slack:C1::1.000100"


async def test_an_unknown_or_expired_key_has_no_session_to_lease(
    store: Store, clock: Clock
) -> None:
    assert await store.acquire_lease_for_key(KEY, "r1", 30) == (None, None)
    session = await store.create_session("tl")
    await store.register_key(KEY, session.id)
    clock.advance(days=TEST_TTL_DAYS + 1)
    assert await store.acquire_lease_for_key(KEY, "r1", 30) == (None, None)


async def test_the_lease_is_taken_once_until_released_or_lapsed(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    await store.register_key(KEY, session.id)

    found, fence = await store.acquire_lease_for_key(KEY, "r1", 30)
    assert found is not None and found.id == session.id and fence == 1
    # Held: the session is named, the lease is not given.
    busy, none = await store.acquire_lease_for_key(KEY, "r2", 30)
    assert busy is not None and busy.id == session.id and none is None
    assert await store.acquire_lease(session.id, "r2", 30) is None

    await store.release_lease(session.id, "r1", 1)
    assert (await store.acquire_lease_for_key(KEY, "r2", 30))[1] == 2
    clock.advance(seconds=31)
    assert (await store.acquire_lease_for_key(KEY, "r1", 30))[1] == 3
    # The fence is the session's: renewing and releasing work with it.
    assert await store.renew_lease(session.id, "r1", 3, 30)


async def test_the_session_is_as_it_stands_under_the_lease(store: Store) -> None:
    session = await store.create_session("tl")
    await store.register_key(KEY, session.id)
    assert session.audience == "public"
    await store.raise_audience(session.id, "internal", cause="a channel of the workspace")
    found, fence = await store.acquire_lease_for_key(KEY, "r1", 30)
    assert found is not None and fence is not None
    assert found.audience == "internal"
    assert found == await store.get_session(session.id)


async def test_of_concurrent_callers_one_gets_the_lease(store: Store) -> None:
    session = await store.create_session("tl")
    await store.register_key(KEY, session.id)
    results = await asyncio.gather(
        *(store.acquire_lease_for_key(KEY, f"r{i}", 30) for i in range(8))
    )
    assert [fence for _, fence in results].count(1) == 1
    assert sum(fence is not None for _, fence in results) == 1
    assert all(found is not None and found.id == session.id for found, _ in results)
