"""The dashboard surface: a message written in the reply box of a session's dashboard page.

Its key is ``{agent}:dashboard:{session_id}``, registered for that session by the page before
the message is recorded, so the surface never starts a conversation. Everything said there is
internal (only signed-in people of the organisation read the dashboard). The answer is not
posted anywhere: it is published, as Claude writes it, on the process's ``LiveFeed``, which
the page's Server-Sent Events stream relays to browsers (``app.dashboard.live``); what the
turn commits reaches pages on other replicas through the store. Once the answer is finished,
the router tells the conversation's Slack thread, with a link to the page (``item_url``).

A ``LiveFeed`` is per process and best effort: a subscriber that falls behind loses events
(its page catches up from the store). Of each answer being written it keeps only the text so
far and the latest step, so a page opened mid-turn starts from there; that is forgotten when
the answer is done (and, for a turn that died without finishing, once ``MAX_IN_FLIGHT`` newer
answers have started).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Final

from app.core import Audience, ConversationKey, Inbound
from app.core.text import clean_name
from app.surfaces.base import Command, OnPosted, PostedLog, PreviousMessage, Reply

# The place a message was written, as the router's Slack notice links it ("Ada commented on
# <url|dashboard>; I answered there.") and, after the title, as Claude reads it ("Threadline
# dashboard").
ITEM_REF: Final = "dashboard"
QUEUE_SIZE: Final = 2000
MAX_IN_FLIGHT: Final = 1000
# What a live event is: its kind and its fields, all text.
LiveEvent = dict[str, str]


class LiveFeed:
    """Events of running dashboard turns, by session id, for the pages watching them."""

    def __init__(self) -> None:
        self._watchers: dict[str, set[asyncio.Queue[LiveEvent]]] = {}
        # session id -> (the answer's text so far, its latest step), while it is written
        self._in_flight: dict[str, tuple[str, LiveEvent | None]] = {}

    def publish(self, session_id: str, event: LiveEvent) -> None:
        self._remember(session_id, event)
        for queue in self._watchers.get(session_id, ()):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)

    def _remember(self, session_id: str, event: LiveEvent) -> None:
        kind = event.get("kind")
        if kind == "start":
            self._in_flight.pop(session_id, None)
            self._in_flight[session_id] = ("", None)
            while len(self._in_flight) > MAX_IN_FLIGHT:
                self._in_flight.pop(next(iter(self._in_flight)))
        elif kind == "done":
            self._in_flight.pop(session_id, None)
        elif session_id in self._in_flight:
            text, step = self._in_flight[session_id]
            if kind == "delta":
                self._in_flight[session_id] = (text + event.get("text", ""), step)
            else:
                self._in_flight[session_id] = (text, event)

    @contextlib.contextmanager
    def watch(self, session_id: str) -> Iterator[asyncio.Queue[LiveEvent]]:
        """A queue receiving the session's events while the ``with`` block runs, starting
        with the answer written so far when one is being written."""
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(QUEUE_SIZE)
        if session_id in self._in_flight:
            text, step = self._in_flight[session_id]
            queue.put_nowait({"kind": "start"})
            if text:
                queue.put_nowait({"kind": "delta", "text": text})
            if step is not None:
                queue.put_nowait(step)
        self._watchers.setdefault(session_id, set()).add(queue)
        try:
            yield queue
        finally:
            watchers = self._watchers.get(session_id, set())
            watchers.discard(queue)
            if not watchers:
                self._watchers.pop(session_id, None)

    def watching(self, session_id: str) -> int:
        return len(self._watchers.get(session_id, ()))


class DashboardReply:
    """The answer as it is written, published on the feed; the Slack notice once, when done."""

    def __init__(
        self, feed: LiveFeed, session_id: str, log: PostedLog, on_posted: OnPosted
    ) -> None:
        self._feed = feed
        self._session_id = session_id
        self._log = log
        self._on_posted = on_posted
        self._text = ""

    @property
    def text_so_far(self) -> str:
        return self._text

    def _send(self, kind: str, **fields: str) -> None:
        self._feed.publish(self._session_id, {"kind": kind, **fields})

    async def begin(self) -> None:
        self._send("start")

    async def text(self, delta: str) -> None:
        self._text += delta
        self._send("delta", text=delta)

    async def tool_started(self, call_id: str, name: str) -> None:
        self._send("tool", name=name, state="started")

    async def tool_finished(self, call_id: str, name: str, ok: bool) -> None:
        self._send("tool", name=name, state="done" if ok else "failed")

    async def finish(self, note: str | None = None) -> None:
        self._send("done", note=note or "")
        if self._log.comments_posted == 0:
            # Recorded first: a retried turn does not tell the thread twice.
            await self._log.comment_posted("dashboard")
            await self._on_posted()


class DashboardSurface:
    platform = "dashboard"
    title = "Threadline"
    starts_conversations = False
    is_item = False

    def __init__(self, feed: LiveFeed, public_url: str | None) -> None:
        self.feed = feed
        self._public_url = public_url

    def page_url(self, session_id: str) -> str | None:
        """The session's dashboard page, when ``PUBLIC_URL`` says where the app is."""
        if not self._public_url:
            return None
        return f"{self._public_url}/dashboard/sessions/{session_id}"

    def item_label(self, key: ConversationKey) -> str:
        return f"Dashboard page of {key.external_id}"

    def author_header(self, inbound: Inbound) -> str:
        author = clean_name(inbound.author_id)
        return f"[{clean_name(inbound.author_name, author)} ({author}) in the dashboard]"

    async def audience(self, inbound: Inbound) -> Audience:
        return Audience.INTERNAL

    async def place_audience(self, key: ConversationKey) -> Audience:
        return Audience.INTERNAL

    def command_of(self, inbound: Inbound) -> Command | None:
        return None  # reset and the links are buttons and lists on the page itself

    async def prepare(self, inbound: Inbound) -> Inbound:
        return inbound  # the page recorded the signed-in person's name

    async def context(self, inbound: Inbound, previous: PreviousMessage) -> str | None:
        return None  # nothing is said on the page without reaching the bot

    def reply(self, inbound: Inbound, log: PostedLog, on_posted: OnPosted) -> Reply:
        session_id = ConversationKey.parse(inbound.key).external_id
        return DashboardReply(self.feed, session_id, log, on_posted)

    async def notify(self, inbound: Inbound, text: str) -> None:
        session_id = ConversationKey.parse(inbound.key).external_id
        self.feed.publish(session_id, {"kind": "note", "text": text})

    async def notify_key(
        self, key: ConversationKey, text: str, *, answer_of: str | None = None
    ) -> None:
        self.feed.publish(key.external_id, {"kind": "note", "text": text})

    async def link(self, key: ConversationKey, inbound: Inbound | None = None) -> str | None:
        return self.page_url(key.external_id)

    async def seed(self, key: ConversationKey, *, before: str | None = None) -> str | None:
        return None


def dashboard_inbound(
    agent: str,
    session_id: str,
    text: str,
    *,
    author_id: str,
    author_name: str,
    page_url: str | None,
    cut_from: int | None = None,
    team_id: str | None = None,
    channel: str | None = None,
) -> Inbound:
    """A message written on a session's dashboard page, as the inbox records it.

    ``team_id``: the Slack workspace of an author signed in with Slack (None for an operator
    signed in with the token); ``channel``: the Slack channel the conversation lives in, if
    any. Neither changes where the answer goes; they say whom and which channel the turn
    counts against (``app.turns.limits``), as for a message written in Slack.
    """
    return Inbound(
        source=DashboardSurface.platform,
        key=str(ConversationKey.dashboard(agent, session_id)),
        text=text,
        author_id=author_id,
        author_name=author_name,
        team_id=team_id,
        channel=channel,
        item_ref=ITEM_REF,
        item_url=page_url,
        audience=Audience.INTERNAL.value,
        cut_from=cut_from,
    )
