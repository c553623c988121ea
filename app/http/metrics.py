"""``GET /metrics``: the app's Prometheus registry, with the gauges of the present (live
sessions, inbox, turns in flight) refreshed from the store and the worker at each scrape, and
the votes stored on answers at most once every ``VOTES_EVERY`` seconds (one aggregate over the
votes, so its cost does not follow the scrape rate).

A store that does not answer leaves those gauges as they were: the scrape itself never fails.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Final

from aiohttp import web

from app.errors import StoreError
from app.http import Handler
from app.http.healthz import WorkerState
from app.metrics import Metrics
from app.store.base import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
VOTES_EVERY: Final = 30.0


def metrics_page(
    metrics: Metrics,
    *,
    store: Callable[[], Store | None],
    worker: Callable[[], WorkerState | None],
    clock: Callable[[], float] = time.monotonic,
) -> Handler:
    votes_read: list[float] = []  # when the votes were last read

    async def handle(_: web.Request) -> web.StreamResponse:
        opened = store()
        if opened is not None:
            with contextlib.suppress(StoreError):
                stats = await opened.stats()
                running = worker()
                metrics.observe_state(
                    active_sessions=stats.active_sessions,
                    inbox_pending=stats.pending_deliveries,
                    in_flight=running.in_flight if running else 0,
                )
            now = clock()
            if not votes_read or now - votes_read[-1] >= VOTES_EVERY:
                with contextlib.suppress(StoreError):
                    metrics.observe_votes((await opened.vote_totals()).items())
                    votes_read[:] = [now]
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    return handle
