"""``AnthropicModel`` and server-side compaction, against the fake Messages API.

The fake counts tokens at ``chars_per_token``; the tests lower it so a short conversation
passes a low trigger, and read what was sent from the fake's records.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest

from app.agent.loop import run_agent
from app.agent.model import SUMMARY_HEADER, AnthropicModel, Failure, classify
from app.agent.tools.base import ToolRegistry
from tests.agent.conversation import Conversation
from tests.fakes.anthropic import DEFAULT_MODEL, FakeAnthropic

TRIGGER = 2_000


@pytest.fixture
async def claude() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        fake.chars_per_token = 0.5  # eight times the usual count: small texts add up
        yield fake


@pytest.fixture
async def client(claude: FakeAnthropic) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=claude.url, api_key="test", max_retries=0) as sdk:
        yield sdk


def model(client: anthropic.AsyncAnthropic, compaction: str = "server") -> AnthropicModel:
    return AnthropicModel(
        client, DEFAULT_MODEL, 1_024, compaction=compaction, compact_at_tokens=TRIGGER
    )


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def history(turns: int) -> list[dict[str, Any]]:
    """Turns whose user messages start with a fact to keep: "fact 0 ...", "fact 1 ..."."""
    out: list[dict[str, Any]] = []
    for i in range(turns):
        out.append(user(f"fact {i}: the code name is item-{i} " + "padding " * 30))
        out.append({"role": "assistant", "content": [{"type": "text", "text": f"noted {i}"}]})
    return out


class Watch:
    """The progress sink of a turn: what the user saw."""

    def __init__(self) -> None:
        self.shown = ""

    async def text(self, delta: str) -> None:
        self.shown += delta

    async def tool_started(self, call_id: str, name: str) -> None:
        return None

    async def tool_finished(self, call_id: str, name: str, ok: bool) -> None:
        return None


async def turn(
    m: AnthropicModel, past: list[dict[str, Any]], text: str
) -> tuple[list[dict[str, Any]], str]:
    """One agent turn: the new messages (as the app stores them) and what the user saw."""
    progress = Watch()
    result = await run_agent(
        m,
        system=[{"type": "text", "text": "You are Threadline."}],
        history=past,
        user_message=user(text),
        tools=ToolRegistry([]),
        tool_context=Conversation().context(),
        progress=progress,
    )
    return [user(text), *result.messages], progress.shown


async def test_server_mode_asks_for_compaction_at_the_configured_trigger(
    claude: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    m = model(client)
    reply = await m.stream(system=[], messages=[user("hi")], tools=[], on_text=_ignore)
    assert not reply.compacted and [b["type"] for b in reply.content] == ["text"]
    assert claude.betas_of() == ["compact-2026-01-12"]
    edit = claude.requests[-1]["context_management"]["edits"][0]
    assert edit == {
        "type": "compact_20260112",
        "trigger": {"type": "input_tokens", "value": TRIGGER},
    }


@pytest.mark.parametrize("mode", ["client", "off"])
async def test_other_modes_send_no_compaction(
    claude: FakeAnthropic, client: anthropic.AsyncAnthropic, mode: str
) -> None:
    await model(client, mode).stream(system=[], messages=[user("hi")], tools=[], on_text=_ignore)
    assert "context_management" not in claude.requests[-1]
    assert claude.betas_of() == []


async def test_a_compacted_reply_comes_back_as_issued_and_billed_in_full(
    claude: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    shown: list[str] = []

    async def on_text(delta: str) -> None:
        shown.append(delta)

    messages = [*history(6), user("what was fact 0?")]
    reply = await model(client).stream(system=[], messages=messages, tools=[], on_text=on_text)
    assert reply.compacted and reply.content[0] == claude.compactions[0]
    assert "".join(shown) == "echo: what was fact 0?"  # the summary is never shown
    summary = reply.content[0]["content"]
    assert all(f"fact {i}: the code name is item-{i}" in summary for i in range(6))
    # The compaction's tokens are not in the top-level usage; the model adds them.
    billed = claude.usages[-1]
    [compaction] = [it for it in billed["iterations"] if it["type"] == "compaction"]
    assert reply.usage.input_tokens == billed["input_tokens"] + compaction["input_tokens"]
    assert reply.usage.output_tokens == billed["output_tokens"] + compaction["output_tokens"]


async def test_the_loop_stores_the_compaction_block_unchanged(
    claude: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    new, shown = await turn(model(client), history(6), "what was fact 0?")
    assert [b["type"] for b in new[1]["content"]] == ["compaction", "text"]
    assert new[1]["content"][0] == claude.compactions[0]
    assert shown == "echo: what was fact 0?"


async def test_replay_from_a_compaction_fits_where_the_whole_history_would_not(
    claude: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    m = model(client)
    past = history(6)
    new, _ = await turn(m, past, "first question")
    full = [*past, *new]
    claude.context_limit_tokens = claude.estimate_tokens({"messages": past}) - 1
    # The API counts from the compaction block on: the long history before it costs nothing.
    _, shown = await turn(m, full, "second question")
    assert shown == "echo: second question"
    assert claude.exchanges[-1].status == 200 and not claude.exchanges[-1].compacted


async def test_an_altered_compaction_block_is_a_rejected_transcript(
    claude: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    m = model(client)
    past = history(6)
    new, _ = await turn(m, past, "first question")
    new[1]["content"][0]["content"] += " (edited)"
    with pytest.raises(anthropic.BadRequestError) as err:
        await turn(m, [*past, *new], "second question")
    assert classify(err.value).failure is Failure.CONTEXT_REJECTED


async def test_a_conversation_over_the_context_window_is_too_long(
    claude: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    claude.context_limit_tokens = 500
    with pytest.raises(anthropic.BadRequestError) as err:
        await turn(model(client, "off"), history(6), "hello")
    assert classify(err.value).failure is Failure.TOO_LONG


async def test_a_refused_compaction_falls_back_to_client_mode_once(
    claude: FakeAnthropic, client: anthropic.AsyncAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    m = model(client)
    past = history(6)
    new, _ = await turn(m, past, "first question")  # compacted while the API still could
    claude.refuse_compaction = True
    with pytest.raises(anthropic.BadRequestError) as err:
        await turn(m, [*past, *new], "second question")
    assert classify(err.value).failure is Failure.COMPACTION_UNSUPPORTED

    with caplog.at_level(logging.WARNING, logger="app.agent.model"):
        m.fall_back_to_client_compaction()
        m.fall_back_to_client_compaction()
    assert m.compaction == "client"
    warned = [r.levelno for r in caplog.records if r.name == "app.agent.model"]
    assert warned == [logging.WARNING]

    # Client mode: no beta, and the stored compaction block travels as its summary's text.
    _, shown = await turn(m, [*past, *new], "second question")
    assert shown == "echo: second question"
    assert claude.betas_of() == [] and "context_management" not in claude.requests[-1]
    assert claude.blocks_of("compaction") == []
    replayed = claude.requests[-1]["messages"][len(past) + 1]["content"][0]
    assert replayed["type"] == "text"
    assert replayed["text"] == f"{SUMMARY_HEADER}\n{claude.compactions[0]['content']}"


async def _ignore(_: str) -> None:
    return None
