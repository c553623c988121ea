"""The fake Anthropic API's long-conversation behaviour, through the real SDK's beta client:
the context limit, server-side compaction (beta ``compact-2026-01-12``), an API that refuses
it, and signed thinking blocks in tool loops."""

from __future__ import annotations

import copy
from typing import Any

import anthropic
import pytest

from tests.fakes.anthropic import DEFAULT_THINKING, FakeAnthropic, Reply, ToolCall

MODEL = "claude-sonnet-5-5"
BETA = "compact-2026-01-12"
TRIGGER = 1_000


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
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def compacting(trigger: int = TRIGGER) -> dict[str, Any]:
    edit = {"type": "compact_20260112", "trigger": {"type": "input_tokens", "value": trigger}}
    return {"betas": [BETA], "context_management": {"edits": [edit]}}


async def ask(
    llm: anthropic.AsyncAnthropic, messages: list[dict[str, Any]], **extra: Any
) -> tuple[Any, list[str]]:
    """One streamed beta request: the final message and the types of the deltas seen."""
    deltas: list[str] = []
    async with llm.beta.messages.stream(
        model=MODEL, max_tokens=2_000, messages=messages, **extra
    ) as stream:
        async for event in stream:
            if event.type == "content_block_delta":
                deltas.append(event.delta.type)
        return await stream.get_final_message(), deltas


def long_talk(turns: int, words: int = 60) -> list[dict[str, Any]]:
    """A conversation whose user turns start with a distinct fact: "fact 0 ...", "fact 1 ..."."""
    messages: list[dict[str, Any]] = []
    for i in range(turns):
        messages.append(user(f"fact {i} is kept " + "filler " * words))
        messages.append({"role": "assistant", "content": [{"type": "text", "text": f"ok {i}"}]})
    return [*messages, user("and now?")]


async def test_a_prompt_over_the_context_limit_is_too_long(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    claude.context_limit_tokens = 500
    with pytest.raises(anthropic.BadRequestError) as err:
        await ask(llm, long_talk(8))
    message = err.value.api_message or ""
    assert message.startswith("prompt is too long: ") and message.endswith("> 500 maximum")
    assert claude.context_limit == 500  # the older name of the same knob
    claude.chars_per_token = 400.0  # the same request now counts as a few tokens
    final, _ = await ask(llm, long_talk(8))
    assert final.stop_reason == "end_turn"


async def test_below_the_trigger_nothing_is_compacted(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    final, _ = await ask(llm, [user("short")], **compacting())
    assert [b.type for b in final.content] == ["text"]
    assert final.usage.iterations is None and claude.compactions == []
    assert claude.betas_of() == [BETA]


async def test_compaction_streams_a_summary_that_keeps_early_facts(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    messages = long_talk(8)
    counted = claude.estimate_tokens({"model": MODEL, "messages": messages})
    assert counted > TRIGGER
    final, deltas = await ask(llm, messages, **compacting())

    block, answer = final.content
    assert block.type == "compaction" and answer.type == "text"
    assert answer.text == "echo: and now?"
    assert "compaction_delta" in deltas
    assert block.to_dict() == claude.compactions[0]  # the SDK rebuilt the block exactly
    assert block.signature and block.encrypted_content and block.tool_changes == []
    summary = block.content or ""
    assert all(f"fact {i} is kept" in summary for i in range(8))
    # billing: the compaction read everything, the answer only the summary
    [compaction, message] = final.usage.iterations or []
    assert compaction.type == "compaction" and compaction.input_tokens >= counted
    assert message.type == "message" and message.input_tokens == final.usage.input_tokens
    assert final.usage.input_tokens < counted
    assert claude.exchanges[-1].compacted


async def test_replay_counts_from_the_latest_compaction_and_facts_survive_twice(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    messages = long_talk(8)
    first, _ = await ask(llm, messages, **compacting())
    messages += [{"role": "assistant", "content": [b.to_dict() for b in first.content]}]
    messages += [user("fact late is kept")]
    # The whole history is over the trigger, but the API counts only from the compaction on.
    assert claude.estimate_tokens({"model": MODEL, "messages": messages[:-2]}) > TRIGGER
    second, _ = await ask(llm, messages, **compacting())
    assert [b.type for b in second.content] == ["text"]

    # Grown past the trigger again: the new summary carries the old one's facts.
    messages += [{"role": "assistant", "content": [b.to_dict() for b in second.content]}]
    messages += [*long_talk(8)[:-1], user("last")]
    third, _ = await ask(llm, messages, **compacting())
    assert third.content[0].type == "compaction" and len(claude.compactions) == 2
    summary = third.content[0].content or ""
    assert "fact 0 is kept" in summary and "fact late is kept" in summary


async def test_a_replayed_compaction_block_must_be_the_one_issued(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    messages = long_talk(8)
    first, _ = await ask(llm, messages, **compacting())
    issued = first.content[0].to_dict()
    for change in ({"content": issued["content"] + "!"}, {"signature": "forged"}):
        tampered = {**issued, **change}
        replay = [*messages, {"role": "assistant", "content": [tampered]}, user("next")]
        with pytest.raises(anthropic.BadRequestError, match="Invalid `signature` in `compaction`"):
            await ask(llm, replay, **compacting())
    # with a cache breakpoint on it (and its keys in another order) it is still the same block
    marked = {"cache_control": {"type": "ephemeral"}, **dict(reversed(issued.items()))}
    replay = [*messages, {"role": "assistant", "content": [marked]}, user("next")]
    final, _ = await ask(llm, replay, **compacting())
    assert final.stop_reason == "end_turn"


async def test_without_the_beta_compaction_is_refused_in_the_api_s_words(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    options = compacting()
    with pytest.raises(anthropic.BadRequestError, match="context_management: Extra inputs"):
        await ask(llm, [user("hi")], context_management=options["context_management"])
    claude.refuse_compaction = True
    with pytest.raises(anthropic.BadRequestError, match="context_management: Extra inputs"):
        await ask(llm, [user("hi")], **options)
    claude.refuse_compaction = False
    first, _ = await ask(llm, long_talk(8), **options)
    replay = [*long_talk(8), {"role": "assistant", "content": [first.content[0].to_dict()]}]
    claude.refuse_compaction = True
    with pytest.raises(anthropic.BadRequestError, match="Input tag 'compaction'"):
        await ask(llm, [*replay, user("next")])


async def test_thinking_streams_a_signed_block_before_the_answer(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    claude.script(Reply("the answer", redacted_thinking=True))
    final, deltas = await ask(llm, [user("hi")], thinking={"type": "adaptive"})
    thinking, redacted, text = final.content
    assert thinking.type == "thinking" and thinking.thinking == DEFAULT_THINKING
    assert thinking.signature and redacted.type == "redacted_thinking" and redacted.data
    assert text.type == "text" and text.text == "the answer"
    assert "thinking_delta" in deltas and "signature_delta" in deltas
    # without thinking in the request, none comes back
    plain, _ = await ask(llm, [user("hi")])
    assert [b.type for b in plain.content] == ["text"]


async def test_a_tool_loop_must_replay_its_thinking_block_unchanged(
    claude: FakeAnthropic, llm: anthropic.AsyncAnthropic
) -> None:
    tools = [{"name": "look", "description": "look", "input_schema": {"type": "object"}}]
    claude.script(Reply("Looking.", tool_calls=[ToolCall("look", id="toolu_1")], thinking="Hm."))
    first, _ = await ask(llm, [user("find it")], thinking={"type": "adaptive"}, tools=tools)
    assert [b.type for b in first.content] == ["thinking", "text", "tool_use"]
    turn = [b.to_dict() for b in first.content]
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]}

    async def continue_with(assistant: list[dict[str, Any]]) -> Any:
        messages = [user("find it"), {"role": "assistant", "content": assistant}, result]
        final, _ = await ask(llm, messages, thinking={"type": "adaptive"}, tools=tools)
        return final

    with pytest.raises(
        anthropic.BadRequestError, match="Expected `thinking` or `redacted_thinking`"
    ):
        await continue_with(turn[1:])
    altered = copy.deepcopy(turn)
    altered[0]["thinking"] = "Something else."
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature` in `thinking`"):
        await continue_with(altered)
    final = await continue_with(turn)
    assert final.content[-1].text == "echo: find it"
