"""``POST /slack/events``: Slack's events, slash commands and interactivity, into Bolt.

The body is in memory before this runs (``app.http.bodies``: 408 when too slow, 413 when too
large). The first check that fails answers::

    the app has not started yet (no Bolt app) ........ 503
    the body, at most max_body bytes ................. 413
    Socket Mode (no signing secret): HTTP is off ..... 404
    UTF-8 (what Slack signs is text) ................. 400
    Slack's signature over the body .................. 401
    a JSON object, or a form Slack would send;
    its fields of the types Slack sends
    (``app.http.slack_shapes``) ...................... 400
    Bolt raises anyway (a shape the check above does
    not know yet; logged as an error) ................ 422

Otherwise Bolt's answer: 200 once the message is recorded, 503 if the store is down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier

from app.config import Secret
from app.errors import BadRequest
from app.http import Handler
from app.http.slack_shapes import read_slack_body
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
        try:
            # Slack signs text: bytes that are not UTF-8 cannot carry its signature.
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return web.json_response({"error": "malformed payload: not UTF-8"}, status=400)
        verifier = SignatureVerifier(signing_secret.reveal())
        try:
            valid = verifier.is_valid_request(text, dict(request.headers))
        except (ValueError, TypeError):  # a timestamp not a number, a signature not ASCII
            valid = False
        if not valid:
            return web.json_response({"error": "invalid signature"}, status=401)
        try:
            _, content_type = read_slack_body(text, request.content_type)
        except ValueError as exc:
            log.info("Slack payload refused: %s", exc)
            return web.json_response({"error": f"malformed payload: {exc}"}, status=400)
        try:
            bolt_request = await to_bolt_request(_Replay(request, text, content_type))  # type: ignore[arg-type]
            bolt_response = await app.async_dispatch(bolt_request)
        except (KeyError, TypeError, AttributeError, ValueError, IndexError):
            # Signed, passed the shape check, and still not readable: extend slack_shapes.
            log.error("Slack payload passed the checks but Bolt could not read it", exc_info=True)
            return web.json_response({"error": "unprocessable payload"}, status=422)
        return await to_aiohttp_response(bolt_response)

    return handle


def check_slack_payload(text: str) -> None:
    """Raise ValueError unless ``text`` is a JSON object or a form Slack would send."""
    read_slack_body(text, "")


class _Replay:
    """The slice of ``web.Request`` that Bolt's adapter reads, over an already-read body, with
    the content type under which the checks read it (Bolt picks JSON or form by it)."""

    def __init__(self, request: web.Request, text: str, content_type: str) -> None:
        self.query_string = request.query_string
        headers = CIMultiDict(request.headers)
        headers["Content-Type"] = content_type
        self.headers = CIMultiDictProxy(headers)
        self._text = text

    async def text(self) -> str:
        return self._text
