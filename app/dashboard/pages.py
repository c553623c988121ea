"""The dashboard's pages: the list of conversations with its search, and a conversation.

Routes, under ``/dashboard``::

    GET  /                              the list: newest activity first, 25 a page, with a
                                        search box (?q= &platform= &status= &page=)
    GET  /sessions/{id}                 a conversation: keys, status, events, transcript,
                                        approvals, jobs, usage; its actions and reply box
    GET  /sessions/{id}/events          live updates (Server-Sent Events, ``live``)
    POST /sessions/{id}/reset | unlink | erase | approvals/{approval} | reply   (``actions``)

Every page and action finds the conversation through ``visible_session``: one the viewer may
not see (``app.dashboard.access``) is answered exactly like one that does not exist, 404. The
store failing answers 503 with a short page; nothing a viewer typed is ever echoed back but
through the templates' escaping.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from app.core import ConversationKey
from app.dashboard.access import scope_of
from app.dashboard.actions import ERASABLE, SLACK_USER
from app.dashboard.actions import add_routes as add_action_routes
from app.dashboard.auth import viewer_of
from app.dashboard.deps import DashboardDeps
from app.dashboard.live import add_routes as add_live_routes
from app.dashboard.lookup import (
    Found,
    guarded,
    key_prefixes,
    may_decide,
    may_unlink,
    may_write,
    session_live,
    visible_session,
)
from app.dashboard.views import (
    PLATFORM_TITLES,
    dollars,
    entry_views,
    github_web_url,
    key_view,
    tokens,
    usage_view,
)
from app.store.base import SessionQuery, SessionStatus, TranscriptEntry
from app.store.types import ENDED_STATUSES

PAGE_SIZE: Final = 25
GITHUB_API: Final = "https://api.github.com"  # GITHUB_API_URL's default
MAX_PAGE: Final = 10_000
MAX_QUERY: Final = 200
STATUSES: Final[tuple[SessionStatus, ...]] = ("active", *ENDED_STATUSES)
SEARCH_PLATFORMS: Final = ("slack", "jira", "github", "dashboard", "job")
# What an action's redirect may say (?done=…): fixed sentences, never text from the request.
NOTICES: Final = {
    "reset": "The conversation was reset: its places start a new one with their next message.",
    "already-ended": "The conversation had already ended.",
    "unlinked": "The key was unlinked: messages there no longer reach this conversation.",
    "erased": "Their messages were erased from every conversation.",
    "sent": "Your message is on its way; the answer appears below.",
    "duplicate": "That message was sent already.",
    "decision": "Your decision was sent; the thread hears the outcome.",
    "decided": "That approval was already decided.",
}


def add_pages(app: web.Application, deps: DashboardDeps) -> None:
    """Register the pages, the live updates and the actions on the dashboard's sub-app."""

    async def front(request: web.Request) -> web.StreamResponse:
        return aiohttp_jinja2.render_template(
            "list.html", request, await list_context(deps, request)
        )

    async def conversation(request: web.Request) -> web.StreamResponse:
        found = await visible_session(deps, request)
        context = await session_context(deps, request, found)
        return aiohttp_jinja2.render_template("session.html", request, context)

    app.router.add_get("/", guarded(front))
    app.router.add_get("/sessions/{session_id}", guarded(conversation))
    add_live_routes(app, deps)
    add_action_routes(app, deps)


# -- the list ----------------------------------------------------------------------------------
async def list_context(deps: DashboardDeps, request: web.Request) -> dict[str, Any]:
    params = request.query
    text = params.get("q", "")[:MAX_QUERY]
    platform = params.get("platform", "")
    platform = platform if platform in SEARCH_PLATFORMS else ""
    status = next((s for s in STATUSES if s == params.get("status")), None)
    number = _page_number(params.get("page", "1"))
    scope = await scope_of(deps, viewer_of(request))
    page = await deps.store.browse_sessions(
        SessionQuery(
            agent=deps.agent,
            text=text,
            platform=platform or None,
            status=status,
            key_prefixes=key_prefixes(scope),
            offset=(number - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
    )
    pages = max(1, math.ceil(page.total / PAGE_SIZE))
    searched = {"q": text, "platform": platform, "status": status or ""}
    rows = [
        {
            "id": s.session.id,
            "session": s.session,
            "keys": s.keys,
            "platforms": sorted({ConversationKey.platform_of(k) for k in s.keys} - {""}),
            "turns": s.turns,
            "tokens": tokens(s.usage),
            "running": s.session.id in page.running,
        }
        for s in page.sessions
    ]
    return {
        "rows": rows,
        "total": page.total,
        "page": number,
        "pages": pages,
        "searched": searched,
        "filtering": bool(text or platform or status),
        "prev_query": _query(searched, number - 1) if number > 1 else None,
        "next_query": _query(searched, number + 1) if number < pages else None,
        "platforms": [(p, PLATFORM_TITLES[p]) for p in SEARCH_PLATFORMS],
        "statuses": STATUSES,
        "everything": scope.everything,
    }


def _page_number(raw: str) -> int:
    try:
        number = int(raw)
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)


def _query(searched: dict[str, str], page: int) -> str:
    fields = {k: v for k, v in searched.items() if v}
    if page > 1:
        fields["page"] = str(page)
    return "?" + urlencode(fields) if fields else "?"


# -- one conversation --------------------------------------------------------------------------
async def session_context(
    deps: DashboardDeps, request: web.Request, found: Found
) -> dict[str, Any]:
    store = deps.store
    session = found.session
    viewer = viewer_of(request)
    links = {link.key: link for link in await store.keys_for(session.id)}
    transcript = await store.load_transcript(session.id)
    turns = await store.turns_for(session.id)
    running = session.id in await store.running_sessions([session.id])
    jira, github = deps.settings.jira, deps.settings.github
    team = deps.bot().team_id
    page_path = f"/dashboard/sessions/{session.id}"
    shown_keys = [
        key_view(
            key,
            links.get(key),
            team_id=team,
            jira_url=jira.base_url if jira is not None else None,
            github_url=github_web_url(github.api_url if github is not None else GITHUB_API),
            dashboard_path=page_path,
        )
        for key in dict.fromkeys([*links, *found.keys_ever])
    ]
    entries = entry_views(transcript, deps.agent)
    usage = usage_view(turns)
    live = session_live(deps, session)
    people = _participants(transcript) if viewer.admin and deps.erased is not None else []
    notice = NOTICES.get(request.query.get("done", ""))
    return {
        "session": session,
        "live": live,
        "running": running,
        "keys": [k for k in shown_keys if k.key in links],
        "unlinkable": {k for k in links if may_unlink(found.scope, k)},
        "past_keys": [k for k in shown_keys if k.key not in links],
        "events": await store.events_for(session.id),
        "entries": entries,
        "last_seq": transcript[-1].seq if transcript else 0,
        "approvals": await store.approvals_of_session(session.id),
        "jobs": await store.jobs_of_session(session.id),
        "usage": usage,
        "dollars": dollars,
        "people": people,
        "notice": notice,
        "can_reply": live and may_write(deps, viewer.user_id, viewer.admin),
        "can_decide": may_decide(deps, viewer.user_id),
        "reply_nonce": secrets.token_urlsafe(18),
        "max_chars": deps.settings.actions.max_message_chars,
        "page_path": page_path,
    }


@dataclass(frozen=True)
class Participant:
    source: str
    author_id: str
    name: str


def _participants(transcript: list[TranscriptEntry]) -> list[Participant]:
    """The people who wrote in the conversation (what ``erase`` may be asked about)."""
    seen: dict[tuple[str, str], Participant] = {}
    for entry in transcript:
        if entry.role != "user" or not entry.author_id or not entry.source:
            continue
        source = "slack" if entry.source == "dashboard" else entry.source
        if source not in ERASABLE or (
            entry.source == "dashboard" and not SLACK_USER.match(entry.author_id)
        ):
            continue
        name = entry.author_name or entry.author_id
        seen.setdefault((source, entry.author_id), Participant(source, entry.author_id, name))
    return list(seen.values())
