"""The store contract for quotas and the inbox's backlog, on every store (memory, SQLite,
PostgreSQL): admitting turns per scope within a window (also under concurrency), token spend
by scope, pruning quota events, and counting a conversation's unfinished deliveries. Races
between replicas (several ``SqlStore`` on one database) are in ``test_sql_bounded.py``.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from app.errors import LaneFull, LeaseLost
from app.store.base import Store
from tests.conftest import Clock
from tests.store.test_contract import LEASE, commit_for

HOUR = 3600.0


# admit --------------------------------------------------------------------------------------


async def test_admit_up_to_the_limit_within_the_window(store: Store, clock: Clock) -> None:
    user = [("user:U1", 2)]
    assert await store.admit(scopes=user, window_seconds=HOUR) is None
    clock.advance(minutes=10)
    assert await store.admit(scopes=user, window_seconds=HOUR) is None
    assert await store.admit(scopes=user, window_seconds=HOUR) == "user:U1"
    # another scope has its own count
    assert await store.admit(scopes=[("user:U2", 2)], window_seconds=HOUR) is None
    # the first admission leaves the window exactly an hour after it was made
    clock.advance(minutes=49, seconds=59)
    assert await store.admit(scopes=user, window_seconds=HOUR) == "user:U1"
    clock.advance(seconds=1)
    assert await store.admit(scopes=user, window_seconds=HOUR) is None
    assert await store.admit(scopes=user, window_seconds=HOUR) == "user:U1"
    # a shorter window looks back less far
    assert await store.admit(scopes=user, window_seconds=60) is None


async def test_a_refusal_records_nothing_for_any_scope(store: Store) -> None:
    assert await store.admit(scopes=[("channel:C1", 1)], window_seconds=HOUR) is None
    for _ in range(3):
        refused = await store.admit(scopes=[("user:U1", 2), ("channel:C1", 1)], window_seconds=HOUR)
        assert refused == "channel:C1"
    # the refusals were not counted for the user
    assert await store.admit(scopes=[("user:U1", 2)], window_seconds=HOUR) is None
    assert await store.admit(scopes=[("user:U1", 2)], window_seconds=HOUR) is None
    assert await store.admit(scopes=[("user:U1", 2)], window_seconds=HOUR) == "user:U1"


async def test_admit_names_the_first_scope_over_its_limit(store: Store) -> None:
    both = [("user:U1", 1), ("channel:C1", 1)]
    assert await store.admit(scopes=both, window_seconds=HOUR) is None
    assert await store.admit(scopes=both, window_seconds=HOUR) == "user:U1"
    reversed_order = [("channel:C1", 1), ("user:U1", 1)]
    assert await store.admit(scopes=reversed_order, window_seconds=HOUR) == "channel:C1"


async def test_a_scope_without_a_limit_is_admitted_and_still_counted(store: Store) -> None:
    for _ in range(3):
        assert await store.admit(scopes=[("user:U1", 0)], window_seconds=HOUR) is None
    assert await store.admit(scopes=[("user:U1", -1)], window_seconds=HOUR) is None
    assert await store.admit(scopes=[("user:U1", 5)], window_seconds=HOUR) is None
    assert await store.admit(scopes=[("user:U1", 5)], window_seconds=HOUR) == "user:U1"
    assert await store.admit(scopes=[], window_seconds=HOUR) is None


async def test_a_scope_given_twice_is_counted_once(store: Store) -> None:
    twice = [("user:U1", 2), ("user:U1", 2)]
    assert await store.admit(scopes=twice, window_seconds=HOUR) is None
    assert await store.admit(scopes=[("user:U1", 2)], window_seconds=HOUR) is None
    assert await store.admit(scopes=[("user:U1", 2)], window_seconds=HOUR) == "user:U1"


async def test_concurrent_admits_let_exactly_the_limit_through(store: Store) -> None:
    results = await asyncio.gather(
        *(store.admit(scopes=[("user:U1", 5)], window_seconds=HOUR) for _ in range(20))
    )
    assert results.count(None) == 5
    assert results.count("user:U1") == 15


async def test_concurrent_admits_over_shared_scopes_in_any_order(store: Store) -> None:
    # Callers list the same scopes in different orders (no deadlock) and differ in one.
    def scopes(n: int) -> list[tuple[str, int]]:
        shared = [("channel:C1", 6), ("workspace", 100)]
        mine = [(f"user:U{n % 4}", 2)]
        return (shared + mine) if n % 2 else (mine + shared[::-1])

    results = await asyncio.gather(
        *(store.admit(scopes=scopes(n), window_seconds=HOUR) for n in range(24))
    )
    admitted = [n for n, r in enumerate(results) if r is None]
    assert len(admitted) == 6
    per_user = [sum(1 for n in admitted if n % 4 == u) for u in range(4)]
    assert max(per_user) <= 2
    assert set(results) <= {None, "channel:C1", "user:U0", "user:U1", "user:U2", "user:U3"}


# tokens -------------------------------------------------------------------------------------


async def test_tokens_are_summed_per_scope_since_a_time(store: Store, clock: Clock) -> None:
    start = clock.now()
    assert await store.tokens_since("workspace", start) == 0
    await store.add_tokens(scopes=["workspace", "user:U1", "channel:C1"], tokens=1200)
    clock.advance(minutes=5)
    middle = clock.now()
    await store.add_tokens(scopes=["workspace", "user:U2"], tokens=300)
    assert await store.tokens_since("workspace", start) == 1500
    assert await store.tokens_since("user:U1", start) == 1200
    # since is inclusive: spend recorded exactly then counts
    assert await store.tokens_since("workspace", middle) == 300
    assert await store.tokens_since("user:U1", middle) == 0
    assert await store.tokens_since("workspace", middle + timedelta(seconds=1)) == 0
    assert await store.tokens_since("user:U3", start) == 0


async def test_admissions_are_not_tokens_and_tokens_are_not_admissions(
    store: Store, clock: Clock
) -> None:
    start = clock.now()
    await store.admit(scopes=[("user:U1", 1)], window_seconds=HOUR)
    assert await store.tokens_since("user:U1", start) == 0
    assert await store.usage_by_scope(start, "") == []
    await store.add_tokens(scopes=["user:U2"], tokens=10)
    assert await store.admit(scopes=[("user:U2", 1)], window_seconds=HOUR) is None


async def test_zero_tokens_record_nothing_and_negative_is_refused(
    store: Store, clock: Clock
) -> None:
    start = clock.now()
    await store.add_tokens(scopes=["workspace"], tokens=0)
    await store.add_tokens(scopes=[], tokens=50)
    await store.add_tokens(scopes=["workspace", "workspace"], tokens=50)
    with pytest.raises(ValueError):
        await store.add_tokens(scopes=["workspace"], tokens=-1)
    assert await store.tokens_since("workspace", start) == 50
    assert await store.usage_by_scope(start, "") == [("workspace", 50)]


async def test_a_turn_commit_records_its_tokens_with_it(store: Store, clock: Clock) -> None:
    start = clock.now()
    session = await store.create_session("tl")
    fence = await store.acquire_lease(session.id, "w1", LEASE)
    assert fence is not None
    scopes = ["workspace", "user:U1", "channel:C1", "workspace"]
    turn = replace(commit_for(session.id, fence, "t1", "q", "a"), token_scopes=scopes, tokens=90)
    # a commit that is refused (its lease is released now) records no tokens either
    await store.release_lease(session.id, "w1", fence)
    with pytest.raises(LeaseLost):
        await store.commit_turn(turn)
    assert await store.usage_by_scope(start, "") == []

    fence = await store.acquire_lease(session.id, "w1", LEASE)
    assert fence is not None
    await store.commit_turn(replace(turn, fence=fence))
    assert await store.tokens_since("workspace", start) == 90
    assert await store.tokens_since("user:U1", start) == 90
    assert await store.tokens_since("channel:C1", start) == 90
    # none spent, or nowhere to count it: nothing recorded
    for t_id, spent in (("t2", {"tokens": 0}), ("t3", {"token_scopes": ()})):
        fence = await store.acquire_lease(session.id, "w1", LEASE)
        assert fence is not None
        commit = commit_for(session.id, fence, t_id, "q", "a")
        await store.commit_turn(replace(commit, **{"token_scopes": scopes, "tokens": 5, **spent}))
    assert await store.tokens_since("workspace", start) == 90
    with pytest.raises(ValueError):
        await store.commit_turn(replace(turn, turn_id="t4", tokens=-1))


async def test_usage_by_scope_largest_first_with_a_prefix(store: Store, clock: Clock) -> None:
    await store.add_tokens(scopes=["user:U9"], tokens=999)  # before the day starts
    clock.advance(minutes=1)
    day = clock.now()
    await store.add_tokens(scopes=["workspace", "user:U1", "channel:C1"], tokens=100)
    await store.add_tokens(scopes=["workspace", "user:U2", "channel:C1"], tokens=300)
    await store.add_tokens(scopes=["workspace", "user:U1", "channel:C2"], tokens=100)
    await store.add_tokens(scopes=["workspace", "user:U3", "channel:C2"], tokens=200)
    await store.add_tokens(scopes=["User:U4", "user_U5"], tokens=5000)
    assert await store.usage_by_scope(day, "user:") == [
        ("user:U2", 300),
        # ties by scope
        ("user:U1", 200),
        ("user:U3", 200),
    ]
    assert await store.usage_by_scope(day, "channel:") == [("channel:C1", 400), ("channel:C2", 300)]
    assert await store.usage_by_scope(day, "workspace") == [("workspace", 700)]
    assert await store.usage_by_scope(day, "team:") == []
    # ties in code point order on every backend, whatever the database's collation
    assert await store.usage_by_scope(day, "") == [
        ("User:U4", 5000),
        ("user_U5", 5000),
        ("workspace", 700),
        ("channel:C1", 400),
        ("channel:C2", 300),
        ("user:U2", 300),
        ("user:U1", 200),
        ("user:U3", 200),
    ]
    assert await store.usage_by_scope(day - timedelta(minutes=1), "user:U9") == [("user:U9", 999)]


async def test_prune_deletes_quota_events_older_than_two_days(store: Store, clock: Clock) -> None:
    start = clock.now()
    await store.add_tokens(scopes=["workspace", "user:U1"], tokens=100)
    await store.admit(scopes=[("user:U1", 5)], window_seconds=HOUR)
    clock.advance(days=2)
    await store.add_tokens(scopes=["workspace"], tokens=7)
    # exactly two days old: kept
    assert (await store.prune(retention_days=14)).quota_events_deleted == 0
    clock.advance(seconds=1)
    result = await store.prune(retention_days=14, batch=2)
    assert result.quota_events_deleted == 3
    assert await store.tokens_since("workspace", start) == 7
    assert await store.tokens_since("user:U1", start) == 0
    assert await store.usage_by_scope(start, "") == [("workspace", 7)]
    assert (await store.prune(retention_days=14)).quota_events_deleted == 0


# inbox backlog ------------------------------------------------------------------------------


async def test_pending_count_counts_a_lanes_unfinished_deliveries(store: Store) -> None:
    assert await store.pending_count("tl:slack:C1::1") == 0
    for n in range(3):
        await store.record_delivery(f"a{n}", "slack", "tl:slack:C1::1", {"n": n})
    await store.record_delivery("b0", "slack", "tl:slack:C1::2", {})
    assert await store.pending_count("tl:slack:C1::1") == 3
    assert await store.pending_count("tl:slack:C1::2") == 1

    claimed = await store.claim_delivery("w1", LEASE)
    assert claimed is not None and claimed.delivery_id == "a0"
    assert await store.pending_count("tl:slack:C1::1") == 3  # processing still counts
    await store.finish_delivery(claimed.id, "w1", "done")
    assert await store.pending_count("tl:slack:C1::1") == 2

    claimed = await store.claim_delivery("w1", LEASE)
    assert claimed is not None and claimed.delivery_id == "a1"
    await store.release_delivery(claimed.id, "w1", 0)  # handed back: pending again
    assert await store.pending_count("tl:slack:C1::1") == 2
    claimed = await store.claim_delivery("w1", LEASE)
    assert claimed is not None and claimed.delivery_id == "a1"
    await store.finish_delivery(claimed.id, "w1", "failed", "boom")
    assert await store.pending_count("tl:slack:C1::1") == 1
    assert await store.pending_count("tl:slack:C1::2") == 1


async def test_record_delivery_with_max_pending_refuses_a_full_lane_and_records_nothing(
    store: Store,
) -> None:
    lane = "tl:slack:C1::1"
    for n in range(2):
        assert await store.record_delivery(f"a{n}", "slack", lane, {"n": n}, max_pending=2)
    with pytest.raises(LaneFull):
        await store.record_delivery("a2", "slack", lane, {"n": 2}, max_pending=2)
    assert await store.pending_count(lane) == 2
    # Another lane has room; so has this one once a delivery is finished.
    assert await store.record_delivery("b0", "slack", "tl:slack:C1::2", {}, max_pending=2)
    claimed = await store.claim_delivery("w1", LEASE)
    assert claimed is not None and claimed.delivery_id == "a0"
    with pytest.raises(LaneFull):  # processing still counts
        await store.record_delivery("a2", "slack", lane, {"n": 2}, max_pending=2)
    await store.finish_delivery(claimed.id, "w1", "done")
    assert await store.record_delivery("a2", "slack", lane, {"n": 2}, max_pending=2)
    # A duplicate of a recorded delivery is still reported as one, with room or without.
    assert not await store.record_delivery("a2", "slack", lane, {"n": 2}, max_pending=5)
    with pytest.raises(LaneFull):
        await store.record_delivery("a1", "slack", lane, {"n": 1}, max_pending=2)
    assert await store.pending_count(lane) == 2


async def test_processing_delivery_is_the_one_being_handled_in_a_lane(store: Store) -> None:
    lane = "tl:slack:C1::1"
    assert await store.processing_delivery(lane) is None
    await store.record_delivery("a0", "slack", lane, {"n": 0})
    await store.record_delivery("a1", "slack", lane, {"n": 1})
    assert await store.processing_delivery(lane) is None  # pending is not being handled
    claimed = await store.claim_delivery("w1", LEASE)
    assert claimed is not None
    now = await store.processing_delivery(lane)
    assert now is not None and now.delivery_id == "a0"
    assert await store.processing_delivery("tl:slack:C1::2") is None
    await store.finish_delivery(claimed.id, "w1", "done")
    assert await store.processing_delivery(lane) is None
