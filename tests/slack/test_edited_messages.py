"""Editing or deleting a message in Slack changes what Claude remembers of it, through the
real app; a store that cannot take the change makes Slack send it again."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from tests.fakes.anthropic import FakeAnthropic
from tests.harness import Running, dm, new_ts


def changed(ts: str, text: str, *, user: str = "U1", editor: str | None = None) -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": "D1",
        "channel_type": "im",
        "ts": new_ts(),
        "message": {
            "type": "message",
            "user": user,
            "text": text,
            "ts": ts,
            "edited": {"user": editor or user, "ts": new_ts()},
        },
        "previous_message": {"type": "message", "user": user, "text": "before", "ts": ts},
    }


def deleted(ts: str) -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": "D1",
        "channel_type": "im",
        "ts": new_ts(),
        "deleted_ts": ts,
        "previous_message": {"type": "message", "user": "U1", "text": "before", "ts": ts},
    }


async def remembered(bot: Running, claude: FakeAnthropic) -> list[str]:
    """What the next turn replays of the conversation's earlier user messages."""
    before = len(claude.requests)
    await bot.send_event(dm("what do you remember?"))
    await bot.idle()
    assert len(claude.requests) == before + 1
    return [
        m["content"][0]["text"]
        for m in claude.requests[-1]["messages"][:-1]
        if m["role"] == "user" and m["content"][0].get("type") == "text"
    ]


async def test_an_edit_replaces_and_a_deletion_removes_what_claude_remembers(
    bot: Running, claude: FakeAnthropic
) -> None:
    first, second = new_ts(), new_ts()
    await bot.send_event(dm("my code is 1234", ts=first))
    await bot.idle()
    await bot.send_event(dm("my colour is teal", ts=second))
    await bot.idle()

    assert await bot.send_event(changed(first, "<@UBOT> my code is 9876")) == 200
    assert await bot.send_event(deleted(second)) == 200
    # someone else's edit of a message changes nothing
    assert await bot.send_event(changed(first, "hacked", editor="U2")) == 200
    assert await bot.send_event(changed(first, "hacked", user="U2")) == 200

    assert await remembered(bot, claude) == [
        "[ada (U1) in Slack]\nmy code is 9876",
        "[ada (U1) in Slack]\n[deleted by author]",
    ]
    events = [e.kind for e in await bot.store.events_for(await session_of(bot))]
    assert events.count("message_rewritten") == 2


async def session_of(bot: Running) -> str:
    session = await bot.store.resolve("threadline:slack:D1::main")
    assert session is not None
    return session.id


async def test_an_edit_the_store_cannot_take_is_refused_so_slack_retries(
    bot: Running, claude: FakeAnthropic, env: dict[str, str]
) -> None:
    first = new_ts()
    await bot.send_event(dm("my code is 1234", ts=first))
    await bot.idle()
    edit = changed(first, "my code is 5555")
    path = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
    blocker = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    await asyncio.to_thread(blocker.execute, "BEGIN EXCLUSIVE")
    try:
        assert await bot.send_event(edit, event_id="EvEDIT") == 503
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert await bot.send_event(edit, event_id="EvEDIT") == 200  # Slack's retry
    assert await bot.send_event(edit, event_id="EvEDIT") == 200  # and again: no change
    assert await remembered(bot, claude) == ["[ada (U1) in Slack]\nmy code is 5555"]
    events = [e.kind for e in await bot.store.events_for(await session_of(bot))]
    assert events.count("message_rewritten") == 1
