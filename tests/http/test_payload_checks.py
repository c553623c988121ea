"""The payload checks at the edge, as pure functions: where the limits lie, and that what
Slack sends passes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from app.http.slack_shapes import FORM, JSON, read_slack_body
from app.webhooks.common import MAX_JSON_DEPTH, loads_object


def nested(depth: int) -> str:
    """A JSON object ``depth`` containers deep (the object itself counts one)."""
    return '{"a": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


def test_nesting_up_to_the_limit_is_read_and_one_more_is_refused() -> None:
    assert loads_object(nested(MAX_JSON_DEPTH))
    with pytest.raises(ValueError, match="nested deeper"):
        loads_object(nested(MAX_JSON_DEPTH + 1))


@pytest.mark.parametrize(
    "text",
    [
        '{"a": "\\ud800"}',  # a lone high surrogate
        '{"a": "\\udfff"}',  # a lone low surrogate
        '{"a": ["x", {"b": "\\udc00 and more"}]}',
        '{"\\ud800": 1}',  # as a key
        '{"a": "\\udc00\\ud800"}',  # a pair in the wrong order
    ],
)
def test_a_lone_surrogate_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="surrogate"):
        loads_object(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": "\\ud83d\\ude00"}',  # an emoji, escaped as its surrogate pair
        '{"a": "\\\\ud800"}',  # a backslash, then the letters
        '{"a": "caf\u00e9 \U0001f600"}',
    ],
)
def test_text_that_merely_looks_like_a_surrogate_passes(text: str) -> None:
    assert loads_object(text)["a"] == json.loads(text)["a"]


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": -Infinity}', '{"a": 1e400}', "[]", '"x"'])
def test_what_no_sender_emits_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        loads_object(text)


# What Slack sends, written after its documentation (app_mention, message_changed, a button
# click, a modal submitted, a shortcut, a slash command, url_verification).
MENTION = {
    "token": "t",
    "team_id": "T1",
    "enterprise_id": None,
    "api_app_id": "A1",
    "type": "event_callback",
    "event_id": "Ev1",
    "event_time": 1,
    "is_ext_shared_channel": False,
    "authorizations": [
        {
            "enterprise_id": None,
            "team_id": "T1",
            "user_id": "UBOT",
            "is_bot": True,
            "is_enterprise_install": False,
        }
    ],
    "event": {
        "type": "app_mention",
        "user": "U1",
        "text": "<@UBOT> hi",
        "ts": "1.2",
        "thread_ts": "1.1",
        "channel": "C1",
        "event_ts": "1.2",
        "team": "T1",
        "blocks": [{"type": "rich_text", "elements": [{"type": "rich_text_section"}]}],
    },
}
EDIT = {
    **MENTION,
    "event": {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": "C1",
        "channel_type": "channel",
        "ts": "1.3",
        "event_ts": "1.3",
        "message": {
            "type": "message",
            "user": "U1",
            "text": "new",
            "ts": "1.2",
            "edited": {"user": "U1", "ts": "1.3"},
        },
        "previous_message": {"type": "message", "user": "U1", "text": "old", "ts": "1.2"},
    },
}
USER = {"id": "U1", "username": "ada", "name": "ada", "team_id": "T1"}
TEAM = {"id": "T1", "domain": "acme", "enterprise_id": None}
CLICK = {
    "type": "block_actions",
    "user": USER,
    "team": TEAM,
    "enterprise": None,
    "api_app_id": "A1",
    "token": "t",
    "container": {"type": "message", "message_ts": "1.2", "channel_id": "C1"},
    "trigger_id": "1.2.3",
    "channel": {"id": "C1", "name": "general"},
    "message": {"type": "message", "user": "UBOT", "ts": "1.2", "text": "Approve?"},
    "response_url": "https://hooks.slack.com/actions/x",
    "actions": [
        {
            "action_id": "approve",
            "block_id": "b",
            "type": "button",
            "value": "1",
            "action_ts": "1.4",
        }
    ],
}
SUBMIT = {
    "type": "view_submission",
    "team": TEAM,
    "user": USER,
    "enterprise": None,
    "view": {
        "id": "V1",
        "type": "modal",
        "callback_id": "feedback",
        "team_id": "T1",
        "app_installed_team_id": "T1",
        "private_metadata": "",
        "state": {"values": {"b": {"a": {"type": "plain_text_input", "value": "x"}}}},
    },
    "response_urls": [],
}
SHORTCUT = {
    "type": "shortcut",
    "callback_id": "ask",
    "trigger_id": "1.2.3",
    "user": USER,
    "team": TEAM,
    "enterprise": None,
}


@pytest.mark.parametrize(
    ("text", "content_type", "reads_as"),
    [
        (json.dumps(MENTION), JSON, JSON),
        (json.dumps(EDIT), JSON, JSON),
        (json.dumps({"type": "url_verification", "token": "t", "challenge": "c"}), JSON, JSON),
        (json.dumps({"type": "app_rate_limited", "minute_rate_limited": 1}), JSON, JSON),
        ("\n" + json.dumps(MENTION), "text/plain", JSON),  # Bolt is handed the JSON type
        (urlencode({"payload": json.dumps(CLICK)}), FORM, FORM),
        (urlencode({"payload": json.dumps(SUBMIT)}), FORM, FORM),
        (urlencode({"payload": json.dumps(SHORTCUT)}), FORM, FORM),
        (urlencode({"command": "/reset", "text": "", "user_id": "U1"}), FORM, FORM),
        (urlencode({"ssl_check": "1", "token": "t"}), FORM, FORM),
    ],
)
def test_what_slack_sends_passes_and_reads_as_bolt_will(
    text: str, content_type: str, reads_as: str
) -> None:
    payload, handed = read_slack_body(text, content_type)
    assert handed == reads_as
    assert isinstance(payload, dict) and payload


def test_a_command_reads_as_bolt_reads_it_the_last_value_of_each_field() -> None:
    text = urlencode([("command", "/reset"), ("text", "a"), ("text", "b")])
    assert read_slack_body(text, FORM)[0] == {"command": "/reset", "text": "b"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({**MENTION, "event": {**MENTION["event"], "user": 5}}, "payload.event.user"),
        ({**EDIT, "event": {**EDIT["event"], "message": {"edited": []}}}, "message.edited"),
        ({**CLICK, "actions": [{"action_id": ["a"]}]}, "payload.actions[0].action_id"),
        ({**SUBMIT, "view": {**SUBMIT["view"], "state": []}}, "payload.view.state"),
        ({**MENTION, "authorizations": [{"team_id": 1}]}, "payload.authorizations[0].team_id"),
    ],
)
def test_a_wrong_type_is_named_in_the_refusal(payload: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        read_slack_body(json.dumps(payload), JSON)
