"""``POST /slack/events``: Slack's events, slash commands and interactivity, into Bolt.

The first check that fails answers::

    the app has not started yet (no Bolt app) ........ 503
    read the body, at most max_body bytes ............ 413
    Socket Mode (no signing secret): HTTP is off ..... 404
    Slack's signature over the raw bytes ............. 401
    a JSON object, or a form Slack would send ........ 400
    Bolt dispatch: a signed payload of a shape
    Slack never sends (logged loudly) ................ 422

Otherwise Bolt's answer: 200 once the message is recorded, 503 if the store is down.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from urllib.parse import parse_qs

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier

from app.config import Secret
from app.errors import BadRequest
from app.http import Handler
from app.webhooks.common import read_body

log = logging.getLogger(__name__)


def slack_events(
    *, bolt: Callable[[], AsyncApp | None], signing_secret: Secret | None, max_body: int
) -> Handler:
    """The handler; ``bolt`` answers the Bolt app once the app has started."""

    async def handle(request: web.Request) -> web.StreamResponse:
        app = bolt()
        if app is None:
            return web.json_response({"error": "starting"}, status=503)
        try:
            body = await read_body(request, max_body)
        except BadRequest as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        if signing_secret is None:
            return web.json_response({"error": "HTTP events are off in Socket Mode"}, status=404)
        verifier = SignatureVerifier(signing_secret.reveal())
        try:
            valid = verifier.is_valid_request(body, dict(request.headers))
        except (UnicodeDecodeError, ValueError):
            valid = False
        if not valid:
            return web.json_response({"error": "invalid signature"}, status=401)
        try:
            text = body.decode("utf-8")
            check_slack_payload(text)
            bolt_request = await to_bolt_request(_Replay(request, text))  # type: ignore[arg-type]
        except (UnicodeDecodeError, ValueError):
            return web.json_response({"error": "malformed payload"}, status=400)
        try:
            bolt_response = await app.async_dispatch(bolt_request)
        except (KeyError, TypeError, AttributeError, ValueError):
            # A payload of a shape Slack never sends; it was signed, so log it loudly.
            log.exception("unprocessable Slack payload")
            return web.json_response({"error": "unprocessable payload"}, status=422)
        return await to_aiohttp_response(bolt_response)

    return handle


class _Replay:
    """The slice of ``web.Request`` that Bolt's adapter reads, over an already-read body."""

    def __init__(self, request: web.Request, text: str) -> None:
        self.query_string = request.query_string
        self.headers = request.headers
        self._text = text

    async def text(self) -> str:
        return self._text


def check_slack_payload(text: str) -> None:
    """Raise ValueError unless ``text`` is a JSON object or a form Slack would send."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        if not isinstance(json.loads(stripped), dict):
            raise ValueError("not a JSON object")
        return
    form = parse_qs(text, strict_parsing=bool(text))
    if "payload" in form:
        if not isinstance(json.loads(form["payload"][0]), dict):
            raise ValueError("payload is not a JSON object")
    elif "command" not in form and "ssl_check" not in form:
        raise ValueError("neither an event, a command nor an interaction")
