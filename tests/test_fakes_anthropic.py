"""The fake Anthropic API's Messages behaviour, proven through the real ``anthropic`` SDK:
echo, streaming, tool use, scripted and natural errors, retries, hangs, models, caching."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import anthropic
import pytest

from tests.fakes.anthropic import Fail, FakeAnthropic, Hang, Reply, ToolCall

MODEL = "claude-sonnet-5-5"


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
