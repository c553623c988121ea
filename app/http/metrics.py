"""``GET /metrics``: the app's Prometheus registry, with the gauges of the present (live
sessions, inbox, turns in flight) refreshed from the store and the worker at each scrape.

A store that does not answer leaves those gauges as they were: the scrape itself never fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from aiohttp import web

from app.errors import StoreError
from app.http import Handler
from app.http.healthz import WorkerState
from app.metrics import Metrics
from app.store.base import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics_page(
    metrics: Metrics,
    *,
    store: Callable[[], Store | None],
    worker: Callable[[], WorkerState | None],
) -> Handler:
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
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    return handle
