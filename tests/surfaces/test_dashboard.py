"""The dashboard surface: who speaks there and to whom, the answer published as it is
written, and the Slack thread told once however often the turn is retried."""

from __future__ import annotations

import asyncio

from app.core import Audience, ConversationKey
from app.surfaces.dashboard import (
    MAX_IN_FLIGHT,
    QUEUE_SIZE,
    DashboardSurface,
    LiveFeed,
    dashboard_inbound,
)


class Posted:
    """What earlier attempts of a delivery posted (the ``PostedLog`` a turn hands a reply)."""

    def __init__(self) -> None:
        self.comments: list[str] = []
        self.slack_messages: list[str] = []

    @property
    def comments_posted(self) -> int:
        return len(self.comments)

    async def slack_posted(self, ts: str) -> None:
        self.slack_messages.append(ts)

    async def slack_removed(self, ts: str) -> None:
        self.slack_messages.remove(ts)

    async def comment_posted(self, comment_id: str) -> None:
        self.comments.append(comment_id)


def drain(queue: asyncio.Queue[dict[str, str]]) -> list[dict[str, str]]:
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events


async def test_a_message_from_the_page_is_internal_and_attributed() -> None:
    surface = DashboardSurface(LiveFeed(), "https://tl.example.com")
    inbound = dashboard_inbound(
        "tl", "s1", "hello", author_id="U1", author_name="Ada", page_url=surface.page_url("s1")
    )
    assert inbound.key == str(ConversationKey.dashboard("tl", "s1"))
    assert inbound.source == surface.platform == "dashboard"
    assert inbound.item_url == "https://tl.example.com/dashboard/sessions/s1"
    assert surface.author_header(inbound) == "[Ada (U1) in the dashboard]"
    assert await surface.audience(inbound) is Audience.INTERNAL
    assert await surface.place_audience(ConversationKey.dashboard("tl", "s1")) is Audience.INTERNAL
    assert (
        surface.command_of(
            dashboard_inbound("tl", "s1", "reset", author_id="U1", author_name="A", page_url=None)
        )
        is None
    )
    assert not surface.starts_conversations
    assert await surface.link(ConversationKey.dashboard("tl", "s1")) == inbound.item_url
    assert DashboardSurface(LiveFeed(), None).page_url("s1") is None


async def test_the_answer_is_published_as_it_is_written_and_slack_told_once() -> None:
    feed = LiveFeed()
    surface = DashboardSurface(feed, None)
    inbound = dashboard_inbound("tl", "s1", "hi", author_id="U1", author_name="Ada", page_url=None)
    told: list[str] = []

    async def notice() -> None:
        told.append("notice")

    log = Posted()
    with feed.watch("s1") as queue, feed.watch("s2") as elsewhere:
        reply = surface.reply(inbound, log, notice)
        await reply.begin()
        await reply.text("Thurs")
        await reply.tool_started("toolu_1", "look_it_up")
        await reply.tool_finished("toolu_1", "look_it_up", False)
        await reply.text("days.")
        await reply.finish("a note")
        assert reply.text_so_far == "Thursdays."
        assert drain(queue) == [
            {"kind": "start"},
            {"kind": "delta", "text": "Thurs"},
            {"kind": "tool", "name": "look_it_up", "state": "started"},
            {"kind": "tool", "name": "look_it_up", "state": "failed"},
            {"kind": "delta", "text": "days."},
            {"kind": "done", "note": "a note"},
        ]
        assert drain(elsewhere) == []
        # the same delivery retried: the thread is not told again
        again = surface.reply(inbound, log, notice)
        await again.begin()
        await again.finish()
        assert told == ["notice"]
        await surface.notify(inbound, "_try again_")
        assert drain(queue)[-1] == {"kind": "note", "text": "_try again_"}
    assert feed.watching("s1") == 0


async def test_a_watcher_that_falls_behind_loses_events_not_the_turn() -> None:
    feed = LiveFeed()
    with feed.watch("s1") as slow:
        for n in range(QUEUE_SIZE + 10):
            feed.publish("s1", {"kind": "delta", "text": str(n)})
        assert slow.qsize() == QUEUE_SIZE
    feed.publish("s1", {"kind": "done"})  # nobody watching: nothing kept
    assert feed.watching("s1") == 0


async def test_a_page_opened_mid_answer_starts_from_the_text_so_far() -> None:
    feed = LiveFeed()
    feed.publish("s1", {"kind": "start"})
    feed.publish("s1", {"kind": "delta", "text": "Once upon "})
    feed.publish("s1", {"kind": "tool", "name": "look_it_up", "state": "started"})
    feed.publish("s1", {"kind": "delta", "text": "a time"})
    with feed.watch("s1") as late:
        assert drain(late) == [
            {"kind": "start"},
            {"kind": "delta", "text": "Once upon a time"},
            {"kind": "tool", "name": "look_it_up", "state": "started"},
        ]
        feed.publish("s1", {"kind": "done", "note": ""})
        assert drain(late) == [{"kind": "done", "note": ""}]
    with feed.watch("s1") as after:
        assert drain(after) == []  # nothing is kept of a finished answer
    # events of no answer being written (a note) are not kept either
    feed.publish("s2", {"kind": "note", "text": "try again"})
    with feed.watch("s2") as other:
        assert drain(other) == []


async def test_answers_that_never_finished_are_forgotten_in_the_end() -> None:
    feed = LiveFeed()
    for n in range(MAX_IN_FLIGHT + 5):
        feed.publish(f"s{n}", {"kind": "start"})
    with feed.watch("s0") as oldest, feed.watch(f"s{MAX_IN_FLIGHT + 4}") as newest:
        assert drain(oldest) == []
        assert drain(newest) == [{"kind": "start"}]
