"""Housekeeping while the bot runs: every ``PRUNE_INTERVAL_SECONDS``, refresh the live-sessions
gauge and prune (what ``python -m app prune`` does by hand).

A failed round is logged and tried again next round; it never stops the bot. Stopping lets a
round that is under way finish, for at most ``STOP_WAIT_SECONDS``, then cancels it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Final

from app.errors import StoreError
from app.metrics import Metrics
from app.store.base import Store

log = logging.getLogger(__name__)

STOP_WAIT_SECONDS: Final = 5.0


async def housekeeping_round(store: Store, metrics: Metrics, retention_days: float) -> None:
    """One round; raises what the store raises."""
    stats = await store.stats()
    metrics.active_sessions.set(stats.active_sessions)
    result = await store.prune(retention_days)
    if any(vars(result).values()):
        log.info("pruned %s", result)


async def keep_house(
    store: Store,
    metrics: Metrics,
    *,
    retention_days: float,
    interval: float,
    stopping: asyncio.Event,
) -> None:
    """A round now and then one every ``interval`` seconds, until ``stopping`` is set."""
    while not stopping.is_set():
        try:
            await housekeeping_round(store, metrics, retention_days)
        except StoreError as exc:
            log.warning("housekeeping skipped: %s", exc)
        except Exception:
            log.exception("housekeeping failed; trying again next round")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval)


@contextlib.asynccontextmanager
async def housekeeping(
    store: Store, metrics: Metrics, *, retention_days: float, interval: float
) -> AsyncIterator[None]:
    """Housekeeping in the background for as long as the context is open."""
    stopping = asyncio.Event()
    task = asyncio.create_task(
        keep_house(
            store, metrics, retention_days=retention_days, interval=interval, stopping=stopping
        ),
        name="threadline-housekeeping",
    )
    try:
        yield
    finally:
        stopping.set()
        _, pending = await asyncio.wait({task}, timeout=STOP_WAIT_SECONDS)
        for late in pending:
            late.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await late
