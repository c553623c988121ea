"""What GitHub and Jira webhooks share: signatures, actions, and the handler pipeline.

A delivery goes through these steps, in this order; the first that fails answers::

    read the body, at most max_body bytes ........ 413
    HMAC-SHA256 signature over the raw bytes ..... 401 (nothing else happens)
    JSON object (GitHub: also form-encoded), read
    strictly (``loads_object``) .................. 400
    delivery id header ........................... 400
    parse into an action (pure, per platform) .... 400 when the payload has the wrong shape
    apply the action to the store ................ 503 on StoreError, so the sender retries

The parsers cut a comment longer than ``max_chars`` (``MAX_MESSAGE_CHARS``; counted as it
reaches Claude, quoted: ``app.core.bounds``) and keep its length in ``Inbound.cut_from``.

Actions: ``CommentAction`` (a person who may speak commented on a linked item: queue it in
the inbox and wake the worker, 202; unless ``max_pending`` deliveries of its conversation are
waiting already: then 200 ``ignored: backlog``, counted through ``on_refused`` as
``conversation_backlog``, not queued), ``RefuseAction`` (someone who may not speak there
commented: 200 with the reason, counted through ``on_refused``, logged without the text),
``UnlinkAction`` (the item was closed/deleted/resolved: drop its key, 200), ``IgnoreAction``
(200, with the reason). The turn itself runs later, in the worker.

A comment is queued under its own identity (``spec.comment_ref``: ``github:comment:{id}``,
``jira:comment:{issue}/{id}``), not under the delivery header's id, so the same comment
delivered again under a new delivery id (a redelivery from the platform's settings page, a
retry after a timeout) is recognised and answered once. The header is still required, and
logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import parse_qs

from aiohttp import web

from app.config import ActionSettings, Secret
from app.core import Inbound
from app.errors import BadRequest, LaneFull, StoreError
from app.store.base import Store

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_DELIVERY_ID: Final = 200
MAX_JSON_DEPTH: Final = 100
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89abcdefABCDEF]")
DEFAULT_MAX_CHARS: Final = ActionSettings.max_message_chars
DEFAULT_MAX_PENDING: Final = ActionSettings.max_pending_per_conversation
BACKLOG: Final = "backlog"


@dataclass(frozen=True)
class CommentAction:
    """A comment to answer: queue it in the inbox on the item's conversation key."""

    inbound: Inbound


@dataclass(frozen=True)
class RefuseAction:
    """A comment by someone who may not speak there (an outsider, a customer, a bot).

    Never queued; answered 200 with ``reason``, counted by ``label`` (a short, fixed word for
    metrics), logged with the author's id but never the comment's text.
    """

    key: str  # the item's conversation key: refusals count only on linked items
    comment_ref: str  # ``spec.comment_ref`` of the comment: our own is never a refusal
    author_id: str
    reason: str  # "commenter not trusted (author_association NONE)": the 200's ``ignored``
    label: str  # "untrusted_association", "customer", "app", "bot": the metrics reason


@dataclass(frozen=True)
class UnlinkAction:
    """The item is finished (closed, resolved, deleted): detach its key from its session."""

    key: str
    cause: str


@dataclass(frozen=True)
class IgnoreAction:
    reason: str


Action = CommentAction | RefuseAction | UnlinkAction | IgnoreAction


class Parser(Protocol):
    """(event name, payload, agent, our own identity; the longest text kept) -> action"""

    def __call__(
        self,
        event: str,
        payload: Mapping[str, Any],
        agent: str,
        our_identity: str | None,
        /,
        *,
        max_chars: int,
    ) -> Action: ...


def verify_hmac_sha256(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is ``sha256=<hex HMAC-SHA256 of body>`` under ``secret``."""
    if not secret or not header:
        return False
    prefix, _, given = header.strip().partition("=")
    if prefix.lower() != "sha256" or not given:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.lower().encode("utf-8", "replace"))


def delivery_ref(source: str, delivery: str) -> str:
    """The ref under which a non-comment delivery (an unlink) is remembered as handled."""
    return f"{source}:delivery:{delivery}"


async def read_body(request: web.Request, max_body: int) -> bytes:
    """The raw body; ``BadRequest(413)`` when it exceeds ``max_body`` bytes.

    Read with aiohttp's ``request.read()``, which keeps it: on the app's routes the HTTP layer
    has read it already, within its deadline (``app.http.bodies``), and this answers from
    memory. A ``Content-Length`` over ``max_body`` is refused unread; otherwise the read stops
    as soon as the body passes the application's ``client_max_size`` (``MAX_BODY_BYTES``).
    """
    if request.content_length is not None and request.content_length > max_body:
        raise BadRequest("payload too large", status=413)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BadRequest("payload too large", status=413) from None
    if len(body) > max_body:
        raise BadRequest("payload too large", status=413)
    return body


def loads_object(text: str) -> dict[str, Any]:
    """The JSON object in ``text``; ``ValueError`` (with the reason) for anything else.

    Stricter than ``json.loads``, as the senders are: no ``NaN`` or infinite numbers, nothing
    nested deeper than ``MAX_JSON_DEPTH`` (readers further on recurse), and no lone surrogate
    (``"\\ud800"`` is valid JSON but no text: UTF-8, and so the store, refuses it).
    """
    try:
        value = json.loads(text, parse_constant=_not_a_number, parse_float=_finite)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH}") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    _check_tree(value, strings=_SURROGATE_ESCAPE.search(text) is not None)
    return value


def decode_payload(body: bytes, content_type: str) -> dict[str, Any]:
    """The JSON object in ``body``; GitHub's form encoding (``payload=<json>``) is accepted."""
    try:
        text = body.decode("utf-8")
        if content_type == "application/x-www-form-urlencoded":
            text = parse_qs(text, strict_parsing=True)["payload"][0]
    except (ValueError, KeyError):
        raise BadRequest("malformed payload: not JSON") from None
    try:
        return loads_object(text)
    except ValueError as exc:
        reason = "not JSON" if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise BadRequest(f"malformed payload: {reason}") from None


def _not_a_number(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _check_tree(root: dict[str, Any], *, strings: bool) -> None:
    """``ValueError`` if ``root`` nests deeper than ``MAX_JSON_DEPTH`` or, when ``strings``,
    holds a string (a key or a value) with a lone surrogate."""
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            items: list[Any] = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            items = value
        else:
            if strings and isinstance(value, str) and not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError("a lone surrogate in a string") from None
            continue
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"nested deeper than {MAX_JSON_DEPTH}")
        stack.extend((item, depth + 1) for item in items)


@dataclass(frozen=True)
class WebhookSpec:
    """How one platform signs, names and identifies its deliveries."""

    source: str
    signature_header: str
    delivery_header: str
    verify: Callable[[bytes, bytes, str | None], bool]
    event_of: Callable[[Mapping[str, str], Mapping[str, Any]], str]
    parse: Parser
    # (item ref, comment id) -> the ``remember_posted`` ref of a comment: the surface records
    # ours under it when it answers, and the handler looks every new comment up by it.
    comment_ref: Callable[[str, str], str]

    def posted_ref(self, inbound: Inbound) -> str:
        """The ref of the comment ``inbound`` was made from."""
        return self.comment_ref(inbound.item_ref or "", inbound.comment_id or "")


def make_handler(
    spec: WebhookSpec,
    *,
    secret: Secret,
    store: Store,
    agent: str,
    identity: Callable[[], str | None],
    max_body: int,
    wake: Callable[[], None],
    on_refused: Callable[[str, str], None],
    max_chars: int = DEFAULT_MAX_CHARS,
    max_pending: int = DEFAULT_MAX_PENDING,
) -> Handler:
    """An aiohttp handler for ``spec``'s deliveries (see the module docstring for the steps).

    ``on_refused(surface, reason)`` counts a comment refused because of who wrote it, or
    because its conversation has ``max_pending`` deliveries waiting; comments are cut to
    ``max_chars``.
    """
    key = secret.reveal().encode()

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            body = await read_body(request, max_body)
        except BadRequest as exc:
            return _answer(exc.status, error=str(exc))
        if not spec.verify(key, body, request.headers.get(spec.signature_header)):
            log.warning("%s webhook with a missing or wrong signature refused", spec.source)
            return _answer(401, error="invalid signature")
        delivery = request.headers.get(spec.delivery_header, "").strip()
        try:
            payload = decode_payload(body, request.content_type)
            if not delivery or len(delivery) > MAX_DELIVERY_ID:
                raise BadRequest(f"missing or malformed {spec.delivery_header} header")
            event = spec.event_of(request.headers, payload)
            action = spec.parse(event, payload, agent, identity(), max_chars=max_chars)
        except BadRequest as exc:
            log.warning("%s webhook refused: %s", spec.source, exc)
            return _answer(exc.status, error=str(exc))
        try:
            if isinstance(action, RefuseAction):
                return await _refuse(spec, delivery, action, store, on_refused)
            if isinstance(action, CommentAction):
                return await _queue(
                    spec, delivery, action.inbound, store, wake, on_refused, max_pending
                )
            return await _apply(spec, delivery, action, store)
        except StoreError as exc:
            log.error("%s webhook %s not stored: %s", spec.source, delivery, exc)
            return _answer(503, error="store unavailable, retry later")

    return handle


async def _apply(
    spec: WebhookSpec, delivery: str, action: UnlinkAction | IgnoreAction, store: Store
) -> web.Response:
    source = spec.source
    extra = {"delivery": f"{source}:{delivery}"}
    if isinstance(action, IgnoreAction):
        log.debug("webhook ignored: %s", action.reason, extra=extra)
        return _answer(200, ignored=action.reason)
    # Not queued in the inbox: the worker only runs turns. Unlinking is idempotent, and
    # remembering the delivery keeps a late redelivery from dropping a newer link.
    ref = delivery_ref(source, delivery)
    if await store.was_posted(ref):
        return _answer(200, duplicate=True)
    owner = await store.unlink_key(action.key, cause=action.cause)
    await store.remember_posted(ref)
    log.info("unlinked %s (%s) session=%s", action.key, action.cause, owner, extra=extra)
    return _answer(200, unlinked=owner is not None)


async def _queue(
    spec: WebhookSpec,
    delivery: str,
    inbound: Inbound,
    store: Store,
    wake: Callable[[], None],
    on_refused: Callable[[str, str], None],
    max_pending: int,
) -> web.Response:
    """Queue a comment to answer, unless it is ours, its item is not linked, or too many
    deliveries of its conversation are waiting already (a backlog: counted, not queued)."""
    source = spec.source
    extra = {"delivery": f"{source}:{delivery}"}
    comment = spec.posted_ref(inbound)
    if await store.was_posted(comment):
        return _answer(200, ignored="our own comment")
    if await store.resolve(inbound.key) is None:
        return _answer(200, ignored="item not linked to a conversation")
    # Deduplicated by the comment, not the delivery: a redelivery under a new id is the
    # same comment and must not be answered twice.
    try:
        fresh = await store.record_delivery(
            comment, source, lane=inbound.key, payload=inbound.to_payload(), max_pending=max_pending
        )
    except LaneFull:
        on_refused(source, "conversation_backlog")
        log.warning("comment %s not queued: %s has a backlog", comment, inbound.key, extra=extra)
        return _answer(200, ignored=BACKLOG)
    if not fresh:
        log.info("comment %s delivered again, not queued twice", comment, extra=extra)
        return _answer(200, duplicate=True)
    wake()
    log.info("queued comment %s on %s", comment, inbound.key, extra=extra)
    return _answer(202, queued=True)


async def _refuse(
    spec: WebhookSpec,
    delivery: str,
    action: RefuseAction,
    store: Store,
    on_refused: Callable[[str, str], None],
) -> web.Response:
    """Acknowledge a comment by someone who may not speak: counted on linked items only
    (elsewhere it would not have started a turn anyway), never queued, its text never
    logged."""
    if await store.was_posted(action.comment_ref):
        return _answer(200, ignored="our own comment")
    if await store.resolve(action.key) is None:
        return _answer(200, ignored="item not linked to a conversation")
    on_refused(spec.source, action.label)
    log.info(
        "comment by %r on %s refused: %s",
        action.author_id,
        action.key,
        action.reason,
        extra={"delivery": f"{spec.source}:{delivery}"},
    )
    return _answer(200, ignored=action.reason)


def _answer(status: int, *, error: str | None = None, **fields: Any) -> web.Response:
    body: dict[str, Any] = {"ok": error is None}
    if error is not None:
        body["error"] = error
    body.update(fields)
    return web.json_response(body, status=status)


# -- payload access (parsers raise BadRequest on a wrong shape) ---------------------------------


def obj(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise BadRequest(f"malformed payload: {name!r} must be an object")
    return value


def string(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"malformed payload: {name!r} must be a non-empty string")
    return value


def integer(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadRequest(f"malformed payload: {name!r} must be a positive integer")
    return value
