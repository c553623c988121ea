"""Clicks on approval cards: the pure parser on payloads shaped like Slack's ``block_actions``,
and the app recording a signed click in the inbox before acknowledging it, once."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from app.slack.cards import APPROVE_ACTION, DECLINE_ACTION, ApprovalClick, approval_click
from tests.harness import Running, run_app, sign

AGENT = "threadline"
_action_ts = itertools.count(1)


def click_body(
    action_id: str = APPROVE_ACTION,
    value: str = "5f0c9d2e4b6a4c1e9f3b7a8d6c5e4f3a",
    *,
    user: str = "U2",
    channel: str = "C1",
    card_ts: str = "1763700001.000300",
    thread_ts: str | None = "1763700000.000100",
    action_ts: str | None = None,
    container_thread: bool = True,
) -> dict[str, Any]:
    """A ``block_actions`` payload as Slack sends it for a button on a message in a thread."""
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": card_ts,
        "channel_id": channel,
        "is_ephemeral": False,
    }
    message: dict[str, Any] = {"type": "message", "ts": card_ts, "bot_id": "BBOT", "text": "x"}
    if thread_ts:
        message["thread_ts"] = thread_ts
        if container_thread:
            container["thread_ts"] = thread_ts
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "grace", "name": "grace", "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "container": container,
        "trigger_id": f"1234.5678.{next(_action_ts)}",
        "team": {"id": "T1", "domain": "acme"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "general"},
        "message": message,
        "response_url": "https://hooks.slack.test/actions/T1/1/x",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "threadline_approval",
                "text": {"type": "plain_text", "text": "Approve", "emoji": True},
                "value": value,
                "style": "primary",
                "type": "button",
                "action_ts": action_ts or f"1763700100.{next(_action_ts):06d}",
            }
        ],
        "state": {"values": {}},
    }


# -- the parser --------------------------------------------------------------------------------


def test_an_approve_click_is_read_with_who_where_and_which_approval() -> None:
    body = click_body(action_ts="1763700100.000001")

    click = approval_click(body)

    assert click == ApprovalClick(
        approval_id="5f0c9d2e4b6a4c1e9f3b7a8d6c5e4f3a",
        decision="approved",
        user_id="U2",
        channel="C1",
        message_ts="1763700001.000300",
        action_ts="1763700100.000001",
        thread_ts="1763700000.000100",
        user_name="grace",
        user_team="T1",
        team_id="T1",
        trigger_id=body["trigger_id"],
    )
    assert click.delivery_id == "slack:action:U2:1763700100.000001"
    assert click.key(AGENT) == "threadline:slack:C1::1763700000.000100"


def test_a_decline_click() -> None:
    click = approval_click(click_body(DECLINE_ACTION))

    assert click is not None and click.decision == "declined"


def test_the_thread_is_read_from_the_message_when_the_container_omits_it() -> None:
    click = approval_click(click_body(container_thread=False))

    assert click is not None and click.thread_ts == "1763700000.000100"


@pytest.mark.parametrize(
    ("channel", "key"),
    [
        ("D1", "threadline:slack:D1::main"),  # a DM's rolling top-level conversation
        ("C1", "threadline:slack:C1::1763700001.000300"),  # the card is the thread's root
    ],
)
def test_a_card_at_the_top_level_belongs_to_its_conversation(channel: str, key: str) -> None:
    click = approval_click(click_body(channel=channel, thread_ts=None))

    assert click is not None and click.thread_ts is None and click.key(AGENT) == key


def test_the_same_payload_names_the_same_delivery_and_another_click_another() -> None:
    body = click_body()
    again = approval_click(json.loads(json.dumps(body)))
    other = approval_click(click_body(user="U3"))

    first = approval_click(body)
    assert first is not None and again is not None and other is not None
    assert first.delivery_id == again.delivery_id != other.delivery_id


def odd(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return body | changes


@pytest.mark.parametrize(
    "body",
    [
        click_body("some_other_button"),
        click_body(value="not an id!"),
        click_body(value=""),
        odd(click_body(), type="view_submission"),
        odd(click_body(), container={"type": "view", "view_id": "V1"}),
        odd(click_body(), container={**click_body()["container"], "is_ephemeral": True}),
        odd(click_body(), actions="approve"),
        odd(click_body(), actions=[]),
        odd(click_body(), user={"id": None}),
        odd(click_body(), user="U2"),
        odd(click_body(), container={"type": "message"}, channel=None, message=None),
        odd(click_body(), actions=[{**click_body()["actions"][0], "type": "static_select"}]),
        odd(click_body(), actions=[{**click_body()["actions"][0], "action_ts": None}]),
    ],
    ids=[
        "another-action",
        "bad-value",
        "empty-value",
        "not-block-actions",
        "in-a-view",
        "ephemeral",
        "actions-not-a-list",
        "no-actions",
        "no-user",
        "user-not-an-object",
        "no-channel-or-message",
        "not-a-button",
        "no-action-ts",
    ],
)
def test_anything_else_is_not_an_approval_click(body: dict[str, Any]) -> None:
    assert approval_click(body) is None


def test_the_payload_recorded_reads_back_as_the_same_click() -> None:
    click = approval_click(click_body())
    assert click is not None

    payload = click.to_payload(AGENT)

    assert payload["kind"] == "approval_click" and payload["key"] == click.key(AGENT)
    assert ApprovalClick.from_payload(json.loads(json.dumps(payload))) == click
    with pytest.raises(ValueError):
        ApprovalClick.from_payload({"source": "slack", "text": "hi"})
    with pytest.raises(ValueError):
        ApprovalClick.from_payload({"kind": "approval_click", "approval_id": "x"})


# -- through the app ---------------------------------------------------------------------------


def inbox_rows(env: dict[str, str]) -> list[tuple[str, str, str, dict[str, Any]]]:
    path = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT delivery_id, source, lane, payload FROM inbox").fetchall()
    return [(d, s, lane, json.loads(p)) for d, s, lane, p in rows]


async def send_click(bot: Running, body: dict[str, Any]) -> tuple[int, str]:
    raw = urlencode({"payload": json.dumps(body)}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(raw)}
    async with bot.http.post(bot.url + "/slack/events", data=raw, headers=headers) as r:
        return r.status, await r.text()


async def test_a_click_is_recorded_in_its_conversation_lane_and_acknowledged(
    bot: Running, env: dict[str, str]
) -> None:
    body = click_body(action_ts="1763700200.000001")

    assert await send_click(bot, body) == (200, "")

    [(delivery, source, lane, payload)] = inbox_rows(env)
    assert (delivery, source) == ("slack:action:U2:1763700200.000001", "slack")
    assert lane == "threadline:slack:C1::1763700000.000100"
    assert payload["kind"] == "approval_click"
    assert (payload["approval_id"], payload["decision"], payload["user_id"]) == (
        "5f0c9d2e4b6a4c1e9f3b7a8d6c5e4f3a",
        "approved",
        "U2",
    )
    assert (payload["channel"], payload["thread_ts"], payload["message_ts"]) == (
        "C1",
        "1763700000.000100",
        "1763700001.000300",
    )


async def test_a_redelivered_click_is_recorded_once(bot: Running, env: dict[str, str]) -> None:
    body = click_body()

    assert await send_click(bot, body) == (200, "")
    assert await send_click(bot, body) == (200, "")
    assert await send_click(bot, click_body(DECLINE_ACTION, user="U3")) == (200, "")

    assert len(inbox_rows(env)) == 2


# Interactions Bolt can route but that are no approval click: acknowledged, nothing recorded.
OTHER_INTERACTIONS = [
    click_body("some_other_button"),
    click_body(value="not an id!"),
    odd(click_body(), container={"type": "view", "view_id": "V1"}),
    odd(click_body(), container={**click_body()["container"], "is_ephemeral": True}),
    odd(click_body(), user="U2"),
]
# Shapes Slack never sends: never a server error, never recorded (the edge may answer 400).
MALFORMED_INTERACTIONS = [
    odd(click_body(), actions="approve"),
    odd(click_body(), container="C1", message=None, channel="C1", team=None),
    odd(click_body(), actions=["approve"]),
    odd(click_body(), actions=[{"action_id": 5, "value": "x"}]),
    {"type": "block_actions"},
]


async def test_other_interactions_are_acknowledged_and_ignored(
    bot: Running, env: dict[str, str]
) -> None:
    statuses = [(await send_click(bot, body))[0] for body in OTHER_INTERACTIONS]
    malformed = [(await send_click(bot, body))[0] for body in MALFORMED_INTERACTIONS]

    assert statuses == [200] * len(OTHER_INTERACTIONS)
    assert all(status in (200, 400) for status in malformed), malformed
    assert inbox_rows(env) == []


async def test_an_unsigned_click_is_refused(bot: Running, env: dict[str, str]) -> None:
    raw = urlencode({"payload": json.dumps(click_body())}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(raw, "wrong")}

    response = await bot.post_raw("/slack/events", raw, headers)

    assert response.status == 401 and inbox_rows(env) == []


async def test_a_click_by_someone_outside_allowed_users_is_not_recorded(
    env: dict[str, str],
) -> None:
    async with run_app({**env, "ALLOWED_USERS": "U1", "APPROVERS": "U7"}) as bot:
        assert await send_click(bot, click_body(user="U2", action_ts="1.1")) == (200, "")
        assert inbox_rows(env) == []
        # an approver decides whatever the allow-list says
        assert await send_click(bot, click_body(user="U7", action_ts="1.2")) == (200, "")
        assert len(inbox_rows(env)) == 1
