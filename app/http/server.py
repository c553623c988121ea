"""The HTTP server's limits on slow and oversized clients, set where the server is started.

One ``ServerLimits`` serves ``python -m app serve`` (``web.run_app``) and the tests (an
``AppRunner`` on port 0): ``server_options(web_app, limits)`` hands the application its body
deadline and returns the keyword arguments of aiohttp's connection handler::

    limit               default   what a client that exceeds it gets
    body_deadline       10 s      the whole body, from when the request head is in: a 408 and
                                  the connection closed (``app.http.bodies``, every route)
    idle_timeout        15 s      aiohttp's ``keepalive_timeout``: a connection without a whole
                                  request head this long after it opened, or after its last
                                  answer, is closed, so trickled headers (or none) hold it no
                                  longer than this
    lingering_time      5 s       after an early answer (a 413) the unread rest of a body is
                                  read and dropped this long at most, so the client sees the
                                  answer rather than a reset; then the connection is closed
    max_line_size       8190 B    request line: 400
    max_field_size      8190 B    one header: 400
    max_headers         128       header count: 400

The body cap itself is ``MAX_BODY_BYTES`` (the application's ``client_max_size``: 413). A
request aiohttp cannot parse (a line or header too long, bad chunking) is answered 400 by
aiohttp and logged at INFO without a traceback (``ServerLog``): anyone can send one.
Handlers are not cancelled when their client goes away (aiohttp's default): a delivery being
recorded is recorded; a client gone mid-body is logged at INFO (``app.http.bodies``).

A proxy in front (TLS ends there) should keep idle upstream connections for less than
``idle_timeout``, or retry a request on a connection the server has just closed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from aiohttp.http import HttpProcessingError

BODY_DEADLINE_SECONDS: Final = 10.0
IDLE_TIMEOUT_SECONDS: Final = 15.0


@dataclass(frozen=True)
class ServerLimits:
    """How long and how much a client may take; production values by default."""

    body_deadline: float = BODY_DEADLINE_SECONDS
    idle_timeout: float = IDLE_TIMEOUT_SECONDS
    lingering_time: float = 5.0
    max_line_size: int = 8190
    max_field_size: int = 8190
    max_headers: int = 128

    def __post_init__(self) -> None:
        for name in ("body_deadline", "idle_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")


SERVER_LIMITS: Final = web.AppKey("server_limits", ServerLimits)


def limits_of(web_app: web.Application) -> ServerLimits:
    """The limits ``web_app`` is served with (the defaults until ``server_options`` ran)."""
    return web_app.get(SERVER_LIMITS) or ServerLimits()


def server_options(web_app: web.Application, limits: ServerLimits) -> dict[str, Any]:
    """Give ``web_app`` its body deadline; the connection handler's keyword arguments, for
    ``web.AppRunner`` or ``web.run_app``. Call before the app starts (it is frozen then)."""
    web_app[SERVER_LIMITS] = limits
    return {
        "logger": ServerLog(logging.getLogger("aiohttp.server")),
        "keepalive_timeout": limits.idle_timeout,
        "lingering_time": limits.lingering_time,
        "max_line_size": limits.max_line_size,
        "max_field_size": limits.max_field_size,
        "max_headers": limits.max_headers,
        "handler_cancellation": False,
    }


def runner(web_app: web.Application, limits: ServerLimits, **options: Any) -> web.AppRunner:
    """An ``AppRunner`` for ``web_app`` under ``limits``; ``options`` are the runner's own
    (``access_log``, ``shutdown_timeout``)."""
    return web.AppRunner(web_app, **server_options(web_app, limits), **options)


class ServerLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's connection log. A request it could not parse is the client's doing: one INFO
    line (DEBUG for TLS spoken to this plain HTTP port, as aiohttp has it), no traceback.
    Anything else it reports (a handler that raised: our bug) keeps its level and traceback."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            self._refused(logging.INFO, args, exc_info)
        else:
            self.logger.exception(msg, *args, exc_info=exc_info, **kwargs)

    def debug(self, msg: object, *args: object, exc_info: Any = None, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            self._refused(logging.DEBUG, args, exc_info)
        else:
            self.logger.debug(msg, *args, exc_info=exc_info, **kwargs)

    def _refused(self, level: int, args: tuple[object, ...], exc: HttpProcessingError) -> None:
        remote = args[0] if args else "?"
        reason = (exc.message or "").strip().splitlines()[:1] or ["malformed"]
        self.logger.log(level, "malformed request from %s refused: %s", remote, reason[0])
