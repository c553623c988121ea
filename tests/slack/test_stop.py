"""Stopping an answer from Slack: the native stop of an agent session, or the Stop button."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from tests.fakes.anthropic import FakeAnthropic, Hang
from tests.fakes.slack import FakeSlack
from tests.harness import TEAM, Running, dm, mention, new_ts, replies, sign


def stopped_event(channel: str, thread_ts: str, user: str = "U1") -> dict[str, object]:
    return {
        "type": "agent_session_stopped",
        "channel": channel,
        "thread_ts": thread_ts,
        "user": user,
        "streaming_message_ts": [],
        "event_ts": new_ts(),
    }


async def test_slacks_stop_ends_the_turn_and_the_conversation_goes_on(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    claude.script(Hang(60))
    root = new_ts()
    await bot.send_event(mention("write me a novel", ts=root))
    await claude.wait_for(lambda c: len(c.requests) == 1)

    assert await bot.send_event(stopped_event("C1", root)) == 200
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1, timeout=15)
    assert "Stopped" in replies(slack, "C1", root)[0]
    await bot.idle()
    session = await bot.store.resolve(f"threadline:slack:C1::{root}")
    assert session is not None
    entries = await bot.store.load_transcript(session.id)
    assert [e.role for e in entries] == ["user", "assistant"]

    await bot.send_event(mention("a short story then", thread_ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
    assert len(claude.requests[-1]["messages"]) == 3  # the stopped turn is part of it


async def test_the_stop_button_of_someone_from_another_organisation_does_nothing(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    claude.script(Hang(3))
    root = new_ts()
    await bot.send_event(mention("think hard", ts=root))
    await claude.wait_for(lambda c: len(c.requests) == 1)
    click = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": "U9", "team_id": "T_OTHER"},
        "actions": [
            {
                "type": "button",
                "action_id": "threadline_stop",
                "value": f"threadline:slack:C1::{root}",
                "action_ts": new_ts(),
            }
        ],
    }
    body = urlencode({"payload": json.dumps(click)}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    response = await bot.post_raw("/slack/events", body, headers)
    assert response.status == 200
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1, timeout=15)
    assert "Stopped" not in replies(slack, "C1", root)[0]  # the answer came in full


def stop_buttons(blocks: list[object]) -> list[str]:
    return [
        str(element.get("value"))
        for block in blocks
        if isinstance(block, dict) and block.get("type") == "actions"
        for element in block.get("elements", [])
        if isinstance(element, dict) and element.get("action_id") == "threadline_stop"
    ]


async def test_the_stop_button_on_a_dm_answer_stops_it_and_then_goes_away(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    claude.script(Hang(60))
    await bot.send_event(dm("tell me everything", channel="D1"))
    await slack.wait_for(lambda s: any(stop_buttons(m.blocks) for m in s.messages("D1")))
    [answer] = [m for m in slack.messages("D1") if stop_buttons(m.blocks)]
    assert stop_buttons(answer.blocks) == ["threadline:slack:D1::main"]

    click = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": "U1", "team_id": TEAM},
        "channel": {"id": "D1"},
        "message": {"ts": answer.ts},
        "actions": [
            {
                "type": "button",
                "action_id": "threadline_stop",
                "value": "threadline:slack:D1::main",
                "action_ts": new_ts(),
            }
        ],
    }
    body = urlencode({"payload": json.dumps(click)}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    assert (await bot.post_raw("/slack/events", body, headers)).status == 200
    await slack.wait_for(lambda s: "Stopped" in (s.message("D1", answer.ts) or answer).text)
    await bot.idle()
    final = slack.message("D1", answer.ts)
    assert final is not None and stop_buttons(final.blocks) == []
