"""The dashboard's pages (a placeholder front page until the pages land)."""

from __future__ import annotations

from aiohttp import web

from app.dashboard.auth import render
from app.dashboard.deps import DashboardDeps


def add_pages(app: web.Application, deps: DashboardDeps) -> None:
    """Register the pages on the dashboard's sub-application."""

    async def front(request: web.Request) -> web.StreamResponse:
        return render(request, "base.html")

    app.router.add_get("/", front)
