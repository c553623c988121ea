"""Anthropic's webhooks as the fake Managed Agents API sends them: Standard Webhooks deliveries,
retried like the real service, and the forgeries a receiver must refuse.

A payload carries the event type and the session's id only (``{"type": "event", "id",
"created_at", "data": {"type", "id", "organization_id", "workspace_id"}}``); the receiver
reads the session itself. ``webhook-id`` is the event id, the same on every retry, so a
receiver deduplicates by it. See ``anthropic_agents`` for the test-side API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from standardwebhooks import Webhook

ORGANIZATION_ID = "org_fake"
WORKSPACE_ID = "wrkspc_fake"
SESSION_WEBHOOKS = (
    "session.created",
    "session.status_run_started",
    "session.status_idled",
    "session.requires_action",
    "session.budget_reached",
    "session.status_terminated",
    "session.archived",
)
FORGERIES = ("bad_signature", "stale", "unsigned", "tampered", "malformed")


def new_webhook_secret() -> str:
    """A signing secret in the Console's format (``whsec_`` and base64)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    """RFC 3339 with microseconds and ``Z``, as the API writes times."""
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class Delivery:
    """One webhook delivery attempt: ``status`` is None when the endpoint was unreachable."""

    event: dict[str, Any]
    url: str
    headers: dict[str, str]
    body: str
    status: int | None = None
    answer: str = ""


class Webhooks:
    """The sending side: a subscribed endpoint gets every emitted event, in order."""

    def __init__(self) -> None:
        self.webhook_secret = new_webhook_secret()
        self.webhook_events: list[dict[str, Any]] = []  # every event emitted, in order
        self.deliveries: list[Delivery] = []  # every attempt, in order
        self.max_attempts = 3
        self.retry_delay = 0.05  # seconds between attempts of one delivery, growing
        self.delivery_timeout = 10.0
        self._subscription: tuple[str, str, frozenset[str]] | None = None
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._event_ids = itertools.count(1)

    def subscribe(
        self, url: str, secret: str | None = None, types: Iterable[str] | None = None
    ) -> None:
        """Register a webhook endpoint, as in the Console: emitted events go to ``url``."""
        chosen = frozenset(types or SESSION_WEBHOOKS)
        self._subscription = (url, secret or self.webhook_secret, chosen)

    def unsubscribe(self) -> None:
        self._subscription = None

    def webhook_event(self, session_id: str, type_: str) -> dict[str, Any]:
        """A webhook payload as the service builds it: the type and the session's id only."""
        return {
            "type": "event",
            "id": f"wevt_011Fake{next(self._event_ids):017d}",
            "created_at": stamp(now()),
            "data": {
                "type": type_,
                "id": session_id,
                "organization_id": ORGANIZATION_ID,
                "workspace_id": WORKSPACE_ID,
            },
        }

    def emit(self, session_id: str, type_: str) -> dict[str, Any]:
        """Record an event; queue it for the subscribed endpoint when it asked for its type."""
        event = self.webhook_event(session_id, type_)
        self.webhook_events.append(event)
        if self._subscription is not None and type_ in self._subscription[2]:
            if self._queue is None:
                self._queue = asyncio.Queue()
                self._worker = asyncio.get_running_loop().create_task(self._deliver_all())
            self._queue.put_nowait(event)
        return event

    async def _deliver_all(self) -> None:
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            try:
                for attempt in range(self.max_attempts):
                    if self._subscription is None:
                        break
                    url, secret, _ = self._subscription
                    delivery = await self.deliver(event, url=url, secret=secret)
                    if delivery.status is not None and 200 <= delivery.status < 300:
                        break
                    if attempt + 1 < self.max_attempts:
                        await asyncio.sleep(self.retry_delay * (attempt + 1))
            finally:
                self._queue.task_done()

    async def settled(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - test API
        """Wait until every emitted event was delivered (or gave up)."""
        if self._queue is not None:
            await asyncio.wait_for(self._queue.join(), timeout)

    def signed_headers(
        self,
        body: str,
        msg_id: str,
        *,
        secret: str | None = None,
        timestamp: datetime | None = None,
    ) -> dict[str, str]:
        moment = timestamp or now()
        signature = Webhook(secret or self.webhook_secret).sign(msg_id, moment, body)
        return {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": signature,
        }

    async def deliver(
        self,
        event: dict[str, Any],
        *,
        url: str | None = None,
        secret: str | None = None,
        forge: str | None = None,
    ) -> Delivery:
        """POST one webhook event to ``url`` (default: the subscribed endpoint)."""
        if url is None:
            if self._subscription is None:
                raise ValueError("no url given and no endpoint subscribed")
            url = self._subscription[0]
        if secret is None:
            secret = self._subscription[1] if self._subscription else self.webhook_secret
        if forge is not None and forge not in FORGERIES:
            raise ValueError(f"unknown forgery {forge!r}; one of {FORGERIES}")
        body = json.dumps(event, separators=(",", ":"))
        if forge == "stale":
            headers = self.signed_headers(
                body, event["id"], secret=secret, timestamp=now() - timedelta(minutes=10)
            )
        elif forge == "bad_signature":
            headers = self.signed_headers(body, event["id"], secret=new_webhook_secret())
        else:
            headers = self.signed_headers(body, event["id"], secret=secret)
        if forge == "unsigned":
            del headers["webhook-signature"]
        elif forge == "malformed":
            headers["webhook-signature"] = "not a signature"
        elif forge == "tampered":
            tampered = json.loads(body)
            tampered["data"]["id"] = "sesn_011FakeSomeoneElse"
            body = json.dumps(tampered, separators=(",", ":"))
        return await self._post(Delivery(event=event, url=url, headers=headers, body=body))

    async def replay(self, delivery: Delivery) -> Delivery:
        """Send a recorded delivery again, byte for byte, as someone who captured it would."""
        again = Delivery(
            event=delivery.event,
            url=delivery.url,
            headers=dict(delivery.headers),
            body=delivery.body,
        )
        return await self._post(again)

    async def _post(self, delivery: Delivery) -> Delivery:
        self.deliveries.append(delivery)
        timeout = aiohttp.ClientTimeout(total=self.delivery_timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.post(
                    delivery.url, data=delivery.body.encode(), headers=delivery.headers
                ) as response,
            ):
                delivery.status = response.status
                delivery.answer = await response.text()
        except (aiohttp.ClientError, TimeoutError) as err:
            delivery.answer = f"{type(err).__name__}: {err}"
        return delivery

    async def close(self) -> None:
        """Stop delivering (what is still queued is dropped)."""
        worker, self._worker = self._worker, None
        self._queue = None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
