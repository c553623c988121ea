"""The fakes, proven through the real slack_sdk and anthropic clients."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.anthropic import Fail, FakeAnthropic, Hang, Reply, ToolCall
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


@pytest.fixture
async def claude():
    async with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
async def llm(claude: FakeAnthropic):
    client = anthropic.AsyncAnthropic(base_url=claude.url, api_key="test", max_retries=0)
    yield client
    await client.close()


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


# -- FakeAnthropic ---------------------------------------------------------------------------


async def test_anthropic_echo_and_recording(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    msg = await llm.messages.create(
        model=MODEL,
        max_tokens=100,
        system="You are Threadline.",
        messages=[
            user("first question"),
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": [{"type": "text", "text": "second question"}]},
        ],
    )
    assert msg.content[0].type == "text" and msg.content[0].text == "echo: second question"
    assert msg.stop_reason == "end_turn" and msg.model == MODEL
    assert claude.last_user_texts(0) == ["first question", "second question"]
    assert claude.system_of(0) == "You are Threadline."
    assert claude.requests[0]["max_tokens"] == 100
    assert claude.request_headers[0]["authorization"] == "Bearer test"  # not x-api-key!
    assert claude.usages[0]["input_tokens"] > 0 and claude.usages[0]["output_tokens"] > 0


async def test_anthropic_streaming_text(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    text = "Streaming works one small delta at a time."
    claude.script(Reply(text))
    events: list[str] = []
    deltas: list[str] = []
    async with llm.messages.stream(model=MODEL, max_tokens=100, messages=[user("hi")]) as stream:
        async for event in stream:
            events.append(event.type)
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                deltas.append(event.delta.text)
        final = await stream.get_final_message()
    assert len(deltas) > 3 and "".join(deltas) == text
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert {"content_block_start", "content_block_stop", "message_delta"} <= set(events)
    assert final.content[0].text == text and final.stop_reason == "end_turn"
    assert final.usage.output_tokens == claude.usages[0]["output_tokens"] > 1
    assert claude.requests[0]["stream"] is True


async def test_anthropic_tool_use_round_trip(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    args = {"city": "Paris", "days": [1, 2], "units": {"temp": "C"}}
    claude.script(Reply("Let me check.", tool_calls=[ToolCall("get_weather", args)]))
    tools = [
        {
            "name": "get_weather",
            "description": "Weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    history: list[Any] = [user("weather in Paris?")]
    async with llm.messages.stream(
        model=MODEL, max_tokens=100, tools=tools, messages=history
    ) as stream:
        first = await stream.get_final_message()
    assert first.stop_reason == "tool_use"
    text, call = first.content
    assert text.type == "text" and text.text == "Let me check."
    assert call.type == "tool_use" and call.name == "get_weather" and call.input == args
    assert call.id.startswith("toolu_")

    history += [
        {"role": "assistant", "content": first.content},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}],
        },
    ]
    second = await llm.messages.create(model=MODEL, max_tokens=100, tools=tools, messages=history)
    assert second.content[0].text == "echo: weather in Paris?"  # tool results are skipped
    assert claude.tool_results(1)[0]["tool_use_id"] == call.id
    assert claude.tools_of(1) == ["get_weather"]


async def test_anthropic_rejects_unpaired_tool_use(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    dangling = {"type": "tool_use", "id": "toolu_1", "name": "x", "input": {}}
    with pytest.raises(anthropic.BadRequestError, match="without `tool_result`"):
        await llm.messages.create(
            model=MODEL,
            max_tokens=10,
            messages=[user("a"), {"role": "assistant", "content": [dangling]}, user("b")],
        )
    with pytest.raises(anthropic.BadRequestError, match="non-empty"):
        await llm.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": ""}]
        )


@pytest.mark.parametrize(
    ("step", "exc", "status"),
    [
        (
            Fail(
                400, "invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum"
            ),
            anthropic.BadRequestError,
            400,
        ),
        (
            Fail(401, "authentication_error", "invalid x-api-key"),
            anthropic.AuthenticationError,
            401,
        ),
        (Fail(404, "not_found_error", "model: nope"), anthropic.NotFoundError, 404),
        (Fail(429, "rate_limit_error", "slow down", retry_after=0), anthropic.RateLimitError, 429),
        (Fail(500, "api_error", "Internal server error"), anthropic.InternalServerError, 500),
        (Fail(529, "overloaded_error", "Overloaded"), anthropic.OverloadedError, 529),
    ],
)
async def test_anthropic_scripted_errors(
    claude: FakeAnthropic,
    llm: anthropic.AsyncAnthropic,
    step: Fail,
    exc: type[anthropic.APIStatusError],
    status: int,
) -> None:
    claude.script(step)
    with pytest.raises(exc) as err:
        await llm.messages.create(model=MODEL, max_tokens=10, messages=[user("hi")])
    assert err.value.status_code == status
    assert err.value.type == step.type
    assert err.value.api_message == step.message
    assert err.value.request_id and err.value.request_id.startswith("req_")
    assert err.value.body == {
        "type": "error",
        "error": {"type": step.type, "message": step.message},
        "request_id": err.value.request_id,
    }
    # the same error while streaming, raised when the stream is opened
    claude.script(step)
    with pytest.raises(exc):
        async with llm.messages.stream(model=MODEL, max_tokens=10, messages=[user("hi")]):
            pass


async def test_anthropic_529_is_an_internal_server_error(claude: FakeAnthropic) -> None:
    assert issubclass(anthropic.OverloadedError, anthropic.InternalServerError)


async def test_anthropic_sdk_retries_see_repeated_failures(claude: FakeAnthropic) -> None:
    claude.script(Fail(529, "overloaded_error", "Overloaded", retry_after=0.01, times=2))
    async with anthropic.AsyncAnthropic(base_url=claude.url, api_key="t", max_retries=2) as client:
        msg = await client.messages.create(model=MODEL, max_tokens=10, messages=[user("again")])
    assert msg.content[0].text == "echo: again"
    assert [h["x-stainless-retry-count"] for h in claude.request_headers] == ["0", "1", "2"]
    assert [e.status for e in claude.exchanges] == [529, 529, 200]


async def test_anthropic_mid_stream_error(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    claude.script(Fail(529, "overloaded_error", "Overloaded", mid_stream=True, partial_text="Par"))
    seen = ""
    with pytest.raises(anthropic.APIStatusError) as err:
        async with llm.messages.stream(model=MODEL, max_tokens=10, messages=[user("hi")]) as s:
            async for text in s.text_stream:
                seen += text
    assert seen == "Par"
    # HTTP status was 200, so the SDK cannot pick OverloadedError: only .type tells
    assert type(err.value) is anthropic.APIStatusError
    assert (err.value.status_code, err.value.type) == (200, "overloaded_error")


async def test_anthropic_hang_times_out(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    claude.script(Hang(30))
    with pytest.raises(anthropic.APITimeoutError):
        await llm.messages.create(model=MODEL, max_tokens=10, messages=[user("hi")], timeout=0.2)
    # the client gave up on the hanging request: the fake never answered it, and its handler
    # was cancelled when the connection went away (rather than sleeping out the 30 s)
    [hung] = await claude.wait_for(
        lambda f: [e for e in f.exchanges if e.step.endswith("(client went away)")],
        message="the hanging handler noticed the client went away",
    )
    assert hung.step == "Hang(30) (client went away)"
    assert hung.status == 0 and hung.response is None
    assert len(claude.requests) == 1  # max_retries=0: no second attempt
    # the next request is answered normally
    msg = await llm.messages.create(model=MODEL, max_tokens=10, messages=[user("again")])
    assert msg.content[0].text == "echo: again"


async def test_anthropic_hang_then_answer(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    claude.script(Hang(0.05, then=Reply("late")))
    msg = await llm.messages.create(model=MODEL, max_tokens=10, messages=[user("hi")])
    assert msg.content[0].text == "late"


async def test_anthropic_natural_errors(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    with pytest.raises(anthropic.NotFoundError, match="model: claude-nope"):
        await llm.messages.create(model="claude-nope", max_tokens=10, messages=[user("hi")])

    claude.context_limit = 1_000
    with pytest.raises(anthropic.BadRequestError) as err:
        await llm.messages.create(model=MODEL, max_tokens=10, messages=[user("x" * 8_000)])
    assert err.value.api_message is not None
    assert err.value.api_message.startswith("prompt is too long: ")
    assert err.value.api_message.endswith(" tokens > 1000 maximum")

    async with aiohttp.ClientSession() as session:  # no credentials at all
        body = {"model": MODEL, "max_tokens": 1, "messages": [user("hi")]}
        async with session.post(claude.url + "/v1/messages", json=body) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["type"] == "authentication_error"
            assert resp.headers["request-id"].startswith("req_")
    assert len(claude.requests) == 3 and claude.usages == []


async def test_anthropic_models_endpoint(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    info = await llm.models.retrieve(MODEL)
    assert info.id == MODEL and info.type == "model"
    with pytest.raises(anthropic.NotFoundError):
        await llm.models.retrieve("claude-nope")
    counted = await llm.messages.count_tokens(model=MODEL, messages=[user("count me")])
    assert counted.input_tokens == claude.estimate_tokens({"messages": [user("count me")]})
    assert claude.requests == []  # only POST /v1/messages bodies are recorded there


async def test_anthropic_prompt_cache_accounting(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    system = [{"type": "text", "text": "policy " * 400, "cache_control": {"type": "ephemeral"}}]

    async def ask(messages: list[Any]) -> anthropic.types.Usage:
        msg = await llm.messages.create(
            model=MODEL, max_tokens=10, system=system, messages=messages
        )
        return msg.usage

    first = await ask([user("one")])
    assert first.cache_creation_input_tokens and first.cache_creation_input_tokens > 600
    assert first.cache_read_input_tokens == 0
    second = await ask([user("two")])
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0

    # moving the breakpoint to the end of a growing conversation: the old prefix is read
    turn = {"type": "text", "text": "three " * 100, "cache_control": {"type": "ephemeral"}}
    third = await ask([{"role": "user", "content": [turn]}])
    assert third.cache_read_input_tokens == first.cache_creation_input_tokens
    assert third.cache_creation_input_tokens and third.cache_creation_input_tokens > 100
    assert claude.usages[2]["cache_read_input_tokens"] == third.cache_read_input_tokens

    # no cache_control: nothing cached
    async with anthropic.AsyncAnthropic(base_url=claude.url, api_key="t") as client:
        plain = await client.messages.create(model=MODEL, max_tokens=5, messages=[user("x")])
    assert plain.usage.cache_read_input_tokens == plain.usage.cache_creation_input_tokens == 0


async def test_anthropic_callable_steps_and_wait(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    claude.script(lambda req: Reply(f"saw {len(req['messages'])} message(s)"))
    task = asyncio.create_task(
        llm.messages.create(model=MODEL, max_tokens=10, messages=[user("a")])
    )
    await claude.wait_for_requests(1)
    assert (await task).content[0].text == "saw 1 message(s)"
    with pytest.raises(AssertionError, match="1 request"):
        await claude.wait_for_requests(2, timeout=0.05)


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
