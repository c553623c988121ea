"""The store contract (memory, SQLite, PostgreSQL): looking a key up and taking its session's
lease in one step, as a turn starts."""

from __future__ import annotations

import asyncio

from app.store.base import Opening, Store
from tests.conftest import TEST_TTL_DAYS, Clock
from tests.store.test_contract import commit_for

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


# claim_turn: the claim, and with it the conversation ---------------------------------------


async def test_claiming_a_turn_opens_its_conversation(store: Store) -> None:
    session = await store.create_session("tl")
    await store.register_key(KEY, session.id)
    fence = await store.acquire_lease(session.id, "setup", 30)
    assert fence is not None
    await store.commit_turn(commit_for(session.id, fence, "t1", "hi", "hello", holder="setup"))
    await store.record_delivery("d1", "slack", KEY, {"n": 1})
    first = await store.claim_turn("r1", 30)
    assert first is not None and first.opening is not None
    await store.release_lease(session.id, "r1", first.opening.fence or 0)
    await store.finish_delivery(first.id, "r1", "done")
    await store.record_delivery("d2", "slack", KEY, {"n": 2})

    claimed = await store.claim_turn("r1", 30)
    assert claimed is not None and claimed.delivery_id == "d2"
    assert claimed.status == "processing" and claimed.attempts == 1
    opening = claimed.opening
    assert opening is not None and opening.session is not None
    assert opening.session.id == session.id and opening.fence is not None
    assert opening.messages == await store.load_messages(session.id)
    assert [m["role"] for m in opening.messages] == ["user", "assistant"]
    assert opening.previous is not None and opening.previous.delivery_id == "d1"
    # The lease is really taken: nobody else gets it until it is released.
    assert await store.acquire_lease(session.id, "r2", 30) is None
    await store.release_lease(session.id, "r1", opening.fence)
    assert await store.acquire_lease(session.id, "r2", 30) == opening.fence + 1


async def test_a_claimed_turn_without_a_session_or_lease_opens_nothing_to_use(
    store: Store,
) -> None:
    await store.record_delivery("d1", "slack", KEY, {})
    claimed = await store.claim_turn("r1", 30)
    assert claimed is not None and claimed.opening is not None
    assert claimed.opening == Opening(None, None, None, None)
    await store.finish_delivery(claimed.id, "r1", "done")

    # Another door of the conversation holds its lease: the session is named, not leased.
    session = await store.create_session("tl")
    await store.register_key(KEY, session.id)
    fence = await store.acquire_lease(session.id, "elsewhere", 30)
    await store.record_delivery("d2", "slack", KEY, {})
    claimed = await store.claim_turn("r1", 30)
    assert claimed is not None and claimed.opening is not None
    assert claimed.opening.session is not None and claimed.opening.session.id == session.id
    assert claimed.opening.fence is None and claimed.opening.messages is None
    assert await store.renew_lease(session.id, "elsewhere", fence or 0, 30)
    assert await store.claim_turn("r1", 30) is None


async def test_concurrent_turn_claims_take_distinct_deliveries_and_one_lease_each(
    store: Store,
) -> None:
    keys = [f"{KEY}{n}" for n in range(6)]
    for n, key in enumerate(keys):
        session = await store.create_session("tl")
        await store.register_key(key, session.id)
        await store.record_delivery(f"d{n}", "slack", key, {})
    claims = await asyncio.gather(*(store.claim_turn(f"r{i}", 30) for i in range(8)))
    got = [c for c in claims if c is not None]
    assert sorted(c.delivery_id for c in got) == [f"d{n}" for n in range(6)]
    assert all(c.opening is not None and c.opening.fence == 1 for c in got)


# start_session: a new conversation's session, key and lease at once --------------------------


async def test_starting_a_session_registers_the_key_and_takes_the_lease(store: Store) -> None:
    opened = await store.start_session("tl", KEY, "r1", 30, turn_id="t1")
    assert opened.session is not None and opened.fence is not None
    assert opened.messages == [] and opened.previous is None
    assert await store.resolve(KEY) == opened.session
    assert await store.acquire_lease(opened.session.id, "r2", 30) is None  # held
    kinds = [e.kind for e in await store.events_for(opened.session.id)]
    assert kinds == ["created", "key_linked"]
    await store.release_lease(opened.session.id, "r1", opened.fence)
    assert await store.acquire_lease(opened.session.id, "r2", 30) == opened.fence + 1


async def test_starting_a_session_for_a_taken_key_gives_the_winners(store: Store) -> None:
    first = await store.start_session("tl", KEY, "r1", 30, turn_id="t1")
    assert first.session is not None and first.fence is not None
    second = await store.start_session("tl", KEY, "r2", 30, turn_id="t2")
    # The key keeps its session; its lease is held by r1, so r2 gets none.
    assert second.session is not None and second.session.id == first.session.id
    assert second.fence is None and second.messages is None
    await store.release_lease(first.session.id, "r1", first.fence)
    third = await store.start_session("tl", KEY, "r3", 30, turn_id="t3")
    assert third.session is not None and third.session.id == first.session.id
    assert third.fence == first.fence + 1 and third.messages is None
    assert (await store.resolve(KEY)) == third.session


async def test_of_concurrent_starts_for_one_key_one_session_wins(store: Store) -> None:
    opened = await asyncio.gather(
        *(store.start_session("tl", KEY, f"r{i}", 30, turn_id=f"t{i}") for i in range(6))
    )
    ids = {o.session.id for o in opened if o.session is not None}
    winner = await store.resolve(KEY)
    assert winner is not None and ids == {winner.id}
    assert sum(o.fence is not None for o in opened) == 1


async def test_an_ended_session_gives_no_lease(store: Store) -> None:
    session = await store.create_session("tl")
    await store.register_key(KEY, session.id)
    await store.end_session(session.id, "reset", cause="test")
    assert await store.acquire_lease(session.id, "r1", 30) is None
