"""Payloads of shapes Slack, GitHub and Jira never send: a clear 4xx (or the 200 that
acknowledges something ignored) on every route, never a 5xx and never a traceback in the log.

Each case names the answer it gets; every one of the 500s found here (Bolt raising on a field
of the wrong type, a lone surrogate reaching the store, JSON nested past the recursion limit)
is a 400 now.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.harness import BOT_USER, TEAM, event_body, new_ts, sign
from tests.http.conftest import GITHUB_SECRET, JIRA_SECRET, Served

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
Request = tuple[str, bytes, dict[str, str]]


def slack(body: bytes, content_type: str = JSON, **headers: str) -> Request:
    return "/slack/events", body, {"Content-Type": content_type, **sign(body), **headers}


def slack_json(payload: Any) -> Request:
    return slack(json.dumps(payload).encode())


def slack_event(**event: Any) -> Request:
    return slack_json(event_body(event))


def interaction(payload: Any) -> Request:
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    return slack(urlencode({"payload": raw}).encode(), FORM)


def hub_sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github(body: bytes, **headers: str) -> Request:
    signed = {
        "Content-Type": JSON,
        "X-GitHub-Event": "issue_comment",
        "X-GitHub-Delivery": "d-1",
        "X-Hub-Signature-256": hub_sign(GITHUB_SECRET, body),
    }
    return "/webhooks/github", body, {**signed, **headers}


def jira(body: bytes, **headers: str) -> Request:
    signed = {
        "Content-Type": JSON,
        "X-Atlassian-Webhook-Identifier": "d-1",
        "X-Hub-Signature": hub_sign(JIRA_SECRET, body),
    }
    return "/webhooks/jira", body, {**signed, **headers}


pytestmark = pytest.mark.asyncio(loop_scope="module")

MENTION = {"type": "app_mention", "user": "U1", "text": f"<@{BOT_USER}> hi", "channel": "C1"}
USER = {"id": "U1", "username": "ada", "team_id": TEAM}
DEEP = b"[" * 20_000 + b"]" * 20_000  # past Python's recursion limit, under MAX_BODY
DEEP_OBJECT = b'{"a":' * 5_000 + b"1" + b"}" * 5_000
FORM_TYPE = {"Content-Type": FORM}


def mention(**changes: Any) -> Request:
    return slack_event(**{**MENTION, "ts": new_ts(), **changes})


def with_body(**changes: Any) -> Request:
    return slack_json({**event_body({**MENTION, "ts": new_ts()}), **changes})


CASES: dict[str, tuple[int, Request]] = {
    # -- /slack/events: the body itself
    "empty body": (400, slack(b"")),
    "empty form": (400, slack(b"", FORM)),
    "not UTF-8": (400, slack(b'{"type": "\xff\xfe"}')),
    "encoded surrogate (not UTF-8)": (
        400,
        slack(b'{"type": "event_callback", "x": "\xed\xa0\x80"}'),
    ),
    "Latin-1 form": (400, slack(b"command=%2Freset&text=caf\xe9", FORM)),
    "form that is not a form": (400, slack(b"a=%zz&&=", FORM)),
    "form sent as JSON": (400, slack(urlencode({"command": "/reset"}).encode(), JSON)),
    "signature not ASCII": (401, slack(b"{}", **{"X-Slack-Signature": "v0=\u00e9"})),
    "timestamp not a number": (401, slack(b"{}", **{"X-Slack-Request-Timestamp": "soon"})),
    "lone surrogate in the text": (
        400,
        slack(
            json.dumps(event_body({**MENTION, "ts": new_ts()})).replace("hi", "\\ud800").encode()
        ),
    ),
    "lone surrogate as a key": (400, slack(b'{"\\udc00": 1, "type": "event_callback"}')),
    "deeply nested array": (400, slack(DEEP)),
    "deeply nested object": (400, slack(DEEP_OBJECT)),
    "nested past the depth limit": (
        400,
        slack(b'{"type": "event_callback", "event": {"x": ' + b"[" * 200 + b"]" * 200 + b"}}"),
    ),
    "NaN": (400, slack(b'{"type": "event_callback", "event_time": NaN}')),
    "a number too large for a float": (400, slack(b'{"type": "event_callback", "x": 1e999}')),
    "an integer of 5000 digits": (
        400,
        slack(b'{"type": "event_callback", "n": ' + b"9" * 5000 + b"}"),
    ),
    # -- /slack/events: Events API shapes
    "no type, event a string": (400, slack_json({"event": "x"})),
    "type a list": (400, slack_json({"type": ["event_callback"], "event": MENTION})),
    "event_callback, event a string": (400, slack_json({"type": "event_callback", "event": "x"})),
    "event_callback, event a list": (400, slack_json({"type": "event_callback", "event": [1]})),
    "event_callback, no event": (400, slack_json({"type": "event_callback"})),
    "event type a number": (400, mention(type=5)),
    "event type missing": (400, slack_event(user="U1", text="hi", channel="C1", ts=new_ts())),
    "mention, text a list": (400, mention(text=["a"])),
    "mention, channel a number": (400, mention(channel=7)),
    "mention, ts a number": (400, mention(ts=1.5)),
    "mention, thread_ts a list": (400, mention(thread_ts=[1])),
    "mention, team an object without an id": (400, mention(team={"id": 5})),
    "mention, user an object (ignored)": (200, mention(user={"id": "U1"})),
    "mention, no ts (ignored)": (200, slack_event(**MENTION)),
    "dm, channel_type a number": (400, mention(type="message", channel="D1", channel_type=1)),
    "edit, message a string": (
        400,
        slack_event(type="message", subtype="message_changed", channel="D1", message="x"),
    ),
    "edit, message.user a number": (
        400,
        slack_event(type="message", subtype="message_changed", message={"user": 5, "ts": "1.1"}),
    ),
    "edit, message.edited a string": (
        400,
        slack_event(
            type="message", subtype="message_changed", message={"user": "U1", "edited": "x"}
        ),
    ),
    "edit, previous_message a list": (
        400,
        slack_event(
            type="message",
            subtype="message_changed",
            channel="C1",
            message={"user": "U1", "text": "new", "ts": "1.1"},
            previous_message=[1],
        ),
    ),
    "deletion, previous_message a string": (
        400,
        slack_event(type="message", subtype="message_deleted", previous_message="x"),
    ),
    "message nested in message, user a number": (
        400,
        slack_event(type="message", subtype="message_changed", message={"message": {"user": 5}}),
    ),
    "authorizations a string": (400, with_body(authorizations="x")),
    "authorizations holding a string": (400, with_body(authorizations=["x"])),
    "team_id a number": (400, with_body(team_id=5)),
    "enterprise a number": (400, with_body(enterprise=5)),
    "event_id a list": (400, with_body(event_id=[1])),
    "is_ext_shared_channel a string": (400, with_body(is_ext_shared_channel="yes")),
    "response_urls a string": (400, with_body(response_urls="x")),
    "url_verification, challenge a number": (
        400,
        slack_json({"type": "url_verification", "challenge": 5}),
    ),
    "url_verification, no challenge": (400, slack_json({"type": "url_verification"})),
    # -- /slack/events: interactivity (form-encoded payload=)
    "block_actions, nothing else (unhandled)": (200, interaction({"type": "block_actions"})),
    "block_actions, actions a string": (
        400,
        interaction({"type": "block_actions", "user": USER, "actions": "x"}),
    ),
    "block_actions, actions empty": (
        400,
        interaction({"type": "block_actions", "user": USER, "actions": []}),
    ),
    "block_actions, action a number": (
        400,
        interaction({"type": "block_actions", "user": USER, "actions": [5]}),
    ),
    "block_actions, action without action_id": (
        400,
        interaction({"type": "block_actions", "user": USER, "actions": [{"block_id": "b"}]}),
    ),
    "block_actions, action_id a number": (
        400,
        interaction({"type": "block_actions", "user": USER, "actions": [{"action_id": 5}]}),
    ),
    "block_actions, user a number": (
        400,
        interaction({"type": "block_actions", "user": 5, "actions": [{"action_id": "a"}]}),
    ),
    "block_actions, container a list": (
        400,
        interaction(
            {
                "type": "block_actions",
                "user": USER,
                "container": [],
                "actions": [{"action_id": "a"}],
            }
        ),
    ),
    "block_actions, user a string (acknowledged)": (
        200,
        interaction({"type": "block_actions", "user": "U1", "actions": [{"action_id": "a"}]}),
    ),
    "view_submission, nothing else": (400, interaction({"type": "view_submission"})),
    "view_submission, view a string": (
        400,
        interaction({"type": "view_submission", "user": USER, "view": "x"}),
    ),
    "view_submission, no callback_id": (
        400,
        interaction({"type": "view_submission", "user": USER, "view": {"state": {}}}),
    ),
    "view_submission, callback_id a number": (
        400,
        interaction({"type": "view_submission", "user": USER, "view": {"callback_id": 5}}),
    ),
    "view_submission, state a string": (
        400,
        interaction(
            {"type": "view_submission", "user": USER, "view": {"callback_id": "c", "state": "s"}}
        ),
    ),
    "view_closed, view a list": (400, interaction({"type": "view_closed", "view": []})),
    "shortcut, no callback_id": (400, interaction({"type": "shortcut", "user": USER})),
    "shortcut, callback_id a list": (
        400,
        interaction({"type": "shortcut", "user": USER, "callback_id": ["x"]}),
    ),
    "interactive_message, no actions": (
        400,
        interaction({"type": "interactive_message", "callback_id": "c"}),
    ),
    "block_suggestion, action_id a number": (
        400,
        interaction({"type": "block_suggestion", "action_id": 5}),
    ),
    "interaction, type a number": (400, interaction({"type": 5, "user": USER})),
    "interaction, no type": (400, interaction({"user": USER})),
    "interaction payload a list": (400, interaction([1, 2])),
    "interaction payload not JSON": (400, interaction("{broken")),
    "interaction payload a lone surrogate": (
        400,
        interaction('{"type": "block_actions", "x": "\\ud800"}'),
    ),
    "interaction payload deeply nested": (400, interaction("[" * 5_000 + "]" * 5_000)),
    "two payload fields": (
        400,
        slack(
            urlencode([("payload", '{"type": "block_actions"}'), ("payload", "[1]")]).encode(), FORM
        ),
    ),
    # -- /slack/events: slash commands
    "command, nothing else (help)": (200, slack(urlencode({"command": "/reset"}).encode(), FORM)),
    "command, text twice (help)": (
        200,
        slack(urlencode([("command", "/reset"), ("text", "a"), ("text", "b")]).encode(), FORM),
    ),
    "command, unknown": (
        404,
        slack(urlencode({"command": "/launch", "user_id": "U1"}).encode(), FORM),
    ),
    "JSON sent as a form": (400, slack(json.dumps({"type": "event_callback"}).encode(), FORM)),
    "no content type": (400, slack(json.dumps({"type": "event_callback"}).encode(), "")),
    # -- /webhooks/github
    "github: unsigned": (401, ("/webhooks/github", b"{}", {"Content-Type": JSON})),
    "github: garbage": (401, ("/webhooks/github", b"\x00\xff garbage", {})),
    "github: empty, signed": (400, github(b"")),
    "github: not UTF-8, signed": (400, github(b'{"a": "\xff"}')),
    "github: a list, signed": (400, github(b"[1]")),
    "github: lone surrogate, signed": (400, github(b'{"action": "created", "x": "\\ud800"}')),
    "github: lone surrogate in the comment, signed": (
        400,
        github(
            b'{"action": "created", "issue": {"number": 42}, "comment": {"id": 1, '
            b'"body": "\\udfff", "user": {"login": "alice"}, "author_association": "OWNER"}, '
            b'"repository": {"full_name": "acme/widgets", "private": true}}'
        ),
    ),
    "github: deeply nested, signed": (400, github(DEEP)),
    "github: deeply nested object, signed": (400, github(DEEP_OBJECT)),
    "github: NaN, signed": (400, github(b'{"action": NaN}')),
    "github: action a number (ignored), signed": (
        200,
        github(b'{"action": 5, "issue": "x", "comment": []}'),
    ),
    "github: form without payload, signed": (400, github(b"a=b", **FORM_TYPE)),
    "github: form, payload not JSON, signed": (400, github(b"payload=%7B", **FORM_TYPE)),
    "github: form, not a form, signed": (400, github(b"%zz&&", **FORM_TYPE)),
    "github: event header missing, signed": (400, github(b"{}", **{"X-GitHub-Event": ""})),
    "github: delivery header huge, signed": (
        400,
        github(b"{}", **{"X-GitHub-Delivery": "d" * 500}),
    ),
    # -- /webhooks/jira
    "jira: unsigned": (401, ("/webhooks/jira", b"{}", {"Content-Type": JSON})),
    "jira: garbage": (401, ("/webhooks/jira", b"\x00\xff", {"Content-Type": "text/plain"})),
    "jira: empty, signed": (400, jira(b"")),
    "jira: not UTF-8, signed": (400, jira(b'{"a": "\xff"}')),
    "jira: a string, signed": (400, jira(b'"x"')),
    "jira: lone surrogate, signed": (
        400,
        jira(b'{"webhookEvent": "comment_created", "x": "\\ud800"}'),
    ),
    "jira: deeply nested, signed": (400, jira(DEEP)),
    "jira: event a number (ignored), signed": (200, jira(b'{"webhookEvent": 5}')),
    "jira: comment a string, signed": (
        400,
        jira(b'{"webhookEvent": "comment_created", "comment": "x", "issue": 5}'),
    ),
}


def alarming(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The records that would page someone: errors, and anything with a traceback."""
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize("case", list(CASES))
async def test_an_odd_payload_gets_a_clear_answer_without_a_traceback(
    served: Served, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    expected, (path, body, headers) = CASES[case]
    caplog.set_level(logging.DEBUG)

    status, answer = await served.post(path, body, headers)

    assert status == expected, answer
    if status >= 400:
        assert json.loads(answer)["error"]
    assert alarming(caplog) == []
    assert (await served.get("/healthz"))[0] == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/metrics", 200),
        ("POST", "/healthz", 405),
        ("POST", "/metrics", 405),
        ("PUT", "/slack/events", 405),
        ("GET", "/webhooks/github", 405),
        ("POST", "/nowhere", 404),
    ],
)
async def test_other_routes_take_garbage_bodies_in_their_stride(
    served: Served, caplog: pytest.LogCaptureFixture, method: str, path: str, status: int
) -> None:
    caplog.set_level(logging.DEBUG)
    for body in (b"\x00\xff" * 100, b"[" * 20_000, b'{"\\ud800": 1}'):
        async with served.http.request(
            method, served.url + path, data=body, headers={"Content-Type": JSON}
        ) as response:
            await response.read()
            assert response.status == status, body[:10]
    assert alarming(caplog) == []
    assert (await served.get("/healthz"))[0] == 200
