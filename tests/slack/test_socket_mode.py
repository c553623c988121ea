"""Socket Mode end to end: the real app, Bolt's aiohttp Socket Mode client and FakeSlack's
websocket, all on loopback. No signing secret is configured, as in a Socket Mode install."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import warnings

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import FakeSlack
from tests.harness import (
    TEAM,
    base_env,
    dm,
    event_body,
    inbox_drained,
    mention,
    new_ts,
    replies,
    run_app,
    said,
    sign,
)

APP_TOKEN = "xapp-1-test"


@pytest.fixture
def socket_env(env: dict[str, str]) -> dict[str, str]:
    socket = {**env, "SLACK_APP_TOKEN": APP_TOKEN}
    socket.pop("SLACK_SIGNING_SECRET")
    return socket


def slash_payload(command: str, text: str = "", **fields: str) -> dict[str, str]:
    """A slash command as Socket Mode delivers it: the HTTP form's fields, as a dict."""
    return {
        "token": "legacy",
        "team_id": TEAM,
        "team_domain": "acme",
        "channel_id": "C1",
        "channel_name": "general",
        "user_id": "U1",
        "user_name": "ada",
        "command": command,
        "text": text,
        "api_app_id": "A1",
        "is_enterprise_install": "false",
        "response_url": "http://127.0.0.1:9/unused",
        "trigger_id": "1.2.3",
        **fields,
    }


def test_socket_env_is_a_socket_mode_configuration(socket_env: dict[str, str]) -> None:
    # guard: the env really is what a Socket Mode install looks like
    assert socket_env["SLACK_APP_TOKEN"].startswith("xapp-")
    assert "SLACK_SIGNING_SECRET" not in socket_env
    assert set(base_env("u", "a", "d")) - set(socket_env) == {"SLACK_SIGNING_SECRET"}


async def test_the_fake_opens_connections_only_for_an_app_token(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        await AsyncWebClient(base_url=slack.url).apps_connections_open(app_token="xoxb-test-token")
    assert err.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as err:  # and an app token cannot call bot methods
        await AsyncWebClient(token=APP_TOKEN, base_url=slack.url).auth_test()
    assert err.value.response["error"] == "invalid_auth"

    opened = await AsyncWebClient(base_url=slack.url).apps_connections_open(app_token=APP_TOKEN)
    assert opened["url"].startswith(f"ws://127.0.0.1:{slack.port}/socket-mode/")
    assert slack.calls_to("apps.connections.open")[-1].headers["authorization"] == (
        f"Bearer {APP_TOKEN}"
    )
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(opened["url"] + "-not-issued")
        assert refused.value.status == 401
        async with http.ws_connect(opened["url"]) as ws:
            assert (await ws.receive_json())["type"] == "hello"
            await slack.socket_connected()
            envelope_id = await slack.push_envelope("events_api", {"type": "event_callback"})
            envelope = await ws.receive_json()
            assert envelope["envelope_id"] == envelope_id
            assert envelope["accepts_response_payload"] is False
            await ws.send_json({"envelope_id": envelope_id})
            assert await slack.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
    await slack.wait_for(lambda s: not s.socket_open)
    assert slack.socket_close_codes == [1000]


async def test_a_mention_over_the_socket_is_acked_answered_once_and_redelivery_is_ignored(
    socket_env: dict[str, str], slack: FakeSlack, claude: FakeAnthropic
) -> None:
    async with run_app(socket_env) as bot:
        await slack.socket_connected()
        [opened] = slack.calls_to("apps.connections.open")
        assert opened.ok and opened.headers["authorization"] == f"Bearer {APP_TOKEN}"

        root = new_ts()
        body = event_body(mention("hello over the socket", ts=root))
        first = await slack.push_envelope("events_api", body)
        ack = await slack.wait_for_ack(first)
        assert ack == {"envelope_id": first}  # events are acked without a payload
        await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
        assert replies(slack, "C1", root) == [said("hello over the socket")]
        await bot.idle()

        # Slack redelivers the same event (same event_id) in a new envelope
        again = await slack.push_envelope(
            "events_api", body, retry_attempt=1, retry_reason="timeout"
        )
        assert await slack.wait_for_ack(again) == {"envelope_id": again}
        # the redelivery was recorded or dropped before its ack: with the inbox drained, a
        # (wrong) second answer would be there by now
        await bot.idle()
        await inbox_drained(bot.store)
        assert replies(slack, "C1", root) == [said("hello over the socket")]
        assert len(claude.requests) == 1
        assert len(slack.acks_for(first)) == len(slack.acks_for(again)) == 1
        assert slack.socket_messages == []


async def test_slash_reset_in_a_dm_is_acked_with_the_confirmation(
    socket_env: dict[str, str], slack: FakeSlack, claude: FakeAnthropic
) -> None:
    async with run_app(socket_env) as bot:
        envelope = await slack.push_envelope("events_api", event_body(dm("remember teal")))
        await slack.wait_for_ack(envelope)
        await slack.wait_for(
            lambda s: any(m.text == said("remember teal") for m in s.messages("D1"))
        )
        await bot.idle()
        assert await bot.store.resolve("threadline:slack:D1::main") is not None

        reset = await slack.push_envelope(
            "slash_commands",
            slash_payload("/reset", channel_id="D1", channel_name="directmessage"),
        )
        ack = await slack.wait_for_ack(reset)
        assert ack["envelope_id"] == reset
        assert "forgotten this DM" in ack["payload"]["text"]
        assert await bot.store.resolve("threadline:slack:D1::main") is None

        # in a channel without a link, the ack carries the help (only the typist sees it)
        help_id = await slack.push_envelope("slash_commands", slash_payload("/reset"))
        help_ = await slack.wait_for_ack(help_id)
        assert "link to the thread" in help_["payload"]["text"]
        assert "response_type" not in help_["payload"]


async def test_http_serves_healthz_but_not_slack_events_in_socket_mode(
    socket_env: dict[str, str], slack: FakeSlack
) -> None:
    async with run_app(socket_env) as bot:
        await slack.socket_connected()
        status, text = await bot.get("/healthz")
        assert status == 200 and json.loads(text)["status"] == "ok"

        # even a correctly signed event (with the secret HTTP mode would use) is refused
        body = json.dumps(event_body(mention("over http"))).encode()
        response = await bot.post_raw(
            "/slack/events", body, {"Content-Type": "application/json", **sign(body)}
        )
        assert response.status == 404
        assert (await bot.store.stats()).pending_deliveries == 0
        assert slack.calls_to("chat.startStream") == []


async def test_shutdown_closes_the_socket_cleanly(
    socket_env: dict[str, str], slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    # Start from a clean slate: whatever earlier tests left for the garbage collector is
    # theirs, not this app's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gc.collect()
        await asyncio.sleep(0.05)  # a loop turn for what the collection scheduled to close
        gc.collect()
    caplog.set_level(logging.INFO)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with run_app(socket_env):
            await slack.socket_connected()
            envelope = await slack.push_envelope("events_api", event_body(mention("bye")))
            await slack.wait_for_ack(envelope)
            await slack.wait_for(lambda s: s.calls_to("chat.stopStream"))
            shutdown_logs = len(caplog.records)
        # the client said goodbye (1000) itself; the fake did not have to cut it off
        await slack.wait_for(lambda s: not s.socket_open)
        assert slack.socket_connections == 1
        assert slack.socket_close_codes == [1000]
        # nothing of the Socket Mode client is left running, and nothing was left unclosed
        # (a loop turn first: tasks cancelled at shutdown finish on the next iterations; what
        # is still running after that was left behind, which is what this checks)
        await asyncio.sleep(0.05)
        leftovers = [
            t for t in asyncio.all_tasks() if not t.done() and "socket_mode" in repr(t.get_coro())
        ]
        assert leftovers == []
        gc.collect()
        await asyncio.sleep(0.05)  # so warnings from closes the collection scheduled are caught
    assert [
        warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught
    ] == []
    problems = [
        r.getMessage()
        for r in caplog.records[shutdown_logs:]
        if r.levelno >= logging.WARNING and r.name.startswith(("slack_", "aiohttp", "asyncio"))
    ]
    assert problems == []
