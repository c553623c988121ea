"""The worker: claims deliveries from the inbox and runs them, a few at a time.

Every replica runs one. The inbox hands out deliveries of one conversation strictly in order
and one at a time, so concurrency here never reorders a thread; a delivery whose holder dies
is handed out again when its lease runs out.

It claims only when a claim may find something: after a wake-up (a delivery recorded here or,
on PostgreSQL, anywhere), after a claim that saw more waiting, when a finished turn's
conversation had a later delivery (or anything was recorded meanwhile), and at each poll
(leases run out, deliveries handed back become due).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from app.errors import StoreError
from app.store.base import Delivery, Store

log = logging.getLogger(__name__)

Handler = Callable[[Delivery], Awaitable[None]]


class Worker:
    def __init__(
        self,
        store: Store,
        handler: Handler,
        *,
        holder: str,
        lease_seconds: float,
        concurrency: int = 32,
        poll_interval: float = 1.0,
    ) -> None:
        self._store = store
        self._handler = handler
        self._holder = holder
        self._lease = lease_seconds
        self._slots = asyncio.Semaphore(concurrency)
        self._poll = poll_interval
        self._wake = asyncio.Event()
        self._wakes = 0  # wake-ups so far: a turn that saw none need not wake the loop
        self._stopping = False
        self._running: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self.store_healthy = True
        self._claiming = False  # inside a claim statement: let it finish before stopping

    def wake(self) -> None:
        """Look at the inbox now (a delivery was just recorded)."""
        self._wakes += 1
        self._wake.set()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="threadline-worker")

    @property
    def in_flight(self) -> int:
        return len(self._running)

    @property
    def alive(self) -> bool:
        """The claiming loop is running (false before start and after it stopped)."""
        return self._loop_task is not None and not self._loop_task.done()

    async def stop(self, grace: float) -> None:
        """Stop claiming; let running turns finish for ``grace`` seconds, then cancel them.

        A cancelled turn has committed nothing; its delivery stays claimed until the lease
        runs out and is then picked up again (here after a restart, or by another replica).
        """
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            # Let the loop notice the flag between claims rather than cancelling it in the
            # middle of a database call; cancel only if it does not come back.
            done, _ = await asyncio.wait({self._loop_task}, timeout=10 if self._claiming else 0.1)
            if not done:
                self._loop_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._loop_task
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning(
                    "%d turn(s) interrupted by shutdown; they will be retried", len(pending)
                )
                await asyncio.wait(pending, timeout=5)

    async def _run(self) -> None:
        backoff = 0.5
        while not self._stopping:
            await self._slots.acquire()
            if self._stopping:
                self._slots.release()
                break
            self._claiming = True
            wakes = self._wakes  # taken before the claim: one during it counts as after
            try:
                # With its conversation's lease and transcript, if it has one: the handler
                # uses or releases them.
                delivery = await self._store.claim_turn(self._holder, self._lease)
            except Exception as exc:
                # The store failed (or returned something unreadable): back off and keep
                # going; the loop must never end while the process serves.
                self._slots.release()
                if self.store_healthy:
                    if isinstance(exc, StoreError):
                        log.error("store unavailable, retrying: %s", exc)
                    else:
                        log.exception("claiming a delivery failed, retrying")
                self.store_healthy = False
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            finally:
                self._claiming = False
            if not self.store_healthy:
                log.info("store reachable again")
            self.store_healthy, backoff = True, 0.5
            if delivery is None:
                self._slots.release()
                await self._sleep(self._poll)
                continue
            task = asyncio.create_task(self._handle(delivery, wakes))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            if not delivery.more:
                await self._sleep(self._poll)  # nothing else was claimable

    async def _handle(self, delivery: Delivery, wakes: int) -> None:
        try:
            await self._handler(delivery)
        except StoreError as exc:
            # Nothing was committed; the delivery is retried when its lease runs out.
            log.error(
                "turn aborted, store failed: %s", exc, extra={"delivery": delivery.delivery_id}
            )
        except Exception:
            log.exception("turn crashed", extra={"delivery": delivery.delivery_id})
            with contextlib.suppress(StoreError):
                await self._store.finish_delivery(delivery.id, self._holder, "failed", "crashed")
        finally:
            self._slots.release()
            if delivery.queued or self._wakes != wakes:
                # Its conversation's next delivery (or one recorded meanwhile) may be due.
                self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()
