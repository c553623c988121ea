"""Finding the conversation a dashboard URL names, as the viewer may see it, and the rules
every page and action shares: unknown and forbidden alike answer 404; the store failing
answers 503; the reply box and approval decisions follow ``ALLOWED_USERS`` as Slack does."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from app.core import ConversationKey
from app.dashboard.access import Scope, scope_of, slack_channel
from app.dashboard.auth import viewer_of
from app.dashboard.deps import DashboardDeps
from app.errors import StoreError
from app.slack.policy import may_click_approvals
from app.store.base import Session, is_live

_SESSION_ID = re.compile(r"^[0-9a-fA-F-]{8,64}$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guarded(handler: Handler) -> Handler:
    """A handler whose store failure answers 503 (the viewer may simply try again)."""

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except StoreError:
            raise web.HTTPServiceUnavailable(
                text="The database is unavailable right now. Try again in a moment.",
                headers={"Retry-After": "5"},
            ) from None

    return run


@dataclass(frozen=True)
class Found:
    """A conversation the viewer may see: the session, every key it ever held, and what the
    viewer may see (``scope``)."""

    session: Session
    keys_ever: list[str]
    scope: Scope


async def visible_session(deps: DashboardDeps, request: web.Request) -> Found:
    """The conversation named in the URL, or 404 (unknown, another bot's and forbidden
    alike)."""
    session_id = request.match_info.get("session_id", "")
    if not _SESSION_ID.match(session_id):
        raise web.HTTPNotFound(text="No such conversation.")
    scope = await scope_of(deps, viewer_of(request))
    store = deps.store
    session = await store.get_session(session_id)
    if session is None or session.agent != deps.agent:
        raise web.HTTPNotFound(text="No such conversation.")
    keys = await store.keys_ever(session_id)
    if not scope.allows(keys):
        raise web.HTTPNotFound(text="No such conversation.")
    return Found(session, keys, scope)


def key_prefixes(scope: Scope) -> tuple[str, ...] | None:
    """The keys a viewer's conversations start with (None: everything)."""
    if scope.everything:
        return None
    return tuple(
        str(ConversationKey.slack(scope.agent, channel, "")) for channel in sorted(scope.channels)
    )


def may_unlink(scope: Scope, key: str) -> bool:
    """Whether the viewer may unlink ``key``: a Slack key of a channel they see; any other key
    (a thread of another channel, an issue, a ticket, the dashboard page) only when they see
    everything."""
    return scope.everything or (
        (channel := slack_channel(key, scope.agent)) is not None and channel in scope.channels
    )


def session_live(deps: DashboardDeps, session: Session) -> bool:
    """Whether the conversation still takes messages (active, within its TTL and age)."""
    s = deps.settings
    return is_live(
        session,
        deps.clock(),
        timedelta(days=s.session_ttl_days),
        timedelta(days=s.trust.session_max_age_days),
    )


def may_write(deps: DashboardDeps, user_id: str | None, admin: bool) -> bool:
    """``ALLOWED_USERS`` holds for the reply box as in Slack (admins and operators aside)."""
    allowed = deps.settings.trust.allowed_users
    return admin or not allowed or (user_id is not None and user_id in allowed)


def may_decide(deps: DashboardDeps, user_id: str | None) -> bool:
    """Whether a decision of this viewer on an approval counts, as a click on its Slack card
    would: a Slack person (not the token), within ``ALLOWED_USERS`` or one of ``APPROVERS``.
    The worker then applies the approval's own rule (the asker, a member, an approver)."""
    s = deps.settings
    return user_id is not None and may_click_approvals(user_id, s.trust, s.actions.approvers)
