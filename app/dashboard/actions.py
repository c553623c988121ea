"""What a viewer can do to a conversation from its page: POST forms, each CSRF-checked
(``checked_form``: 403, never a redirect), each on a conversation the viewer may see (404
otherwise), each answered with a redirect back to the page (303) and a fixed notice.

====================================  ============================  ===========================
action                                who may                       what it records
====================================  ============================  ===========================
``reset``                             anyone who sees it            ``reset``, "reset from the
                                                                    dashboard by Ada (U1)"
``unlink`` (a key it holds)           a Slack key: anyone who sees  ``key_unlinked``, by whom
                                      its channel; any other key:
                                      admins and operators
``erase`` (a person who wrote in it)  admins and operators          ``author_erased`` in every
                                                                    conversation changed
``approvals/{id}`` approve/decline    a Slack person (in            ``approval_clicked``; the
                                      ``ALLOWED_USERS`` if set, or  decision is the approval's
                                      an approver); the worker
                                      decides by Slack's rules
``reply``                             anyone who sees it (and is    the message, in the
                                      in ``ALLOWED_USERS`` if set)  transcript, by its author
====================================  ============================  ===========================

An approval is decided exactly as a click on its Slack card is: recorded in the inbox as a
click in the card's conversation, so the worker applies the same rules (the asker, a member of
the channel, or an approver), runs it once, updates the card and reports in the thread.

A reply enters the inbox as a delivery on ``{agent}:dashboard:{session_id}`` (registered for
the session first), authored by the viewer (an operator writes as ``operator``), and runs a
turn like any other; its delivery id comes from the form, so a form sent twice is one message.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Final

from aiohttp import web

from app.core import ConversationKey
from app.core.bounds import cut_message
from app.core.text import clean_name
from app.dashboard.access import slack_channel
from app.dashboard.auth import Viewer, checked_form, viewer_of
from app.dashboard.deps import DashboardDeps
from app.dashboard.lookup import (
    guarded,
    may_decide,
    may_unlink,
    may_write,
    session_live,
    visible_session,
)
from app.slack.cards import ApprovalClick
from app.surfaces.dashboard import DashboardSurface, dashboard_inbound

log = logging.getLogger(__name__)

OPERATOR_ID: Final = "operator"
ERASABLE: Final = ("slack", "github", "jira")
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_AUTHOR = re.compile(r"^[A-Za-z0-9:_.\-\[\]]{1,128}$")
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{1,31}$")


def who(viewer: Viewer) -> str:
    """How the event log names the viewer: ``Ada Lovelace (U1)``, ``Operator (token)``."""
    return f"{clean_name(viewer.name)} ({viewer.user_id or 'token'})"


def back(session_id: str, done: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/dashboard/sessions/{session_id}?done={done}")


def add_routes(app: web.Application, deps: DashboardDeps) -> None:
    async def reset(request: web.Request) -> web.StreamResponse:
        found = await visible_session(deps, request)
        await checked_form(request)
        session = found.session
        if session.status != "active":
            raise back(session.id, "already-ended")
        viewer = viewer_of(request)
        await deps.store.end_session(
            session.id, "reset", cause=f"reset from the dashboard by {who(viewer)}"
        )
        log.info("session %s reset from the dashboard by %s", session.id, who(viewer))
        raise back(session.id, "reset")

    async def unlink(request: web.Request) -> web.StreamResponse:
        found = await visible_session(deps, request)
        form = await checked_form(request)
        key = form.get("key", "")
        held = {link.key for link in await deps.store.keys_for(found.session.id)}
        if key not in held:
            raise web.HTTPBadRequest(text="This conversation holds no such key.")
        if not may_unlink(found.scope, key):
            raise web.HTTPForbidden(text="Only dashboard admins can unlink that key.")
        viewer = viewer_of(request)
        await deps.store.unlink_key(key, cause=f"unlinked from the dashboard by {who(viewer)}")
        raise back(found.session.id, "unlinked")

    async def erase(request: web.Request) -> web.StreamResponse:
        found = await visible_session(deps, request)
        form = await checked_form(request)
        viewer = viewer_of(request)
        if not viewer.admin or deps.erased is None:
            raise web.HTTPForbidden(text="Only dashboard admins can erase people's messages.")
        source, _, author = form.get("person", "").partition("|")
        if source not in ERASABLE or not _AUTHOR.match(author):
            raise web.HTTPBadRequest(text="Choose a person who wrote in this conversation.")
        wrote = any(
            e.author_id == author and _platform_of(e.source) == source
            for e in await deps.store.load_transcript(found.session.id)
            if e.role == "user"
        )
        if not wrote:
            raise web.HTTPBadRequest(text="Choose a person who wrote in this conversation.")
        cause = f"erased from the dashboard by {who(viewer)}"
        # A Slack person's messages on the dashboard are theirs too.
        sources = ("slack", "dashboard") if source == "slack" else (source,)
        for erased_from in sources:
            result = await deps.store.erase_author(
                erased_from, author, replacement=deps.erased, cause=cause
            )
            log.info(
                "%s %s erased from the dashboard by %s: %s",
                erased_from,
                author,
                who(viewer),
                result,
            )
        if source == "slack":
            await deps.store.forget_voter(author)  # their votes on answers, as ``erase`` does
        raise back(found.session.id, "erased")

    async def decide(request: web.Request) -> web.StreamResponse:
        found = await visible_session(deps, request)
        form = await checked_form(request)
        viewer = viewer_of(request)
        decision = form.get("decision", "")
        if decision not in ("approved", "declined"):
            raise web.HTTPBadRequest(text="Approve or decline.")
        approval = await deps.store.get_approval(request.match_info["approval_id"])
        if approval is None or approval.session_id != found.session.id:
            raise web.HTTPNotFound(text="No such approval.")
        if approval.status != "pending":
            raise back(found.session.id, "decided")
        if viewer.user_id is None:
            raise web.HTTPForbidden(
                text="Approvals are decided by people: sign in with Slack to decide one."
            )
        if not may_decide(deps, viewer.user_id):
            log.info("approval decision by %s refused: not an allowed user", viewer.user_id)
            raise web.HTTPForbidden(text="You are not one of the people this bot answers.")
        if not approval.channel:
            raise web.HTTPConflict(text="This approval has no Slack card to decide it on.")
        action_ts = f"{time.time():.6f}"
        click = ApprovalClick(
            approval_id=approval.id,
            decision=decision,  # type: ignore[arg-type]
            user_id=viewer.user_id,
            channel=approval.channel,
            message_ts=approval.card_ts or approval.thread_ts or action_ts,
            action_ts=action_ts,
            thread_ts=approval.thread_ts,
            user_name=viewer.name,
            user_team=viewer.team_id,
            team_id=viewer.team_id,
        )
        await deps.store.log_event(
            found.session.id,
            "approval_clicked",
            cause=f"{decision} from the dashboard by {who(viewer)}: {approval.tool} "
            f"(approval {approval.id})",
        )
        outcome = await deps.deliver(
            click.delivery_id, click.key(deps.agent), click.to_payload(deps.agent)
        )
        if outcome == "backlog":
            raise _busy()
        raise back(found.session.id, "decision")

    async def reply(request: web.Request) -> web.StreamResponse:
        found = await visible_session(deps, request)
        form = await checked_form(request)
        viewer = viewer_of(request)
        session = found.session
        if not may_write(deps, viewer.user_id, viewer.admin):
            raise web.HTTPForbidden(text="You are not one of the people this bot answers.")
        if not session_live(deps, session):
            raise web.HTTPConflict(text="This conversation has ended; it takes no more messages.")
        text = form.get("text", "").strip()
        nonce = form.get("nonce", "")
        if not text:
            raise web.HTTPBadRequest(text="Write a message first.")
        if not _NONCE.match(nonce):
            raise web.HTTPBadRequest(text="That form could not be read. Reload and try again.")
        text, cut_from = cut_message(text, deps.settings.actions.max_message_chars)
        key = str(ConversationKey.dashboard(deps.agent, session.id))
        surface = DashboardSurface(deps.live, deps.settings.public_url)
        claim = await deps.store.register_key(key, session.id, url=surface.page_url(session.id))
        if not claim.registered or await deps.store.resolve(key) is None:
            raise web.HTTPConflict(text="This conversation has ended; it takes no more messages.")
        held = [link.key for link in await deps.store.keys_for(session.id)]
        channel = next((c for k in held if (c := slack_channel(k, deps.agent))), None)
        inbound = dashboard_inbound(
            deps.agent,
            session.id,
            text,
            author_id=viewer.user_id or OPERATOR_ID,
            author_name=clean_name(viewer.name),
            page_url=surface.page_url(session.id),
            cut_from=cut_from,
            # A Slack person counts against their limits (an operator has no workspace), and
            # the conversation against its channel's, as in Slack (``app.turns.limits``).
            team_id=viewer.team_id,
            channel=channel,
        )
        outcome = await deps.deliver(f"dashboard:{session.id}:{nonce}", key, inbound.to_payload())
        if outcome == "backlog":
            raise _busy()
        raise back(session.id, "sent" if outcome == "recorded" else "duplicate")

    base = "/sessions/{session_id}"
    app.router.add_post(f"{base}/reset", guarded(reset))
    app.router.add_post(f"{base}/unlink", guarded(unlink))
    app.router.add_post(f"{base}/erase", guarded(erase))
    app.router.add_post(f"{base}/approvals/{{approval_id}}", guarded(decide))
    app.router.add_post(f"{base}/reply", guarded(reply))


def _platform_of(source: str | None) -> str | None:
    return "slack" if source == "dashboard" else source


def _busy() -> web.HTTPTooManyRequests:
    return web.HTTPTooManyRequests(
        text="Too many messages are waiting in this conversation. Wait for the answers first.",
        headers={"Retry-After": "30"},
    )
