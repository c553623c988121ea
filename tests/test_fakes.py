"""The fakes, proven through the real slack_sdk and anthropic clients (the Anthropic fake's own
behaviour: tests/test_fakes_anthropic*.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import anthropic
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import FakeSlack

MODEL = "claude-sonnet-5-5"
ROOT = Path(__file__).resolve().parents[1]


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
async def slack():
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def web(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=slack.url)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


# -- FakeSlack -------------------------------------------------------------------------------


async def test_slack_url_and_identity(slack: FakeSlack, web: AsyncWebClient) -> None:
    assert slack.url.startswith("http://127.0.0.1:") and slack.url.endswith("/api/")
    auth = await web.auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"], auth["user"]) == (
        "UBOT",
        "BBOT",
        "T1",
        "threadline",
    )
    slack.user_id = "UOTHER"
    assert (await web.auth_test())["user_id"] == "UOTHER"
    assert [c.method for c in slack.calls] == ["auth.test", "auth.test"]
    assert slack.calls[0].headers["authorization"] == "Bearer xoxb-test"


async def test_slack_requires_bot_token(slack: FakeSlack) -> None:
    for client in (AsyncWebClient(base_url=slack.url), AsyncWebClient("bad", base_url=slack.url)):
        with pytest.raises(SlackApiError) as err:
            await client.auth_test()
        assert err.value.response["error"] in ("not_authed", "invalid_auth")
    assert [c.error for c in slack.calls] == ["not_authed", "invalid_auth"]


async def test_slack_users_info(slack: FakeSlack, web: AsyncWebClient) -> None:
    slack.users = {"U1": {"real_name": "Ada Lovelace", "display_name": "ada"}}
    info = await web.users_info(user="U1")  # slack_sdk sends this one as a GET
    assert info["user"]["id"] == "U1"
    assert info["user"]["real_name"] == "Ada Lovelace"
    assert info["user"]["profile"] == {"display_name": "ada", "real_name": "Ada Lovelace"}
    with pytest.raises(SlackApiError) as err:
        await web.users_info(user="U404")
    assert err.value.response["error"] == "user_not_found"
    assert slack.calls_to("users.info")[0].http_method == "GET"


async def test_slack_unknown_method(slack: FakeSlack, web: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await web.api_call("chat.doesNotExist", json={"channel": "C1"})
    assert err.value.response["error"] == "unknown_method"
    assert slack.calls_to("chat.doesNotExist")[0].params == {"channel": "C1"}


async def test_slack_form_and_json_bodies_are_decoded(
    slack: FakeSlack, web: AsyncWebClient
) -> None:
    blocks = [{"type": "markdown", "text": "**form** blocks"}]
    await web.api_call(
        "chat.postMessage",
        data={"channel": "C1", "text": "fallback", "blocks": json.dumps(blocks)},
    )
    await web.chat_postMessage(channel="C1", text="fallback", blocks=blocks)  # JSON body
    form_call, json_call = slack.calls_to("chat.postMessage")
    assert form_call.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert json_call.headers["content-type"].startswith("application/json")
    assert form_call.params["blocks"] == json_call.params["blocks"] == blocks
    assert slack.thread_texts("C1", form_call.response["ts"]) == ["**form** blocks"]


async def test_slack_messages_model(slack: FakeSlack, web: AsyncWebClient) -> None:
    parent = slack.add_message("C1", "what's up?", user="U1")
    first = await web.chat_postMessage(channel="C1", thread_ts=parent.ts, text="plain")
    second = await web.chat_postMessage(
        channel="C1", thread_ts=parent.ts, text="fallback", markdown_text="**md**"
    )
    assert first["ts"] < second["ts"]
    assert first["message"]["text"] == "plain"
    await web.chat_update(channel="C1", ts=first["ts"], text="edited")
    await web.chat_postEphemeral(channel="C1", user="U1", thread_ts=parent.ts, text="psst")
    await web.chat_postMessage(channel="C2", text="elsewhere")

    assert slack.thread_texts("C1", parent.ts) == ["what's up?", "edited", "**md**", "psst"]
    edited = slack.messages("C1", parent.ts)[1]
    assert (edited.updates, edited.user, edited.streamed) == (1, "UBOT", False)
    assert slack.messages("C1", parent.ts)[-1].ephemeral_to == "U1"

    replies = await web.conversations_replies(channel="C1", ts=parent.ts)
    assert [m["text"] for m in replies["messages"]] == ["what's up?", "edited", "**md**"]
    assert replies["messages"][0]["reply_count"] == 2

    link = await web.chat_getPermalink(channel="C1", message_ts=second["ts"])
    digits = second["ts"].replace(".", "")
    assert link["permalink"].startswith(f"https://fake.slack.test/archives/C1/p{digits}")
    assert f"thread_ts={parent.ts}" in link["permalink"]

    with pytest.raises(SlackApiError) as err:
        await web.chat_update(channel="C1", ts="1.000000", text="x")
    assert err.value.response["error"] == "message_not_found"


async def test_slack_chat_stream_helper(slack: FakeSlack, web: AsyncWebClient) -> None:
    parent = slack.add_message("D1", "stream please", user="U1")
    stream = await web.chat_stream(
        channel="D1",
        thread_ts=parent.ts,
        recipient_team_id="T1",
        recipient_user_id="U1",
        buffer_size=10,
    )
    await stream.append(markdown_text="Hello ")  # buffered: below buffer_size
    assert slack.calls_to("chat.startStream") == []
    await stream.append(markdown_text="streaming ")  # flush -> chat.startStream
    task = {"type": "task_update", "id": "t1", "title": "Searching", "status": "complete"}
    await stream.append(markdown_text="wor", chunks=[task])  # chunks force a flush
    await stream.stop(markdown_text="ld!")

    (msg,) = [m for m in slack.messages("D1", parent.ts) if m.streamed]
    assert msg.text == "Hello streaming world!"
    assert (msg.stopped, msg.ts, msg.thread_ts) == (True, stream.ts, parent.ts)
    assert msg.chunks == [task]
    assert [c.method for c in slack.calls] == [
        "chat.startStream",
        "chat.appendStream",
        "chat.stopStream",
    ]
    start = slack.calls_to("chat.startStream")[0].params
    assert (start["recipient_team_id"], start["recipient_user_id"]) == ("T1", "U1")

    with pytest.raises(SlackApiError) as err:  # the real API refuses appends after stop
        await web.chat_appendStream(channel="D1", ts=msg.ts, markdown_text="late")
    assert err.value.response["error"] == "message_not_in_streaming_state"


async def test_slack_chat_stream_short_answer_is_sent_on_stop(
    slack: FakeSlack, web: AsyncWebClient
) -> None:
    stream = await web.chat_stream(channel="D1", thread_ts="1.000000")
    await stream.append(markdown_text="short")  # default buffer_size=256: nothing sent yet
    assert slack.calls == []
    await stream.stop()
    assert [c.method for c in slack.calls] == ["chat.startStream", "chat.stopStream"]
    assert slack.thread_texts("D1", "1.000000") == ["short"]


async def test_slack_refuse_streaming(slack: FakeSlack, web: AsyncWebClient) -> None:
    slack.refuse_streaming = True
    for _ in range(2):
        stream = await web.chat_stream(channel="C1", thread_ts="1.000000", buffer_size=1)
        with pytest.raises(SlackApiError) as err:
            await stream.append(markdown_text="hi")
        assert err.value.response["error"] == "not_allowed_token_type"
    assert slack.messages("C1") == []


async def test_slack_429_is_retried_by_rate_limit_handler(slack: FakeSlack) -> None:
    slack.fail("chat.postMessage", status=429, retry_after=0)
    client = AsyncWebClient(
        token="xoxb-test",
        base_url=slack.url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    resp = await client.chat_postMessage(channel="C1", text="eventually")
    assert resp["ok"]
    first, second = slack.calls_to("chat.postMessage")
    assert (first.status, first.error, second.status) == (429, "ratelimited", 200)
    assert slack.thread_texts("C1", resp["ts"]) == ["eventually"]


async def test_slack_429_without_retry_handler(slack: FakeSlack, web: AsyncWebClient) -> None:
    slack.fail("chat.postMessage", retry_after=30)
    with pytest.raises(SlackApiError) as err:
        await web.chat_postMessage(channel="C1", text="x")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "30"
    assert (await web.chat_postMessage(channel="C1", text="x"))["ok"]  # times=1 by default


async def test_slack_scripted_failures(slack: FakeSlack, web: AsyncWebClient) -> None:
    slack.fail("chat.update", status=500, times=2)
    slack.fail("assistant.threads.setStatus", status=200, error="channel_not_found", times=None)
    posted = await web.chat_postMessage(channel="C1", text="x")
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            await web.chat_update(channel="C1", ts=posted["ts"], text="y")
        assert err.value.response.status_code == 500
    assert (await web.chat_update(channel="C1", ts=posted["ts"], text="y"))["ok"]
    for _ in range(3):  # times=None: forever
        with pytest.raises(SlackApiError) as err:
            await web.assistant_threads_setStatus(channel_id="C1", thread_ts="1.0", status="…")
        assert err.value.response["error"] == "channel_not_found"


async def test_slack_assistant_status(slack: FakeSlack, web: AsyncWebClient) -> None:
    await web.assistant_threads_setStatus(channel_id="D1", thread_ts="1.0", status="is thinking…")
    assert slack.status("D1", "1.0") == "is thinking…"
    await web.chat_postMessage(channel="D1", thread_ts="1.0", text="done")  # clears the status
    assert slack.status("D1", "1.0") == ""
    assert slack.statuses("D1", "1.0") == ["is thinking…"]


async def test_slack_delay_and_wait_for(slack: FakeSlack, web: AsyncWebClient) -> None:
    slack.delay("chat.postMessage", 0.05)
    task = asyncio.create_task(web.chat_postMessage(channel="C1", text="slow"))
    assert slack.messages("C1") == []
    msgs = await slack.wait_for(lambda s: s.messages("C1"))
    assert msgs[0].text == "slow"
    await task
    with pytest.raises(AssertionError, match=r"chat\.postMessage"):
        await slack.wait_for(lambda s: s.messages("C1")[1], timeout=0.05)


async def test_slack_custom_handler(slack: FakeSlack, web: AsyncWebClient) -> None:
    slack.on("conversations.info", lambda p: {"ok": True, "channel": {"id": p["channel"]}})
    assert (await web.conversations_info(channel="C9"))["channel"] == {"id": "C9"}


# -- standalone processes --------------------------------------------------------------------


@pytest.mark.parametrize("module", ["tests.fakes.slack", "tests.fakes.anthropic"])
async def test_standalone_main(module: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        "--port",
        "0",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
        url = line.decode().strip()
        assert url.startswith("http://127.0.0.1:")
        if module.endswith("slack"):
            assert url.endswith("/api/")
            resp = await AsyncWebClient(token="xoxb-x", base_url=url).auth_test()
            assert resp["ok"]
        else:
            async with anthropic.AsyncAnthropic(base_url=url, api_key="t") as client:
                msg = await client.messages.create(
                    model=MODEL, max_tokens=5, messages=[user("ping")]
                )
            assert msg.content[0].text == "echo: ping"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=10)
    assert code == 0, (await proc.stderr.read()).decode() if proc.stderr else ""
