"""``GET /healthz``: 200 when the store answers, its schema is this version's and the worker
runs; 503 otherwise, with what is wrong::

    {"status": "starting"}                                  the app has not started yet
    {"status": "unavailable", "store": "unreachable"}       the store does not answer
    {"status": "ok" | "degraded", "store": "ok", "schema": ..., "schema_head": ...,
     "worker": "ok" | "retrying" | "stopped"}               degraded: schema behind or ahead,
                                                            or the worker stopped

``retrying`` (the worker's last claim hit a store error) is still healthy: it backs off and
recovers by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from app.errors import StoreError
from app.http import Handler
from app.store.base import Store


class WorkerState(Protocol):
    """What the routes read from the worker."""

    @property
    def alive(self) -> bool: ...

    @property
    def in_flight(self) -> int: ...

    @property
    def store_healthy(self) -> bool: ...


def healthz(
    *, store: Callable[[], Store | None], worker: Callable[[], WorkerState | None]
) -> Handler:
    async def handle(_: web.Request) -> web.StreamResponse:
        opened = store()
        if opened is None:
            return web.json_response({"status": "starting"}, status=503)
        try:
            await opened.ping()
            current, head = await opened.schema_version(), await opened.head_version()
        except StoreError:
            return web.json_response({"status": "unavailable", "store": "unreachable"}, status=503)
        running = worker()
        if running is None or not running.alive:
            worker_state = "stopped"
        else:
            worker_state = "ok" if running.store_healthy else "retrying"
        ok = current == head and worker_state != "stopped"
        return web.json_response(
            {
                "status": "ok" if ok else "degraded",
                "store": "ok",
                "schema": current,
                "schema_head": head,
                "worker": worker_state,
            },
            status=200 if ok else 503,
        )

    return handle
