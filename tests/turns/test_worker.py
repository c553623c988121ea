"""The worker driven directly on the in-memory store: order per lane, overlap across lanes,
no claim that can find nothing."""

from __future__ import annotations

import asyncio

from app.store.base import Delivery
from app.store.memory import MemoryStore
from app.turns.worker import Worker
from tests.harness import inbox_drained


async def _record(store: MemoryStore, lane: str, n: int) -> None:
    for i in range(n):
        assert await store.record_delivery(f"{lane}-{i}", "chat", lane, {"i": i})


async def test_one_lane_runs_in_order_one_at_a_time_while_lanes_overlap() -> None:
    store = MemoryStore()
    running: dict[str, int] = {}
    seen: list[tuple[str, int]] = []
    overlap = asyncio.Event()

    async def handle(delivery: Delivery) -> None:
        running[delivery.lane] = running.get(delivery.lane, 0) + 1
        assert running[delivery.lane] == 1, "two deliveries of one lane at once"
        if len([n for n in running.values() if n]) > 1:
            overlap.set()
        seen.append((delivery.lane, delivery.payload["i"]))
        await asyncio.sleep(0.01)
        running[delivery.lane] -= 1
        await store.finish_delivery(delivery.id, "w1", "done")

    await _record(store, "a", 5)
    await _record(store, "b", 5)
    worker = Worker(store, handle, holder="w1", lease_seconds=30, concurrency=4, poll_interval=0.05)
    worker.start()
    try:
        await inbox_drained(store, timeout=10)
    finally:
        await worker.stop(grace=1)
    assert [i for lane, i in seen if lane == "a"] == [0, 1, 2, 3, 4]
    assert [i for lane, i in seen if lane == "b"] == [0, 1, 2, 3, 4]
    assert overlap.is_set()
    assert not worker.alive


async def test_a_crashing_handler_fails_its_delivery_and_the_worker_goes_on() -> None:
    store = MemoryStore()
    handled: list[int] = []

    async def handle(delivery: Delivery) -> None:
        if delivery.payload["i"] == 0:
            raise RuntimeError("bug")
        handled.append(delivery.payload["i"])
        await store.finish_delivery(delivery.id, "w1", "done")

    await _record(store, "a", 2)
    worker = Worker(store, handle, holder="w1", lease_seconds=30, poll_interval=0.05)
    worker.start()
    try:
        await inbox_drained(store, timeout=10)
    finally:
        await worker.stop(grace=1)
    assert handled == [1]
    stats = await store.stats()
    assert stats.extra["failed_deliveries"] == 1


async def test_stop_cancels_a_turn_that_outlives_the_grace_period() -> None:
    store = MemoryStore()
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def handle(delivery: Delivery) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    await _record(store, "a", 1)
    worker = Worker(store, handle, holder="w1", lease_seconds=30, poll_interval=0.05)
    worker.start()
    await asyncio.wait_for(started.wait(), 5)
    await worker.stop(grace=0.05)
    assert cancelled.is_set() and worker.in_flight == 0
    # Nothing was committed: the delivery is still claimed, to be retried after its lease.
    stats = await store.stats()
    assert stats.extra["processing_deliveries"] == 1


class CountingStore(MemoryStore):
    """The in-memory store, counting claims and the ones that found nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.claims = self.empty = 0

    async def claim_turn(self, holder: str, lease_seconds: float) -> Delivery | None:
        delivery = await super().claim_turn(holder, lease_seconds)
        self.claims += 1
        self.empty += delivery is None
        return delivery


async def test_the_worker_claims_only_when_a_claim_can_find_something() -> None:
    store = CountingStore()
    seen: list[str] = []

    async def handle(delivery: Delivery) -> None:
        seen.append(delivery.delivery_id)
        await asyncio.sleep(0.01)
        await store.finish_delivery(delivery.id, "w1", "done")

    await _record(store, "a", 3)
    await _record(store, "b", 1)
    # A poll an hour away: everything below happens on claims and wake-ups alone.
    worker = Worker(store, handle, holder="w1", lease_seconds=30, poll_interval=3600)
    worker.start()
    try:
        await inbox_drained(store, timeout=5)
        assert sorted(seen) == ["a-0", "a-1", "a-2", "b-0"]
        assert (store.claims, store.empty) == (4, 0)
        # a delivery recorded later is claimed on its wake-up
        await _record(store, "c", 1)
        worker.wake()
        await inbox_drained(store, timeout=5)
        # the wake-up came while nothing ran: one claim, which found it
        assert (store.claims, store.empty) == (5, 0)
    finally:
        await worker.stop(grace=1)
    assert seen[-1] == "c-0"
