"""Adaptive thinking: asked for, never shown, stored and replayed unchanged (the fake API
rejects a tool loop whose thinking block is missing or altered, as the real one does)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest

from app.agent.loop import run_agent, storable_content, with_cache_breakpoint
from app.agent.model import THINKING_MIN_MAX_TOKENS, AnthropicModel
from app.agent.tools.base import ToolContext, ToolRegistry, ToolResult
from tests.agent.conversation import Conversation
from tests.agent.scripted import ScriptedModel, compacted, thought
from tests.fakes.anthropic import DEFAULT_MODEL, DEFAULT_THINKING, FakeAnthropic, Reply, ToolCall

THINKING = {"type": "thinking", "thinking": "Let me see.", "signature": "sig-1"}
REDACTED = {"type": "redacted_thinking", "data": "opaque"}
COMPACTION = {
    "type": "compaction",
    "content": "Summary",
    "encrypted_content": "e",
    "signature": "s",
}
TEXT = {"type": "text", "text": "Here it is."}
CALL = {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}


@pytest.fixture
async def claude() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
async def client(claude: FakeAnthropic) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=claude.url, api_key="test", max_retries=0) as sdk:
        yield sdk


class Lookup:
    name = "lookup"

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "description": "look", "input_schema": {"type": "object"}}

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return ToolResult("found it")


class Watch:
    def __init__(self) -> None:
        self.shown = ""

    async def text(self, delta: str) -> None:
        self.shown += delta

    async def tool_started(self, call_id: str, name: str) -> None:
        return None

    async def tool_finished(self, call_id: str, name: str, ok: bool) -> None:
        return None


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


@pytest.mark.parametrize(
    ("thinking", "configured", "sent"),
    [
        ("off", 1_024, 1_024),
        ("adaptive", 1_024, THINKING_MIN_MAX_TOKENS),  # room for thinking and an answer
        ("adaptive", 64_000, 64_000),
    ],
)
async def test_adaptive_thinking_is_asked_for_with_room_to_answer(
    claude: FakeAnthropic,
    client: anthropic.AsyncAnthropic,
    thinking: str,
    configured: int,
    sent: int,
) -> None:
    m = AnthropicModel(client, DEFAULT_MODEL, configured, thinking=thinking)
    reply = await m.stream(system=[], messages=[user("hi")], tools=[], on_text=_ignore)
    request = claude.requests[-1]
    assert request["max_tokens"] == sent
    if thinking == "off":
        assert "thinking" not in request
        assert [b["type"] for b in reply.content] == ["text"]
    else:
        assert request["thinking"] == {"type": "adaptive"}
        assert reply.content[0] == claude.exchanges[-1].response["content"][0]  # type: ignore[index]
        assert reply.content[0]["signature"]


async def test_a_thinking_tool_loop_replays_its_blocks_and_never_shows_them(
    claude: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    claude.script(
        Reply("Checking.", tool_calls=[ToolCall("lookup")], redacted_thinking=True),
        Reply("It is there."),
    )
    m = AnthropicModel(client, DEFAULT_MODEL, 4_096, thinking="adaptive")
    watch = Watch()
    result = await run_agent(
        m,
        system=[],
        history=[],
        user_message=user("where is it?"),
        tools=ToolRegistry([Lookup()]),
        tool_context=Conversation().context(),
        progress=watch,
    )
    # The fake accepted the second request only because the tool-calling turn started with
    # its thinking blocks, unchanged.
    assert [e.status for e in claude.exchanges] == [200, 200]
    first = result.messages[0]["content"]
    assert [b["type"] for b in first] == ["thinking", "redacted_thinking", "text", "tool_use"]
    assert first[:2] == claude.exchanges[0].response["content"][:2]  # type: ignore[index]
    assert claude.requests[1]["messages"][1]["content"][:2] == first[:2]
    assert watch.shown == "Checking.It is there."
    assert result.text == "Checking.\n\nIt is there."
    assert DEFAULT_THINKING not in watch.shown


@pytest.mark.parametrize(
    ("content", "stop_reason", "stored"),
    [
        # thinking and compaction blocks stay, unchanged and in order
        ([COMPACTION, THINKING, TEXT, CALL], "tool_use", [COMPACTION, THINKING, TEXT, CALL]),
        ([THINKING, REDACTED, TEXT], "end_turn", [THINKING, REDACTED, TEXT]),
        # nothing but thinking: the placeholder answer follows it
        ([THINKING], "end_turn", [THINKING, {"type": "text", "text": "(no answer)"}]),
        ([COMPACTION], "end_turn", [COMPACTION, {"type": "text", "text": "(no answer)"}]),
        # cut off while thinking: an unsigned block cannot be replayed
        (
            [{"type": "thinking", "thinking": "Let", "signature": ""}],
            "max_tokens",
            [{"type": "text", "text": "(no answer)"}],
        ),
        # cut off in a tool call: the call goes, the thinking stays
        ([THINKING, CALL], "max_tokens", [THINKING, {"type": "text", "text": "(no answer)"}]),
    ],
)
def test_storable_content_with_thinking_and_compaction(
    content: list[dict[str, Any]], stop_reason: str, stored: list[dict[str, Any]]
) -> None:
    assert storable_content(content, stop_reason) == stored


@pytest.mark.parametrize(
    ("last", "marked"),
    [
        ([TEXT, THINKING], (-1, 0)),  # the text before the thinking block
        ([COMPACTION, THINKING], (-1, 0)),  # a compaction block takes a breakpoint
        ([THINKING, REDACTED], (-2, 0)),  # nothing here takes one: the message before
    ],
)
def test_no_cache_breakpoint_on_thinking(
    last: list[dict[str, Any]], marked: tuple[int, int]
) -> None:
    messages = [user("question"), {"role": "assistant", "content": last}]
    out = with_cache_breakpoint(messages)
    flagged = [
        (i - len(out), j)
        for i, m in enumerate(out)
        for j, b in enumerate(m["content"])
        if "cache_control" in b
    ]
    assert flagged == [marked]
    assert all("cache_control" not in b for m in messages for b in m["content"])


async def _ignore(_: str) -> None:
    return None


async def test_the_scripted_model_plays_compaction_and_thinking() -> None:
    model = ScriptedModel([thought(compacted("Summary of earlier turns", "Answer."))])
    watch = Watch()
    reply = await model.stream(system=[], messages=[user("hi")], tools=[], on_text=watch.text)
    assert reply.compacted
    assert [b["type"] for b in reply.content] == ["compaction", "thinking", "text"]
    assert watch.shown == "Answer."
    model.fall_back_to_client_compaction()
    assert (model.compaction, model.fallbacks) == ("client", 1)
    assert model.requests[0]["compaction"] == "server"
