"""What an integration (GitHub, Jira) brings when it is configured, registered in one place.

Each integration module returns one ``Integration``: its surface (where comments are answered),
its tools, its webhook (spec, secret and our own account, so we never answer ourselves) and
how to learn that account. ``connect`` learns it, retrying in the background on failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from app.agent.tools.base import Tool
from app.config import Secret
from app.errors import IntegrationError
from app.store.base import Store
from app.surfaces.base import Surface
from app.webhooks.common import WebhookSpec, make_handler

log = logging.getLogger(__name__)

WebHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Account:
    """Our own account on the platform, once learned (None until then)."""

    id: str | None = None


@dataclass(frozen=True)
class Webhook:
    """A platform's signed webhook, answered at ``/webhooks/{spec.source}``."""

    spec: WebhookSpec
    secret: Secret
    account: Account

    def handler(
        self,
        *,
        store: Store,
        agent: str,
        max_body: int,
        wake: Callable[[], None],
        on_refused: Callable[[str, str], None],
        max_chars: int,
        max_pending: int,
    ) -> WebHandler:
        """The route's handler; ``on_refused(surface, reason)`` counts comments refused
        because of who wrote them or a backlog (the app passes ``Metrics.refusal``);
        comments are cut to ``max_chars`` (MAX_MESSAGE_CHARS) and refused past
        ``max_pending`` waiting deliveries of their conversation."""
        return make_handler(
            self.spec,
            secret=self.secret,
            store=store,
            agent=agent,
            identity=lambda: self.account.id,
            max_body=max_body,
            wake=wake,
            on_refused=on_refused,
            max_chars=max_chars,
            max_pending=max_pending,
        )


@dataclass
class Integration:
    name: str  # "GitHub": for log lines
    surface: Surface
    tools: list[Tool]
    whoami: Callable[[], Awaitable[str]]
    account: Account = field(default_factory=Account)
    webhook: Webhook | None = None

    async def connect(self) -> Callable[[], Coroutine[Any, Any, None]] | None:
        """Learn our account now; on failure, return a job that keeps trying."""
        try:
            self.account.id = await self.whoami()
            return None
        except IntegrationError as exc:
            log.warning(
                "%s identity unknown for now (%s); retrying in the background", self.name, exc
            )
        return self._keep_trying

    async def _keep_trying(self) -> None:
        delay = 30.0
        while True:
            await asyncio.sleep(delay)
            try:
                self.account.id = await self.whoami()
                log.info("%s identity learned", self.name)
                return
            except IntegrationError:
                delay = min(delay * 2, 600.0)
