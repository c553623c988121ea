"""Who is looking at the dashboard, and proof that a form was posted by our own page.

The middleware reads the signed session cookie on every request under ``/dashboard``::

    request                                   not signed in             signed in
    sign-in pages, OIDC callback, static      served                    served
    any other GET or HEAD                     303 to /dashboard/signin  served, as the viewer
    any other method (POST)                   401                       served, as the viewer

The session cookie (``threadline_dashboard``, path ``/dashboard``, HttpOnly, SameSite=Lax,
Secure when ``PUBLIC_URL`` is https) holds, signed (``app.dashboard.cookies``): the Slack user
id, team id and display name (none for an operator signed in with ``DASHBOARD_TOKEN``), how
they signed in, a random CSRF token and the expiry, 12 hours after sign-in. Whether someone is
an admin is decided on every request from ``DASHBOARD_ADMINS``, never stored.

Every template rendered for a request (``aiohttp_jinja2.render_template``) gets ``viewer``
(None on the sign-in page) and ``csrf_token``. CSRF: every page that has a form puts
``csrf_token`` in a hidden ``csrf_token`` field; ``checked_form`` answers 403 when a POST
lacks it or carries another (a 4xx, never a redirect). The sign-in form, posted before there
is a session, is bound the same way to a short-lived ``threadline_signin`` cookie.

Every answer under ``/dashboard`` carries headers that keep it out of frames and caches and
limit scripts to our own files (``SECURITY_HEADERS``).
"""

from __future__ import annotations

import hmac
import secrets
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Middleware
from multidict import MultiDict, MultiDictProxy

from app.dashboard.deps import DashboardDeps

SESSION_COOKIE: Final = "threadline_dashboard"
SIGNIN_COOKIE: Final = "threadline_signin"
SESSION_SECONDS: Final = 12 * 3600
SIGNIN_SECONDS: Final = 3600
PREFIX: Final = "/dashboard"
HOME: Final = "/dashboard/"
SIGNIN_PATH: Final = "/dashboard/signin"
OPERATOR_NAME: Final = "Operator"
# Reachable without a session: signing in, Slack's redirect back, and the stylesheet.
PUBLIC_PATHS: Final = frozenset(
    {SIGNIN_PATH, "/dashboard/signin/slack", "/dashboard/oidc/callback"}
)
STATIC_PREFIX: Final = "/dashboard/static/"
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'; "
        "script-src 'self'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Viewer:
    """A signed-in person: a Slack user, or an operator (``user_id`` None) with the token."""

    user_id: str | None
    name: str
    admin: bool
    team_id: str | None


_VIEWER: Final = web.RequestKey("dashboard_viewer", Viewer)
_CSRF: Final = web.RequestKey("dashboard_csrf", str)


@dataclass(frozen=True)
class Session:
    """What the session cookie says, checked: who, and their CSRF token."""

    viewer: Viewer
    csrf: str


def viewer_of(request: web.Request) -> Viewer:
    """The signed-in viewer of a request the middleware let through."""
    viewer = request.get(_VIEWER)
    if not isinstance(viewer, Viewer):
        raise web.HTTPUnauthorized(text="Sign in first.")
    return viewer


def current_viewer(request: web.Request) -> Viewer | None:
    """The signed-in viewer, or None (on the sign-in page)."""
    viewer = request.get(_VIEWER)
    return viewer if isinstance(viewer, Viewer) else None


def csrf_token(request: web.Request) -> str:
    """The token a form on this page must post back ("" on a page without a session)."""
    token = request.get(_CSRF)
    return token if isinstance(token, str) else ""


def set_csrf(request: web.Request, token: str) -> None:
    """Bind the forms of this page to ``token`` (the sign-in page, before any session)."""
    request[_CSRF] = token
    template_context(request)


async def checked_form(request: web.Request) -> MultiDictProxy[str]:
    """The POSTed form's text fields; 403 when its ``csrf_token`` is missing or wrong."""
    expected = csrf_token(request)
    try:
        posted = await request.post()
    except ValueError:
        raise web.HTTPBadRequest(text="That form could not be read.") from None
    given = posted.get("csrf_token")
    if (
        not expected
        or not isinstance(given, str)
        or not hmac.compare_digest(given.encode(), expected.encode())
    ):
        raise web.HTTPForbidden(
            text="This form has expired or did not come from this page. Reload and try again."
        )
    fields: MultiDict[str] = MultiDict((k, v) for k, v in posted.items() if isinstance(v, str))
    return MultiDictProxy(fields)


# sessions -----------------------------------------------------------------------------------
def start_session(
    deps: DashboardDeps, response: web.StreamResponse, viewer: Viewer, method: str
) -> None:
    """Sign ``viewer`` in (``method``: ``token`` or ``slack``): the session cookie on
    ``response``, with a fresh CSRF token."""
    if method not in ("token", "slack"):
        raise ValueError(f"unknown sign-in method {method!r}")
    fields = {
        "u": viewer.user_id,
        "n": viewer.name,
        "t": viewer.team_id,
        "m": method,
        "c": secrets.token_urlsafe(32),
    }
    value = deps.signer.seal("session", fields, now=deps.epoch(), lifetime=SESSION_SECONDS)
    set_cookie(deps, response, SESSION_COOKIE, value, path=PREFIX, max_age=SESSION_SECONDS)


def end_session(deps: DashboardDeps, response: web.StreamResponse) -> None:
    delete_cookie(deps, response, SESSION_COOKIE, path=PREFIX)


def read_session(deps: DashboardDeps, request: web.Request) -> Session | None:
    """The request's session, if its cookie is ours, unexpired, and its way of signing in is
    still configured."""
    fields = deps.signer.open("session", request.cookies.get(SESSION_COOKIE), now=deps.epoch())
    if fields is None:
        return None
    user, name, team, method, csrf = (fields.get(k) for k in ("u", "n", "t", "m", "c"))
    config = deps.dashboard
    if not isinstance(csrf, str) or not isinstance(name, str):
        return None
    if method == "token" and config.token is not None and user is None:
        return Session(Viewer(None, name, True, None), csrf)
    if method == "slack" and config.slack_sign_in and isinstance(user, str):
        admin = user in config.admins
        return Session(Viewer(user, name, admin, team if isinstance(team, str) else None), csrf)
    return None


def set_cookie(
    deps: DashboardDeps,
    response: web.StreamResponse,
    name: str,
    value: str,
    *,
    path: str,
    max_age: int,
) -> None:
    """A dashboard cookie: HttpOnly, SameSite=Lax, Secure when served over https."""
    response.set_cookie(
        name,
        value,
        path=path,
        max_age=max_age,
        httponly=True,
        samesite="Lax",
        secure=_secure(deps),
    )


def delete_cookie(
    deps: DashboardDeps, response: web.StreamResponse, name: str, *, path: str
) -> None:
    """Remove a dashboard cookie, with the same flags it was set with (a browser may ignore
    a removal that does not match them)."""
    response.del_cookie(name, path=path, httponly=True, samesite="Lax", secure=_secure(deps))


def _secure(deps: DashboardDeps) -> bool:
    return (deps.settings.public_url or "").startswith("https://")


def signin_location(next_path: str | None = None) -> str:
    """Where to send someone who must sign in, coming back to ``next_path`` afterwards."""
    target = safe_next(next_path)
    if target == HOME:
        return SIGNIN_PATH
    return f"{SIGNIN_PATH}?{urlencode({'next': target})}"


def safe_next(next_path: str | None) -> str:
    """``next_path`` when it is a dashboard page of ours, else the dashboard's front page (no
    open redirects: never another host, never a scheme-relative ``//`` address)."""
    if (
        not next_path
        or not next_path.startswith(HOME)
        or "//" in next_path
        or "\\" in next_path
        or any(ord(c) < 0x20 or c == "\x7f" for c in next_path)
        or len(next_path) > 1000
    ):
        return HOME
    return next_path


# the middleware -----------------------------------------------------------------------------
def auth_middleware(deps: DashboardDeps) -> Middleware:
    """Let signed-in viewers through, send others to sign in; add the security headers."""

    @web.middleware
    async def authenticate(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            response = await _admit(deps, request, handler)
        except web.HTTPException as exc:
            exc.headers.update(SECURITY_HEADERS)
            raise
        if not response.prepared:
            response.headers.update(_headers_for(request))
        return response

    return authenticate


async def _admit(
    deps: DashboardDeps,
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    path = request.path
    if path in PUBLIC_PATHS or path.startswith(STATIC_PREFIX):
        return await handler(request)
    session = read_session(deps, request)
    if session is None:
        if request.method in ("GET", "HEAD"):
            raise web.HTTPSeeOther(signin_location(request.path_qs))
        raise web.HTTPUnauthorized(text="Sign in first.")
    request[_VIEWER] = session.viewer
    request[_CSRF] = session.csrf
    template_context(request)
    return await handler(request)


def template_context(request: web.Request) -> None:
    """Give every template of this request ``viewer`` and ``csrf_token``, through
    aiohttp_jinja2's per-request context (a plain string key, which aiohttp warns about)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        request[aiohttp_jinja2.REQUEST_CONTEXT_KEY] = {
            "viewer": current_viewer(request),
            "csrf_token": csrf_token(request),
        }


def _headers_for(request: web.Request) -> dict[str, Any]:
    if request.path.startswith(STATIC_PREFIX):
        # The stylesheet and script may be cached; they hold nothing private.
        return {k: v for k, v in SECURITY_HEADERS.items() if k != "Cache-Control"}
    return dict(SECURITY_HEADERS)
