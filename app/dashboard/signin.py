"""The sign-in routes: the sign-in page, the operator token, Sign in with Slack, sign-out.

    GET  /dashboard/signin          the page: "Sign in with Slack" and/or the token form
    POST /dashboard/signin          the token form (CSRF-bound to the page); 401 when wrong,
                                    429 after ``MAX_FAILURES`` wrong tries from one address
                                    within ``FAILURE_WINDOW_SECONDS``
    GET  /dashboard/signin/slack    off to Slack's authorize page, with a fresh state and
                                    nonce in a signed ``threadline_oidc`` cookie (10 minutes)
    GET  /dashboard/oidc/callback   Slack's redirect back: state, code, id_token checked
    POST /dashboard/signout         CSRF-checked; the session cookie is removed

A way of signing in that is not configured answers 404. Failures are shown on the sign-in
page in a sentence, with a 4xx status (503 when Slack cannot be reached); nothing about
secrets, tokens or Slack's answers is shown or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from typing import Final

import aiohttp_jinja2
from aiohttp import web

from app.dashboard.auth import (
    OPERATOR_NAME,
    SIGNIN_COOKIE,
    SIGNIN_PATH,
    SIGNIN_SECONDS,
    Viewer,
    checked_form,
    delete_cookie,
    end_session,
    read_session,
    safe_next,
    set_cookie,
    set_csrf,
    start_session,
)
from app.dashboard.deps import DashboardDeps
from app.dashboard.oidc import (
    SignInRefused,
    SignInUnavailable,
    SlackSignIn,
    authorize_url,
    redirect_uri,
)

log = logging.getLogger(__name__)

OIDC_COOKIE: Final = "threadline_oidc"
OIDC_PATH: Final = "/dashboard/oidc"
OIDC_SECONDS: Final = 600
MAX_FAILURES: Final = 10
FAILURE_WINDOW_SECONDS: Final = 900.0
MAX_TRACKED_ADDRESSES: Final = 10_000


class FailedAttempts:
    """Wrong tokens per client address in a sliding window (per process, bounded)."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW_SECONDS) -> None:
        self._limit = limit
        self._window = window
        self._seen: OrderedDict[str, list[float]] = OrderedDict()

    def blocked(self, address: str, now: float) -> bool:
        return len(self._recent(address, now)) >= self._limit

    def failed(self, address: str, now: float) -> None:
        self._seen[address] = [*self._recent(address, now), now]
        self._seen.move_to_end(address)
        while len(self._seen) > MAX_TRACKED_ADDRESSES:
            self._seen.popitem(last=False)

    def succeeded(self, address: str) -> None:
        self._seen.pop(address, None)

    def _recent(self, address: str, now: float) -> list[float]:
        return [t for t in self._seen.get(address, []) if now - t < self._window]


def token_matches(given: str, expected: str) -> bool:
    """Constant-time comparison that does not reveal the token's length either."""
    digest = hashlib.sha256
    return hmac.compare_digest(digest(given.encode()).digest(), digest(expected.encode()).digest())


def add_signin_routes(app: web.Application, deps: DashboardDeps) -> None:
    """Register the sign-in routes on the dashboard's sub-application."""
    attempts = FailedAttempts()
    config = deps.dashboard
    slack = None
    if config.client_id is not None and config.client_secret is not None:
        slack = SlackSignIn(
            deps.settings.slack_api_url,
            config.client_id,
            config.client_secret.reveal(),
            deps.metrics,
        )

    def page(request: web.Request, *, status: int = 200, error: str | None = None) -> web.Response:
        """The sign-in page; its token form is bound to a fresh ``threadline_signin`` cookie."""
        nonce = secrets.token_urlsafe(32)
        set_csrf(request, nonce)
        next_path = safe_next(request.query.get("next"))
        response = aiohttp_jinja2.render_template(
            "signin.html",
            request,
            {
                "slack": slack is not None,
                "token": config.token is not None,
                "error": error,
                "next": next_path,
            },
            status=status,
        )
        sealed = deps.signer.seal("signin", {"c": nonce}, now=deps.epoch(), lifetime=SIGNIN_SECONDS)
        set_cookie(deps, response, SIGNIN_COOKIE, sealed, path=SIGNIN_PATH, max_age=SIGNIN_SECONDS)
        return response

    async def show(request: web.Request) -> web.StreamResponse:
        if read_session(deps, request) is not None:
            raise web.HTTPSeeOther(safe_next(request.query.get("next")))
        return page(request)

    async def sign_in_with_token(request: web.Request) -> web.StreamResponse:
        if config.token is None:
            raise web.HTTPNotFound()
        fields = deps.signer.open("signin", request.cookies.get(SIGNIN_COOKIE), now=deps.epoch())
        if fields is not None and isinstance(fields.get("c"), str):
            set_csrf(request, fields["c"])
        form = await checked_form(request)
        address = request.remote or "unknown"
        now = time.monotonic()
        if attempts.blocked(address, now):
            log.warning("dashboard token sign-in from %s refused: too many wrong tries", address)
            deps.metrics.dashboard_signin("token", "limited")
            return page(request, status=429, error="Too many wrong tries. Wait 15 minutes.")
        if not token_matches(form.get("token", ""), config.token.reveal()):
            attempts.failed(address, now)
            log.info("dashboard token sign-in from %s: wrong token", address)
            deps.metrics.dashboard_signin("token", "refused")
            return page(request, status=401, error="That token is not right.")
        attempts.succeeded(address)
        log.info("dashboard: an operator signed in with the token from %s", address)
        deps.metrics.dashboard_signin("token", "ok")
        response = web.HTTPSeeOther(safe_next(form.get("next")))
        start_session(deps, response, Viewer(None, OPERATOR_NAME, True, None), "token")
        delete_cookie(deps, response, SIGNIN_COOKIE, path=SIGNIN_PATH)
        raise response

    async def start_slack(request: web.Request) -> web.StreamResponse:
        if slack is None or deps.settings.public_url is None:
            raise web.HTTPNotFound()
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        next_path = safe_next(request.query.get("next"))
        response = web.HTTPSeeOther(
            authorize_url(
                slack.api_url,
                client_id=slack.client_id,
                redirect_to=redirect_uri(deps.settings.public_url),
                state=state,
                nonce=nonce,
                team=deps.bot().team_id,
            )
        )
        sealed = deps.signer.seal(
            "oidc",
            {"s": state, "n": nonce, "x": next_path},
            now=deps.epoch(),
            lifetime=OIDC_SECONDS,
        )
        set_cookie(deps, response, OIDC_COOKIE, sealed, path=OIDC_PATH, max_age=OIDC_SECONDS)
        raise response

    async def slack_callback(request: web.Request) -> web.StreamResponse:
        if slack is None or deps.settings.public_url is None:
            raise web.HTTPNotFound()
        started = deps.signer.open("oidc", request.cookies.get(OIDC_COOKIE), now=deps.epoch())
        state = request.query.get("state", "")
        expected = started.get("s") if started else None
        if not isinstance(expected, str) or not hmac.compare_digest(
            state.encode(), expected.encode()
        ):
            log.info("Slack sign-in callback refused: state missing, expired or not this one")
            deps.metrics.dashboard_signin("slack", "refused")
            return _refused(deps, page(request, status=400, error=_START_AGAIN))
        assert started is not None
        if request.query.get("error"):
            return _refused(
                deps, page(request, status=403, error="Sign in with Slack was cancelled.")
            )
        code = request.query.get("code", "")
        team_id = deps.bot().team_id
        if not code or not isinstance(started.get("n"), str) or team_id is None:
            return _refused(deps, page(request, status=400, error=_START_AGAIN))
        try:
            who = await slack.identify(
                code,
                redirect_to=redirect_uri(deps.settings.public_url),
                nonce=started["n"],
                team_id=team_id,
            )
        except SignInRefused as exc:
            deps.metrics.dashboard_signin("slack", "refused")
            return _refused(deps, page(request, status=403, error=str(exc)))
        except SignInUnavailable:
            deps.metrics.dashboard_signin("slack", "unavailable")
            return _refused(deps, page(request, status=503, error=_UNAVAILABLE))
        log.info("dashboard: %s signed in with Slack", who.user_id)
        deps.metrics.dashboard_signin("slack", "ok")
        deps.memberships.forget(who.user_id)
        response = web.HTTPSeeOther(safe_next(started.get("x")))
        viewer = Viewer(who.user_id, who.name, who.user_id in config.admins, who.team_id)
        start_session(deps, response, viewer, "slack")
        delete_cookie(deps, response, OIDC_COOKIE, path=OIDC_PATH)
        raise response

    async def sign_out(request: web.Request) -> web.StreamResponse:
        await checked_form(request)
        response = web.HTTPSeeOther(SIGNIN_PATH)
        end_session(deps, response)
        raise response

    app.router.add_get("/signin", show)
    app.router.add_post("/signin", sign_in_with_token)
    app.router.add_get("/signin/slack", start_slack)
    app.router.add_get("/oidc/callback", slack_callback)
    app.router.add_post("/signout", sign_out)


_UNAVAILABLE: Final = (
    "Sign in with Slack is not working right now. Try again shortly, or ask whoever runs "
    "Threadline."
)
_START_AGAIN: Final = "That sign-in took too long or was started elsewhere. Please start again."


def _refused(deps: DashboardDeps, response: web.Response) -> web.Response:
    """A failed Slack callback: its one-time state is spent."""
    delete_cookie(deps, response, OIDC_COOKIE, path=OIDC_PATH)
    return response
