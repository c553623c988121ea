"""``AnthropicModel`` reads the raw event stream: what it builds is what the SDK's own
streaming helper builds from the same answer of the fake Messages API, and its failures are
the SDK's typed errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest

from app.agent.model import AnthropicModel, Failure, ModelReply, ReplyBuilder, classify
from app.core import Usage
from tests.fakes.anthropic import DEFAULT_MODEL, FakeAnthropic, Reply, ToolCall
from tests.fakes.anthropic_steps import Fail

TOOLS = [{"name": "lookup", "description": "look", "input_schema": {"type": "object"}}]


@pytest.fixture
async def claude() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
async def client(claude: FakeAnthropic) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=claude.url, api_key="test", max_retries=0) as sdk:
        yield sdk


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


async def both_ways(
    claude: FakeAnthropic, client: anthropic.AsyncAnthropic, step: Reply, *, thinking: str = "off"
) -> tuple[ModelReply, list[str], Any]:
    """The same scripted answer read by the model and by the SDK's helper."""
    model = AnthropicModel(client, DEFAULT_MODEL, 1_024, compaction="client", thinking=thinking)
    claude.script(step, step)
    shown: list[str] = []

    async def on_text(delta: str) -> None:
        shown.append(delta)

    reply = await model.stream(
        system=[{"type": "text", "text": "Be brief."}],
        messages=[user("look it up")],
        tools=TOOLS,
        on_text=on_text,
    )
    params = model._params(
        system=[{"type": "text", "text": "Be brief."}], messages=[user("look it up")], tools=TOOLS
    )
    async with client.beta.messages.stream(**params) as stream:
        final = await stream.get_final_message()
    return reply, shown, final


async def test_text_and_tool_input_match_the_sdk_helper(
    claude: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    call = ToolCall(
        "lookup", {"query": 'ünïcode "quoted"', "filters": {"n": [1, 2.5, None]}}, id="toolu_1"
    )
    step = Reply(text="Let me look that up for you.\nOne moment.", tool_calls=[call])
    reply, shown, final = await both_ways(claude, client, step)
    assert reply.content == [block.to_dict() for block in final.content]
    assert reply.content[-1]["input"] == call.input
    assert "".join(shown) == "Let me look that up for you.\nOne moment."
    assert reply.stop_reason == final.stop_reason == "tool_use"
    assert reply.usage == Usage(
        input_tokens=final.usage.input_tokens,
        output_tokens=final.usage.output_tokens,
        cache_read_tokens=final.usage.cache_read_input_tokens or 0,
        cache_write_tokens=final.usage.cache_creation_input_tokens or 0,
    )
    assert reply.usage.output_tokens > 0


async def test_thinking_is_kept_with_its_signature_and_never_shown(
    claude: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    step = Reply(text="Here it is.", thinking="Let me see what they mean.")
    reply, shown, final = await both_ways(claude, client, step, thinking="adaptive")
    assert reply.content == [block.to_dict() for block in final.content]
    assert reply.content[0]["type"] == "thinking" and reply.content[0]["signature"]
    assert "".join(shown) == "Here it is."


async def test_a_tool_call_without_input_keeps_an_empty_object(
    claude: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    reply, _, final = await both_ways(
        claude, client, Reply(tool_calls=[ToolCall("lookup", {}, id="toolu_2")])
    )
    assert reply.content == [block.to_dict() for block in final.content]
    assert reply.content[-1]["input"] == {}


async def test_an_error_in_the_middle_of_the_stream_is_the_sdks_typed_error(
    claude: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    model = AnthropicModel(client, DEFAULT_MODEL, 1_024, compaction="client")
    claude.script(Fail(529, "overloaded_error", "Overloaded", mid_stream=True, partial_text="Hel"))
    shown: list[str] = []

    async def on_text(delta: str) -> None:
        shown.append(delta)

    with pytest.raises(anthropic.APIStatusError) as raised:
        await model.stream(system=[], messages=[user("hi")], tools=[], on_text=on_text)
    assert "".join(shown) == "Hel"
    assert classify(raised.value).failure is Failure.TRANSIENT


async def test_http_errors_raise_before_anything_is_read(
    claude: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    model = AnthropicModel(client, DEFAULT_MODEL, 1_024, compaction="client")
    claude.script(Fail(400, "invalid_request_error", "prompt is too long: 300000 tokens"))
    with pytest.raises(anthropic.BadRequestError) as raised:
        await model.stream(system=[], messages=[user("hi")], tools=[], on_text=_ignore)
    assert classify(raised.value).failure is Failure.TOO_LONG


async def _ignore(_: str) -> None:
    return None


def test_usage_totals_of_message_delta_overwrite_and_absent_ones_are_kept() -> None:
    reply = ReplyBuilder()
    start = {
        "type": "message",
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 4},
    }
    reply.add({"type": "message_start", "message": start})
    block = {"type": "text", "text": ""}
    reply.add({"type": "content_block_start", "index": 0, "content_block": block})
    delta = {"type": "text_delta", "text": "hi"}
    assert reply.add({"type": "content_block_delta", "index": 0, "delta": delta}) == "hi"
    reply.add({"type": "content_block_stop", "index": 0})
    iterations = [
        {
            "type": "compaction",
            "input_tokens": 100,
            "output_tokens": 20,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
        },
        {"type": "message", "input_tokens": 10, "output_tokens": 7},
    ]
    reply.add(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 7, "input_tokens": None, "iterations": iterations},
        }
    )
    result = reply.result()
    assert result.content == [{"type": "text", "text": "hi"}]
    assert result.stop_reason == "end_turn"
    # 10 in / 7 out / 4 cached at the top, plus the compaction iteration.
    assert result.usage == Usage(
        input_tokens=110, output_tokens=27, cache_read_tokens=4, cache_write_tokens=0
    )


def test_a_stream_without_its_start_is_refused() -> None:
    with pytest.raises(ValueError, match="before message_start"):
        ReplyBuilder().add({"type": "content_block_start", "index": 0, "content_block": {}})
    with pytest.raises(ValueError, match="before message_start"):
        ReplyBuilder().result()
