"""In-process surfaces for direct pipeline tests: they record what a turn shows and posts.

``ChatSurface`` starts conversations (like Slack); ``TrackerSurface`` is an item surface whose
comments continue one (like GitHub). Both implement ``app.surfaces.base.Surface``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from app.core import Audience, ConversationKey, Inbound
from app.surfaces.base import Command, OnPosted, PostedLog, PreviousMessage, Reply


class ShownReply:
    """One answer as a person would see it (a ``Reply``)."""

    def __init__(
        self,
        inbound: Inbound,
        *,
        fail_on_finish: BaseException | None = None,
        on_posted: OnPosted | None = None,
    ) -> None:
        self.inbound = inbound
        self.shown = ""
        self.began = self.finished = False
        self.note: str | None = None
        self.tools: list[tuple[str, bool]] = []
        self._fail_on_finish = fail_on_finish
        self._on_posted = on_posted

    @property
    def text_so_far(self) -> str:
        return self.shown

    async def begin(self) -> None:
        self.began = True

    async def text(self, delta: str) -> None:
        self.shown += delta

    async def tool_started(self, call_id: str, name: str) -> None:
        return None

    async def tool_finished(self, call_id: str, name: str, ok: bool) -> None:
        self.tools.append((name, ok))

    async def finish(self, note: str | None = None) -> None:
        if self._fail_on_finish is not None:
            raise self._fail_on_finish
        self.note, self.finished = note, True
        if self._on_posted is not None:
            await self._on_posted()


class ChatSurface:
    platform = "chat"
    title = "Chat"
    starts_conversations = True
    is_item = False

    def __init__(self) -> None:
        self.replies: list[ShownReply] = []
        self.notes: list[tuple[str, str]] = []  # (conversation key, text)
        self.context_text: str | None = None
        self.context_error: BaseException | None = None
        self.fail_replies_with: BaseException | None = None
        self.shared_place: Audience | None = None  # what ``place_audience`` answers
        self.seed_text: str | None = None  # what ``seed`` returns (None, as comments do)
        self.seeded: list[tuple[str, str | None]] = []  # (key, before) of each ``seed`` call

    def item_label(self, key: ConversationKey) -> str:
        return f"Chat {key.label}"

    def author_header(self, inbound: Inbound) -> str:
        name = inbound.author_name or inbound.author_id
        return f"[{name} ({inbound.author_id}) in {self.title}]"

    async def audience(self, inbound: Inbound) -> Audience:
        return Audience(inbound.audience) if inbound.audience else Audience.INTERNAL

    async def place_audience(self, key: ConversationKey) -> Audience:
        return self.shared_place if self.shared_place is not None else Audience.INTERNAL

    def command_of(self, inbound: Inbound) -> Command | None:
        word = inbound.text.strip().lower()
        return word if word in ("reset", "links") else None  # type: ignore[return-value]

    async def prepare(self, inbound: Inbound) -> Inbound:
        return replace(inbound, author_name=inbound.author_name or f"Person {inbound.author_id}")

    async def context(self, inbound: Inbound, previous: PreviousMessage) -> str | None:
        if self.context_error is not None:
            raise self.context_error
        return self.context_text

    def reply(self, inbound: Inbound, log: PostedLog, on_posted: OnPosted) -> Reply:
        shown = ShownReply(inbound, fail_on_finish=self.fail_replies_with)
        self.replies.append(shown)
        return shown

    async def notify(self, inbound: Inbound, text: str) -> None:
        self.notes.append((inbound.key, text))

    async def notify_key(
        self, key: ConversationKey, text: str, *, answer_of: str | None = None
    ) -> None:
        self.notes.append((str(key), text))

    async def link(self, key: ConversationKey, inbound: Inbound | None = None) -> str | None:
        return f"https://chat.example/{key.label}"

    async def seed(self, key: ConversationKey, *, before: str | None = None) -> str | None:
        self.seeded.append((str(key), before))
        return self.seed_text


class TrackerSurface(ChatSurface):
    platform = "tracker"
    title = "Tracker"
    starts_conversations = False
    is_item = True

    def item_label(self, key: ConversationKey) -> str:
        return f"Tracker {key.label}"

    def command_of(self, inbound: Inbound) -> Command | None:
        return None

    def reply(self, inbound: Inbound, log: PostedLog, on_posted: OnPosted) -> Reply:
        shown = ShownReply(inbound, on_posted=on_posted)
        self.replies.append(shown)
        return shown

    async def link(self, key: ConversationKey, inbound: Inbound | None = None) -> str | None:
        return None


def chat_message(text: str, *, thread: str = "T1", user: str = "U1") -> Inbound:
    return Inbound(
        source="chat", key=f"tl:chat:{thread}", text=text, author_id=user, channel=thread
    )


def tracker_comment(text: str, *, item: str = "ITEM-1", user: str = "bea") -> Inbound:
    return Inbound(
        source="tracker",
        key=f"tl:tracker:{item}",
        text=text,
        author_id=user,
        author_name=user,
        item_ref=item,
        item_url=f"https://tracker.example/{item}",
        comment_id="c1",
    )


def payload(inbound: Inbound) -> dict[str, Any]:
    return inbound.to_payload()
