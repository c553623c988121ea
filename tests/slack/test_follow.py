"""Following a thread (FOLLOW_THREADS) through the running app: once the bot has answered in a
thread, people's later messages there are answered without a mention, until someone mutes it;
messages addressed to someone else, Slack's own notices and other threads are left alone; and
without the setting nothing changes."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.slack.events import BotIdentity
from app.slack.follow import addressed_to_someone_else, thread_message
from tests.fakes.slack import FakeSlack
from tests.harness import (
    BOT_USER,
    TEAM,
    Running,
    dm,
    event_body,
    inbox_drained,
    mention,
    new_ts,
    replies,
    run_app,
    said,
)

MUTED_NOTE = "Muted: I'll stay quiet in this thread"
UNMUTED_NOTE = "Unmuted: I'll answer messages in this thread again"


def in_thread(text: str, thread_ts: str, *, user: str = "U2", **extra: Any) -> dict[str, Any]:
    """A person's message in a channel thread, as ``message.channels`` delivers it."""
    return {
        "type": "message",
        "channel_type": "channel",
        "user": user,
        "text": text,
        "ts": new_ts(),
        "thread_ts": thread_ts,
        "parent_user_id": "U1",
        "channel": "C1",
        "team": TEAM,
        **extra,
    }


@pytest.fixture
async def following(env: dict[str, str]) -> AsyncIterator[Running]:
    async with run_app({**env, "FOLLOW_THREADS": "true"}) as running:
        yield running


async def answered_thread(bot: Running, slack: FakeSlack) -> str:
    """A thread the bot has answered in once; its root ts."""
    root = new_ts()
    assert await bot.send_event(mention("hello", ts=root)) == 200
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    return root


async def test_a_thread_the_bot_answered_is_followed_without_a_mention(
    following: Running, slack: FakeSlack
) -> None:
    root = await answered_thread(following, slack)
    assert await following.send_event(in_thread("and what about Tuesday?", root)) == 200
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
    assert replies(slack, "C1", root)[1] == said("and what about Tuesday?", "grace (U2)")

    # a mention in the followed thread arrives twice (app_mention, message): one answer
    ts = new_ts()
    both = [
        mention("and Wednesday?", ts=ts, thread_ts=root),
        in_thread(f"<@{BOT_USER}> and Wednesday?", root, user="U1", ts=ts),
    ]
    assert [await following.send_event(e) for e in both] == [200, 200]
    await inbox_drained(following.store)
    assert len(replies(slack, "C1", root)) == 3


async def test_a_followed_answer_costs_the_slack_calls_of_a_mentioned_one(
    following: Running, slack: FakeSlack
) -> None:
    root = await answered_thread(following, slack)

    async def calls_for(event: dict[str, Any], answers: int) -> list[str]:
        before = len(slack.calls)
        await following.send_event(event)
        await slack.wait_for(lambda s: len(replies(s, "C1", root)) == answers)
        await inbox_drained(following.store)
        return [c.method for c in slack.calls[before:]]

    mentioned = await calls_for(mention("first", thread_ts=root, user="U2"), 2)
    followed = await calls_for(in_thread("second", root), 3)
    assert followed == [m for m in mentioned if m != "users.info"]  # U2's name is known now
    assert "views.publish" not in followed  # nobody watches a Home tab here


async def test_mute_stops_following_and_unmute_resumes(
    following: Running, slack: FakeSlack
) -> None:
    root = await answered_thread(following, slack)
    await following.send_event(mention("mute", thread_ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
    assert replies(slack, "C1", root)[1].startswith(MUTED_NOTE)

    await following.send_event(in_thread("anyone around?", root))
    await inbox_drained(following.store)
    assert len(replies(slack, "C1", root)) == 2  # not answered
    # a mention is still answered in a muted thread
    await following.send_event(mention("are you there?", thread_ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 3)

    await following.send_event(mention("unmute", thread_ts=root, user="U2"))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 4)
    assert replies(slack, "C1", root)[3].startswith(UNMUTED_NOTE)
    await following.send_event(in_thread("back again", root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 5)
    assert replies(slack, "C1", root)[4] == said("back again", "grace (U2)")
    kinds = [e.kind for e in await following.store.events_for(await session_id(following, root))]
    assert kinds.count("muted") == 1 and kinds.count("unmuted") == 1


async def test_a_message_sent_before_the_mute_took_effect_is_not_answered_after_it(
    following: Running, slack: FakeSlack
) -> None:
    root = await answered_thread(following, slack)
    slack.delay("users.info", 0.5)  # the mute is read (its author named) a little later
    await following.send_event(mention("mute", thread_ts=root, user="U2"))
    # recorded before the mute is stored, and queued behind it
    await following.send_event(in_thread("one more thing", root, user="U1"))
    await inbox_drained(following.store)
    assert [r[:6] for r in replies(slack, "C1", root)[1:]] == ["Muted:"]


async def test_messages_not_for_the_bot_are_left_alone(
    following: Running, slack: FakeSlack
) -> None:
    root = await answered_thread(following, slack)
    unanswered = [
        in_thread("<@U1> what do you think?", root),  # addressed to someone else
        in_thread("<!subteam^S0614TZR7|oncall> please look", root),  # to a group
        in_thread("You have been removed from #general", root, user="USLACKBOT"),
        in_thread("deploy finished", root, bot_id="B9", subtype="bot_message"),
        in_thread(f"I am {BOT_USER}", root, user=BOT_USER),  # the bot's own message
        {**in_thread("top level chatter", root), "thread_ts": None},
        in_thread("a thread the bot never answered in", new_ts()),
        in_thread("another channel", root, channel="C2"),
    ]
    for event in unanswered:
        assert await following.send_event(event) == 200
    await inbox_drained(following.store)
    assert len(replies(slack, "C1", root)) == 1
    assert (await following.store.stats()).extra.get("processing_deliveries", 0) == 0
    assert claude_requests(slack) == 1


def claude_requests(slack: FakeSlack) -> int:
    """How many answers were started (one per turn that reached the model)."""
    return len(slack.calls_to("chat.startStream"))


async def test_without_the_setting_only_mentions_are_answered(
    bot: Running, slack: FakeSlack
) -> None:
    root = await answered_thread(bot, slack)
    await bot.send_event(in_thread("and what about Tuesday?", root))
    await inbox_drained(bot.store)
    assert len(replies(slack, "C1", root)) == 1
    await bot.send_event(mention("mute", thread_ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
    assert replies(slack, "C1", root)[1] == (
        "I answer in a channel thread only when someone mentions me, so there is nothing to mute."
    )
    assert not await bot.store.is_muted(f"threadline:slack:C1::{root}")


async def test_mute_in_a_dm_explains_there_is_nothing_to_mute(
    following: Running, slack: FakeSlack
) -> None:
    await following.send_event(dm("mute"))
    await slack.wait_for(lambda s: len(s.messages("D1")) == 1)
    assert slack.messages("D1")[-1].text.startswith("I answer every message in a DM")


async def test_a_store_that_cannot_answer_asks_slack_to_deliver_again(
    env: dict[str, str], slack: FakeSlack
) -> None:
    async with run_app({**env, "FOLLOW_THREADS": "true"}) as bot:
        root = await answered_thread(bot, slack)
        event = in_thread("still there?", root)
        path = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
        blocker = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        await asyncio.to_thread(blocker.execute, "BEGIN EXCLUSIVE")
        try:
            assert await bot.send_event(event, event_id="EvFOLLOW") == 503
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert await bot.send_event(event, event_id="EvFOLLOW") == 200  # Slack's retry
        await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)


async def session_id(bot: Running, root: str) -> str:
    session = await bot.store.resolve(f"threadline:slack:C1::{root}")
    assert session is not None
    return session.id


# the pure part -------------------------------------------------------------------------------

BOT = BotIdentity(BOT_USER, "BBOT", TEAM)


@pytest.mark.parametrize(
    ("text", "addressed"),
    [
        ("<@U2> can you check?", True),
        ("  <@W2|grace> can you check?", True),
        ("<!subteam^S1|oncall> look", True),
        (f"<@{BOT_USER}> can you check?", False),
        ("can you check, <@U2>?", False),
        ("<!here> anyone?", False),
        ("<#C1|general> is quiet", False),
        ("", False),
    ],
)
def test_addressed_to_someone_else(text: str, addressed: bool) -> None:
    assert addressed_to_someone_else(text, BOT_USER) is addressed


def test_a_followed_message_is_marked_and_never_a_dm() -> None:
    root = new_ts()
    inbound = thread_message(event_body(in_thread("hello", root)), agent="tl", bot=BOT)
    assert inbound is not None and inbound.followed
    assert inbound.key == f"tl:slack:C1::{root}" and inbound.thread_ts == root
    edited = in_thread("hello", root, subtype="message_changed")
    assert thread_message(event_body(edited), agent="tl", bot=BOT) is None
    in_dm = {**in_thread("hello", root), "channel": "D1", "channel_type": "im"}
    assert thread_message(event_body(in_dm), agent="tl", bot=BOT) is None
    assert thread_message({"type": "event_callback", "event": "x"}, agent="tl", bot=BOT) is None
