"""What the dashboard's handlers need from the running app, handed over once when it is built.

The dashboard is built with the app, before the app starts: the store exists only once it has
started, so it is read through a getter (``store`` answers 503 until then, as the other routes
do). ``deliver`` records a message in the inbox exactly as Slack's edge does (deduplicated by
its delivery id, refused when the conversation's backlog is full) and then wakes the worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from app.config import DashboardSettings, Settings
from app.dashboard.access import Memberships
from app.dashboard.cookies import CookieSigner, derive_key
from app.errors import LaneFull
from app.metrics import Metrics
from app.slack.events import BotIdentity
from app.store.base import Store
from app.surfaces.dashboard import LiveFeed

Delivered = Literal["recorded", "duplicate", "backlog"]


@dataclass(frozen=True)
class DashboardDeps:
    settings: Settings
    slack: AsyncWebClient  # the bot's client (bot token): membership checks, notices
    metrics: Metrics
    open_store: Callable[[], Store | None]  # None until the app has started
    bot: Callable[[], BotIdentity]  # the bot's identity from auth.test at start
    wake: Callable[[], None]  # the worker: a delivery is waiting
    clock: Callable[[], datetime]
    # Seconds since the epoch for cookie expiry; a test may move it.
    epoch: Callable[[], float] = time.time
    # Who is in which Slack channel, asked with the bot token and cached briefly.
    memberships: Memberships = field(default_factory=Memberships)
    # The answers of dashboard turns run by this process, as they are written (the dashboard
    # surface publishes them; the pages' live updates relay them).
    live: LiveFeed = field(default_factory=LiveFeed)
    # What a person's erased message becomes (``app.ops.erase.erased_content``, handed over
    # by the composition root); None: the dashboard offers no erasing.
    erased: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None
    signer: CookieSigner = field(init=False)

    def __post_init__(self) -> None:
        config = self.dashboard
        key = derive_key((config.client_secret, config.token))
        object.__setattr__(self, "signer", CookieSigner(key))

    @property
    def dashboard(self) -> DashboardSettings:
        if self.settings.dashboard is None:
            raise RuntimeError("the dashboard is built only when it is configured")
        return self.settings.dashboard

    @property
    def store(self) -> Store:
        """The app's store; 503 while the app is still starting."""
        store = self.open_store()
        if store is None:
            raise web.HTTPServiceUnavailable(text="Threadline is starting; try again shortly.")
        return store

    @property
    def agent(self) -> str:
        return self.settings.agent_name

    async def deliver(self, delivery_id: str, key: str, payload: dict[str, Any]) -> Delivered:
        """Record a dashboard message for conversation ``key`` and wake the worker:
        ``recorded``; ``duplicate`` when this delivery id was recorded before (a resubmitted
        form); ``backlog`` when ``MAX_PENDING_PER_CONVERSATION`` deliveries already wait.

        Raises ``StoreError`` when the store cannot record it (the caller answers 503).
        """
        store = self.store
        limit = self.settings.actions.max_pending_per_conversation
        try:
            if not await store.record_delivery(
                delivery_id, "dashboard", key, payload, max_pending=limit
            ):
                return "duplicate"
        except LaneFull:
            return "backlog"
        self.wake()
        return "recorded"
