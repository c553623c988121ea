"""The server's limits as ``python -m app serve`` gets them, and its connection log."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.http import HttpProcessingError

from app.http.server import SERVER_LIMITS, ServerLimits, ServerLog, limits_of, server_options


def test_the_production_limits_reach_the_app_and_the_connection_handler() -> None:
    app = web.Application()
    assert limits_of(app) == ServerLimits()  # before the server is set up: the defaults

    options = server_options(app, ServerLimits())

    assert app[SERVER_LIMITS].body_deadline == 10.0
    assert isinstance(options.pop("logger"), ServerLog)
    assert options == {
        "keepalive_timeout": 15.0,
        "lingering_time": 5.0,
        "max_line_size": 8190,
        "max_field_size": 8190,
        "max_headers": 128,
        "handler_cancellation": False,
    }


@pytest.mark.parametrize("name", ["body_deadline", "idle_timeout"])
def test_a_deadline_must_be_positive(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        ServerLimits(**{name: 0})


def test_the_log_keeps_tracebacks_for_our_errors_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    log = ServerLog(logging.getLogger("aiohttp.server"))
    malformed = HttpProcessingError(code=400, message="Invalid header value\n\n  b'\\x00'")

    log.exception("Error handling request from %s", "10.0.0.1", exc_info=malformed)
    log.debug("Error handling request from %s", "10.0.0.2", exc_info=malformed)
    try:
        raise KeyError("a bug")
    except KeyError as exc:
        log.exception("Error handling request from %s", "10.0.0.3", exc_info=exc)

    refused, tls, bug = caplog.records
    assert (refused.levelno, refused.getMessage(), refused.exc_info) == (
        logging.INFO,
        "malformed request from 10.0.0.1 refused: Invalid header value",
        None,
    )
    assert (tls.levelno, tls.exc_info) == (logging.DEBUG, None)
    assert bug.levelno == logging.ERROR and bug.exc_info is not None
