"""``POST /webhooks/{github,jira}``: the integration's handler, answered within a deadline.

GitHub gives up on a delivery after 10 s and does not retry it, so the route answers within
``WEBHOOK_DEADLINE_SECONDS``: a 503 if the store is too slow, rather than no answer at all.
The deadline counts from when the body is in (``app.http.bodies`` reads it first, with its
own deadline and a 408), so a slow sender is never mistaken for a slow store.
The handlers themselves (signature, parsing, recording) live in ``app.webhooks``; they are
built when the app starts, and the route answers 503 until then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

from aiohttp import web

from app.http import Handler

log = logging.getLogger(__name__)

WEBHOOK_DEADLINE_SECONDS: Final = 8.0


def within_deadline(
    name: str,
    handler: Callable[[], Handler | None],
    *,
    deadline: float = WEBHOOK_DEADLINE_SECONDS,
) -> Handler:
    """The route for webhook ``name``; ``handler`` answers its handler once the app started."""

    async def handle(request: web.Request) -> web.StreamResponse:
        inner = handler()
        if inner is None:
            return web.json_response({"error": "starting"}, status=503)
        try:
            async with asyncio.timeout(deadline):
                return await inner(request)
        except TimeoutError:
            log.error("%s webhook not recorded in time", name)
            return web.json_response({"error": "store too slow"}, status=503)

    return handle
