"""Every request's body, read whole within a deadline before any handler runs (every route).

A middleware reads the body with aiohttp's ``request.read()`` (through ``read_body``), which
keeps it: the handlers' own ``read_body``, ``request.text()``, ``json()`` or ``post()`` then
answer from memory and never wait on the client. (``request.content``, the stream, is spent by
then: a handler never reads it.) The first outcome that applies answers::

    no body, or an empty one ......................... the handler, at once
    whole body within body_deadline, at most max_body  the handler
    more than max_body bytes ......................... 413 (the rest is read and dropped for
                                                       at most lingering_time, then closed)
    not whole within body_deadline ................... 408, and the connection is closed
    malformed transfer or content encoding ........... 400, connection closed
    the client went away mid-body .................... nothing to answer: one INFO line

``body_deadline`` is the server's (``app.http.server.ServerLimits``), counted from when the
request head was in; aiohttp's ``keepalive_timeout`` bounds the head itself.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.typedefs import Middleware

from app.errors import BadRequest
from app.http import Handler
from app.http.server import limits_of
from app.webhooks.common import read_body

log = logging.getLogger(__name__)


def bounded_bodies(max_body: int) -> Middleware:
    """The middleware; ``max_body`` is ``MAX_BODY_BYTES``."""

    @web.middleware
    async def read_first(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.can_read_body:
            return await handler(request)
        deadline = limits_of(request.app).body_deadline
        try:
            async with asyncio.timeout(deadline):
                await read_body(request, max_body)
        except BadRequest as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        except TimeoutError:
            log.info(
                "%s %s: body not received within %ss, closing",
                request.method,
                request.path,
                deadline,
            )
            return await _answer_and_close(
                request, 408, f"request body not received within {deadline:g} s"
            )
        except web.RequestPayloadError as exc:
            log.info("%s %s: malformed body (%s)", request.method, request.path, exc)
            return await _answer_and_close(request, 400, "malformed request body")
        except ConnectionResetError:
            # Also aiohttp's ClientConnectionResetError. Nothing can be answered; the handler
            # never ran, so nothing else happened either.
            log.info("%s %s: client went away while sending the body", request.method, request.path)
            return web.Response(status=400)
        return await handler(request)

    return read_first


async def _answer_and_close(request: web.Request, status: int, error: str) -> web.StreamResponse:
    """Send the answer now, then close the connection rather than read on: the rest of this
    body is not worth waiting for."""
    response = web.json_response({"error": error}, status=status)
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()
    return response
