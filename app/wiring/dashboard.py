"""The dashboard (``DASHBOARD_*``), wired into the app when a way of signing in is configured.

Its routes are mounted when the app is built, before it starts: the store, the worker and the
bot's identity are read through getters then. The dashboard is also a surface: the answers of
its conversations go to ``live``, which its pages relay as they are written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from app.config import Settings
from app.dashboard import DashboardDeps, mount_dashboard
from app.metrics import Metrics
from app.ops.erase import erased_content
from app.slack.events import BotIdentity
from app.store.base import Store
from app.surfaces.dashboard import DashboardSurface, LiveFeed


def wire_dashboard(
    app: web.Application,
    settings: Settings,
    *,
    slack: AsyncWebClient,
    metrics: Metrics,
    open_store: Callable[[], Store | None],
    bot: Callable[[], BotIdentity],
    wake: Callable[[], None],
    clock: Callable[[], datetime],
    live: LiveFeed,
) -> None:
    """Mount the dashboard under ``/dashboard`` when it is configured; else nothing is."""
    if settings.dashboard is None:
        return
    mount_dashboard(
        app,
        DashboardDeps(
            settings=settings,
            slack=slack,
            metrics=metrics,
            open_store=open_store,
            bot=bot,
            wake=wake,
            clock=clock,
            live=live,
            erased=erased_content,
        ),
    )


def dashboard_surface(settings: Settings, live: LiveFeed) -> DashboardSurface | None:
    """The dashboard as a place conversations live, when it is configured."""
    if settings.dashboard is None:
        return None
    return DashboardSurface(live, settings.public_url)
