"""The dashboard: every conversation's history in a browser, under ``/dashboard``.

``build_dashboard(deps)`` returns an aiohttp sub-application that ``app.main`` mounts at
``/dashboard`` only when a way of signing in is configured (``Settings.dashboard``); otherwise
nothing is mounted and every path under it answers 404. The parts::

    auth      who is signed in (the middleware), CSRF checks, the session cookie
    signin    the sign-in routes: the page, the operator token, Sign in with Slack, sign-out
    oidc      Slack's OpenID Connect flow and the id_token checks
    access    which conversations a viewer may see (their channels; admins everything)
    cookies   signed, expiring cookie values
    pages     the pages: list, search, a conversation, actions, the reply box, live updates
    templates/, static/   Jinja2 templates (autoescaped) and the stylesheet and script

Every template gets ``viewer`` (None before sign-in) and ``csrf_token`` (``auth``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import aiohttp_jinja2
import jinja2
from aiohttp import web

from app.dashboard.auth import HOME, PREFIX, auth_middleware
from app.dashboard.deps import DashboardDeps
from app.dashboard.signin import add_signin_routes

HERE: Final = Path(__file__).resolve().parent
DEPS: Final = web.AppKey("dashboard_deps", DashboardDeps)


def mount_dashboard(app: web.Application, deps: DashboardDeps) -> None:
    """Serve the dashboard under ``/dashboard/`` (``/dashboard`` itself redirects there)."""

    async def to_front_page(_: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect(HOME)

    app.router.add_get(PREFIX, to_front_page)
    app.add_subapp(PREFIX, build_dashboard(deps))


def build_dashboard(deps: DashboardDeps) -> web.Application:
    """The dashboard's sub-application, to be mounted at ``/dashboard``."""
    # Imported here: the pages import this package's modules (``from app.dashboard import``).
    from app.dashboard.pages import add_pages

    dash = web.Application(middlewares=[auth_middleware(deps)])
    dash[DEPS] = deps
    aiohttp_jinja2.setup(
        dash,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
    )
    dash[aiohttp_jinja2.static_root_key] = "/dashboard/static"
    dash.router.add_static("/static", HERE / "static", name="static", append_version=False)
    add_signin_routes(dash, deps)
    add_pages(dash, deps)
    return dash


__all__ = ["DEPS", "DashboardDeps", "build_dashboard", "mount_dashboard"]
