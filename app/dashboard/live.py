"""Live updates of a conversation page: ``GET /dashboard/sessions/{id}/events``, Server-Sent
Events.

Two sources, so a page is right whichever replica runs the turn:

* this process's ``LiveFeed``: the answer of a dashboard turn as it is written (``start``,
  ``delta`` with the text, ``tool`` steps, ``done``, ``note``), relayed as it comes;
* the store, read every ``POLL_SECONDS`` and just after a turn here ends: transcript entries
  committed since the last one the page has (``entries``: the rendered entries, with the seq
  of the last one as the event id, so a reconnecting browser resumes after it through
  ``Last-Event-ID``), and whether a turn is running now (``status``).

A stream lasts at most ``STREAM_SECONDS`` (the browser reconnects by itself); a comment line
every ``HEARTBEAT_SECONDS`` keeps proxies from closing it; at most ``MAX_STREAMS`` run in one
process (more: 503) and ``MAX_STREAMS_PER_VIEWER`` for one signed-in person (more: 429; the
operators signed in with the token count as one), so nobody can take every stream; the page
still works by reloading. Everything sent is data for the
page's script: text travels as JSON strings, and entries as HTML rendered by the same
autoescaping templates as the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from typing import Final

import aiohttp_jinja2
from aiohttp import web

from app.dashboard.auth import SECURITY_HEADERS, viewer_of
from app.dashboard.deps import DashboardDeps
from app.dashboard.lookup import guarded, visible_session
from app.dashboard.views import entry_views
from app.errors import StoreError
from app.surfaces.dashboard import LiveEvent

log = logging.getLogger(__name__)

POLL_SECONDS: Final = 2.0
AFTER_DONE_SECONDS: Final = 0.3
HEARTBEAT_SECONDS: Final = 15.0
STREAM_SECONDS: Final = 600.0
MAX_STREAMS: Final = 200
MAX_STREAMS_PER_VIEWER: Final = 10
MAX_ENTRIES_PER_EVENT: Final = 200


def sse(kind: str, data: str, event_id: str | None = None) -> bytes:
    """One event in the text/event-stream format (every data line prefixed)."""
    lines = [f"event: {kind}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


def resume_point(request: web.Request) -> int:
    """The seq of the last entry the page has: ``Last-Event-ID`` (a reconnect), else
    ``?after=``; 0 when neither is a number."""
    for raw in (request.headers.get("Last-Event-ID"), request.query.get("after")):
        if raw is not None and raw.isdigit() and len(raw) < 12:
            return int(raw)
    return 0


def add_routes(app: web.Application, deps: DashboardDeps) -> None:
    streams = 0
    per_viewer: Counter[str] = Counter()

    async def events(request: web.Request) -> web.StreamResponse:
        nonlocal streams
        found = await visible_session(deps, request)
        viewer = viewer_of(request).user_id or "token"
        if streams >= MAX_STREAMS:
            raise web.HTTPServiceUnavailable(
                text="Too many live pages are open; reload to see new messages.",
                headers={"Retry-After": "30"},
            )
        if per_viewer[viewer] >= MAX_STREAMS_PER_VIEWER:
            raise web.HTTPTooManyRequests(
                text="You have too many live pages open; close some, or reload to see new "
                "messages.",
                headers={"Retry-After": "30"},
            )
        streams += 1
        per_viewer[viewer] += 1
        try:
            return await _stream(deps, request, found.session.id, resume_point(request))
        finally:
            streams -= 1
            per_viewer[viewer] -= 1
            if per_viewer[viewer] <= 0:
                del per_viewer[viewer]

    app.router.add_get("/sessions/{session_id}/events", guarded(events))


async def _stream(
    deps: DashboardDeps, request: web.Request, session_id: str, after: int
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            **SECURITY_HEADERS,
            "Content-Type": "text/event-stream; charset=utf-8",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    ends_at = loop.time() + STREAM_SECONDS
    beat_at = loop.time() + HEARTBEAT_SECONDS
    running: bool | None = None
    poll_at = loop.time()
    with contextlib.suppress(ConnectionResetError), deps.live.watch(session_id) as queue:
        await response.write(b"retry: 3000\n\n")
        while loop.time() < ends_at:
            if loop.time() >= poll_at:
                try:
                    after, running = await _catch_up(
                        deps, request, response, session_id, after, running
                    )
                except StoreError as exc:
                    log.warning("live updates of %s paused: %s", session_id, exc)
                poll_at = loop.time() + POLL_SECONDS
            event = await _next_event(queue, max(poll_at - loop.time(), 0.0))
            while event is not None:
                await response.write(sse(event.get("kind", "note"), json.dumps(event)))
                if event.get("kind") == "done":
                    # The turn commits right after its answer is done: read it soon.
                    poll_at = min(poll_at, loop.time() + AFTER_DONE_SECONDS)
                    break
                event = queue.get_nowait() if not queue.empty() else None
            if loop.time() >= beat_at:
                await response.write(b": still here\n\n")
                beat_at = loop.time() + HEARTBEAT_SECONDS
    return response


async def _next_event(queue: asyncio.Queue[LiveEvent], timeout: float) -> LiveEvent | None:  # noqa: ASYNC109
    try:
        return await asyncio.wait_for(queue.get(), timeout)
    except TimeoutError:
        return None


async def _catch_up(
    deps: DashboardDeps,
    request: web.Request,
    response: web.StreamResponse,
    session_id: str,
    after: int,
    running: bool | None,
) -> tuple[int, bool]:
    """Send what the store has that the page has not; returns the new resume point and
    whether a turn is running."""
    store = deps.store
    now_running = session_id in await store.running_sessions([session_id])
    if now_running != running:
        state = {"running": now_running}
        await response.write(sse("status", json.dumps(state)))
    fresh = await store.transcript_after(session_id, after)
    if fresh:
        fresh = fresh[:MAX_ENTRIES_PER_EVENT]
        html = aiohttp_jinja2.render_string(
            "partials/entries.html",
            request,
            {"entries": entry_views(fresh, deps.agent)},
        )
        after = fresh[-1].seq
        await response.write(sse("entries", json.dumps({"html": html}), str(after)))
    return after, now_running
