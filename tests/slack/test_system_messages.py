"""Slack's own system messages are never answered, and every event the manifest subscribes is
acknowledged with 200 through ``/slack/events`` (never 404, which makes Slack retry and
eventually turn the subscription off)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.slack.events import BotIdentity, inbound_from_event
from tests.fakes.slack import FakeSlack
from tests.harness import Running, dm, event_body, inbox_drained, mention, new_ts

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.json"
BOT = BotIdentity("UBOT", "BBOT", "T1")


def slackbot_dm(text: str) -> dict[str, Any]:
    """A message Slack itself writes in the bot's DM (user USLACKBOT, no bot_id)."""
    return {
        "type": "message",
        "text": text,
        "user": "USLACKBOT",
        "ts": new_ts(),
        "team": "T1",
        "channel": "D1",
        "event_ts": "1",
        "channel_type": "im",
    }


def test_a_slackbot_message_is_not_a_message_to_answer() -> None:
    body = event_body(slackbot_dm("You have been removed from #testing by <@U1>"))
    assert inbound_from_event(body, agent="tl", bot=BOT) is None
    person = event_body(dm("You have been removed from #testing"))
    assert inbound_from_event(person, agent="tl", bot=BOT) is not None


async def test_slackbot_in_the_dm_is_acknowledged_and_never_answered(
    bot: Running, slack: FakeSlack
) -> None:
    assert await bot.send_event(slackbot_dm("You have been removed from #testing")) == 200
    assert await bot.send_event(slackbot_dm("Reminder: standup")) == 200
    await inbox_drained(bot.store)
    assert (await bot.store.stats()).pending_deliveries == 0
    assert [m for m in slack.messages("D1") if m.user == slack.user_id] == []
    assert slack.calls_to("chat.startStream") == slack.calls_to("chat.postMessage") == []


def _events_for(kind: str) -> list[dict[str, Any]]:
    """Events of the manifest's subscription ``kind`` (message.* are message events)."""
    root = new_ts()
    thread = {"thread_ts": root}
    assistant_thread = {
        "user_id": "U1",
        "context": {"channel_id": "C1", "team_id": "T1"},
        "channel_id": "D1",
        "thread_ts": root,
    }
    return {
        "app_mention": [mention("hello")],
        "message.im": [dm("hello"), dm("in a thread", thread_ts=root)],
        "message.channels": [
            {"type": "message", "user": "U2", "text": "chatter", "ts": new_ts(), "channel": "C1"},
            {
                "type": "message",
                "subtype": "message_changed",
                "channel": "C1",
                "hidden": True,
                "ts": new_ts(),
                "message": {"type": "message", "user": "U2", "text": "edited", "ts": root},
            },
        ],
        "message.groups": [
            {
                "type": "message",
                "user": "U2",
                "text": "hi",
                "ts": new_ts(),
                "channel": "G1",
                **thread,
            }
        ],
        "message.mpim": [
            {"type": "message", "user": "U2", "text": "hi", "ts": new_ts(), "channel": "G2"}
        ],
        "agent_session_stopped": [
            {"type": "agent_session_stopped", "user": "U1", "channel": "C1", "thread_ts": root}
        ],
        "assistant_thread_started": [
            {"type": "assistant_thread_started", "assistant_thread": assistant_thread}
        ],
        "assistant_thread_context_changed": [
            {"type": "assistant_thread_context_changed", "assistant_thread": assistant_thread}
        ],
        "app_home_opened": [
            {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"},
            {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "messages"},
        ],
    }.get(kind, [{"type": kind, "user": "U1", "channel": "C1", "event_ts": "1"}])


SUBSCRIBED = json.loads(MANIFEST.read_text())["settings"]["event_subscriptions"]["bot_events"]


@pytest.mark.parametrize("kind", SUBSCRIBED)
async def test_every_subscribed_event_is_acknowledged_with_200(bot: Running, kind: str) -> None:
    for event in _events_for(kind):
        assert await bot.send_event(event) == 200, event


async def test_an_event_nobody_subscribed_is_acknowledged_too(bot: Running) -> None:
    assert await bot.send_event({"type": "channel_rename", "channel": {"id": "C1"}}) == 200
    assert await bot.send_event({"type": "member_joined_channel", "user": "U2"}) == 200


def test_the_manifest_subscribes_the_agent_events() -> None:
    for kind in ("assistant_thread_started", "assistant_thread_context_changed", "message.im"):
        assert kind in SUBSCRIBED
    assert "app_home_opened" in SUBSCRIBED
