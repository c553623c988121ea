"""The access policy at the edge, through the real app: refused messages are acknowledged,
not recorded, counted and (at most hourly) explained; external users are marked."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import FakeSlack
from tests.harness import Running, dm, event_body, inbox_drained, mention, new_ts, run_app, sign


def inbox(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The payloads the app recorded, by delivery id (read straight from its database)."""
    path = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT delivery_id, payload FROM inbox").fetchall()
    return {delivery: json.loads(payload) for delivery, payload in rows}


async def refused(bot: Running, reason: str) -> float:
    _, text = await bot.get("/metrics")
    label = f'threadline_refused_messages_total{{reason="{reason}",surface="slack"}} '
    counts = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(label)]
    return counts[0] if counts else 0.0


async def send_body(bot: Running, body: dict[str, Any]) -> int:
    raw = json.dumps(body).encode()
    response = await bot.post_raw(
        "/slack/events", raw, {"Content-Type": "application/json", **sign(raw)}
    )
    return response.status


@pytest.fixture
async def guarded(env: dict[str, str]) -> AsyncIterator[Running]:
    env.update({"ALLOWED_CHANNELS": "C2", "ALLOWED_USERS": "U1,U2", "ALLOW_DMS": "false"})
    async with run_app(env) as running:
        yield running


async def test_a_mention_outside_the_allowed_channels_gets_a_note_and_no_answer(
    guarded: Running, slack: FakeSlack, claude: FakeAnthropic, env: dict[str, str]
) -> None:
    root = new_ts()
    event = mention("hello?", ts=root, channel="C1")
    twin = {**event, "type": "message", "channel_type": "channel"}  # Slack sends both
    assert await guarded.send_event(event) == 200
    assert await guarded.send_event(twin) == 200
    await slack.wait_for(lambda s: s.ephemerals("C1", "U1"))
    [note] = slack.ephemerals("C1", "U1")
    assert "ALLOWED_CHANNELS" in note.text and note.thread_ts is None
    assert await refused(guarded, "channel_not_allowed") == 1  # once for the pair
    await inbox_drained(guarded.store)
    assert inbox(env) == {} and claude.requests == []
    assert [m for m in slack.messages("C1") if m.ephemeral_to is None] == []

    # In a thread, the note is shown in the thread.
    await guarded.send_event(mention("again", channel="C1", user="U2", thread_ts=root))
    await slack.wait_for(lambda s: s.ephemerals("C1", "U2"))
    assert slack.ephemerals("C1", "U2")[0].thread_ts == root


async def test_people_not_allowed_and_dms_when_off_are_refused(
    guarded: Running, slack: FakeSlack, env: dict[str, str]
) -> None:
    await guarded.send_event(mention("hi", channel="C2", user="U3"))
    await guarded.send_event(dm("hi", user="U1"))
    await slack.wait_for(lambda s: s.ephemerals("C2", "U3") and s.ephemerals("D1", "U1"))
    assert "ALLOWED_USERS" in slack.ephemerals("C2", "U3")[0].text
    assert "ALLOW_DMS" in slack.ephemerals("D1", "U1")[0].text
    assert await refused(guarded, "user_not_allowed") == 1
    assert await refused(guarded, "dms_off") == 1
    assert inbox(env) == {}

    # and the one allowed place and person is answered as before
    root = new_ts()
    await guarded.send_event(mention("hi", channel="C2", user="U1", ts=root))
    await inbox_drained(guarded.store)
    assert list(inbox(env)) == [f"slack:C2:{root}"]


async def test_slash_reset_follows_the_same_policy(guarded: Running, slack: FakeSlack) -> None:
    status, body = await guarded.slash("/reset", channel_id="C1")
    assert status == 200 and "ALLOWED_CHANNELS" in body
    status, body = await guarded.slash("/reset", channel_id="D1", channel_name="directmessage")
    assert status == 200 and "ALLOW_DMS" in body
    status, body = await guarded.slash("/reset", channel_id="C2", user_id="U3")
    assert status == 200 and "ALLOWED_USERS" in body
    status, body = await guarded.slash("/reset", channel_id="C2")
    assert status == 200 and "link to the thread" in body  # allowed: the usual help
    assert await refused(guarded, "channel_not_allowed") == 1
    assert slack.calls_to("chat.postEphemeral") == []  # the answer is the note


def slack_connect(text: str, *, user: str = "U9", team: str = "T2", **extra: Any) -> dict[str, Any]:
    """A mention by someone of another organisation, in a channel shared with it."""
    event = {**mention(text, user=user, **extra), "team": team, "user_team": team}
    return {**event_body(event), "is_ext_shared_channel": True}


async def test_external_users_are_marked_and_their_place_is_public(
    bot: Running, env: dict[str, str]
) -> None:
    root = new_ts()
    assert await send_body(bot, slack_connect("hi from outside", ts=root)) == 200
    member = new_ts()
    assert (
        await send_body(bot, slack_connect("hi from inside", user="U1", team="T1", ts=member))
        == 200
    )
    await inbox_drained(bot.store)
    recorded = inbox(env)
    guest, colleague = recorded[f"slack:C1:{root}"], recorded[f"slack:C1:{member}"]
    assert guest["external"] is True and guest["audience"] == "public"
    assert colleague["external"] is False and colleague["audience"] == "public"


async def test_external_users_can_be_ignored_without_a_word(
    env: dict[str, str], slack: FakeSlack
) -> None:
    env["EXTERNAL_USERS"] = "ignore"
    async with run_app(env) as bot:
        assert await send_body(bot, slack_connect("anyone there?")) == 200
        assert await refused(bot, "external_ignored") == 1
        status, body = await bot.slash("/reset", channel_id="D9", team_id="T2", user_id="U9")
        assert status == 200 and body == ""
        await asyncio.sleep(0)  # let any note task (there must be none) start
        assert inbox(env) == {}
    assert slack.calls_to("chat.postEphemeral") == []


async def test_external_users_cannot_reset_under_chat(bot: Running) -> None:
    status, body = await bot.slash("/reset", channel_id="D9", team_id="T2", user_id="U9")
    assert status == 200 and "other organisations" in body
    assert await refused(bot, "external_command") == 1
