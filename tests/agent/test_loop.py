"""The agent loop driven directly with a scripted model and real tool registries."""

from __future__ import annotations

from typing import Any

from app.agent.loop import run_agent, storable_content
from app.agent.tools.base import ToolContext, ToolRegistry, ToolResult
from app.core.steps import TaskStep
from tests.agent.conversation import Conversation
from tests.agent.scripted import ScriptedModel, say, use_tool


class Echo:
    name = "echo"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "description": "echo", "input_schema": {"type": "object"}}

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        self.calls.append(args)
        if args.get("fail"):
            raise RuntimeError("boom")
        return ToolResult(f"echo {args.get('say')}")


class Progress:
    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    async def text(self, delta: str) -> None:
        self.events.append(("text", delta))

    async def tool_started(self, call_id: str, name: str) -> None:
        self.events.append(("start", name))

    async def tool_finished(self, call_id: str, name: str, ok: bool) -> None:
        self.events.append(("done", name, str(ok)))


USER = {"role": "user", "content": [{"type": "text", "text": "[A (U1) in Slack]\nhi"}]}


async def test_tools_run_between_rounds_and_the_turn_ends_with_an_answer() -> None:
    echo, progress = Echo(), Progress()
    model = ScriptedModel([use_tool("echo", {"say": "x"}, text="Let me check."), say("It said x.")])
    result = await run_agent(
        model,
        system=[{"type": "text", "text": "sys"}],
        history=[],
        user_message=USER,
        tools=ToolRegistry([echo]),
        tool_context=Conversation().context(),
        progress=progress,
    )
    assert echo.calls == [{"say": "x"}]
    assert [m["role"] for m in result.messages] == ["assistant", "user", "assistant"]
    tool_result = result.messages[1]["content"][0]
    assert tool_result["content"] == "[echo result]\n> echo x"
    assert tool_result["is_error"] is False
    assert result.rounds == 2 and result.usage.input_tokens == 200
    assert result.text == "Let me check.\n\nIt said x."
    assert progress.events == [
        ("text", "Let me check."),
        ("start", "echo"),
        ("done", "echo", "True"),
        ("text", "It said x."),
    ]
    assert model.requests[0]["tools"] == ["echo"]
    # The second request carried the tool result, after the assistant's tool call.
    assert [m["role"] for m in model.requests[1]["messages"]] == ["user", "assistant", "user"]


async def test_a_tool_that_crashes_is_an_error_result_not_a_failed_turn() -> None:
    model = ScriptedModel([use_tool("echo", {"fail": True}), say("It failed.")])
    result = await run_agent(
        model,
        system=[],
        history=[],
        user_message=USER,
        tools=ToolRegistry([Echo()]),
        tool_context=Conversation().context(),
        progress=Progress(),
    )
    block = result.messages[1]["content"][0]
    assert block["is_error"] is True and "failed unexpectedly" in block["content"]
    assert "boom" not in block["content"]


async def test_a_model_that_keeps_calling_tools_is_stopped_with_a_valid_transcript() -> None:
    model = ScriptedModel([use_tool("echo", {"say": str(i)}) for i in range(5)])
    result = await run_agent(
        model,
        system=[],
        history=[],
        user_message=USER,
        tools=ToolRegistry([Echo()]),
        tool_context=Conversation().context(),
        progress=Progress(),
        max_rounds=3,
    )
    roles = [m["role"] for m in result.messages]
    assert roles == ["assistant", "user"] * 3 + ["assistant"]
    assert "too many tool calls" in result.messages[-1]["content"][0]["text"]
    assert len(model.requests) == 3


def test_stored_content_stays_replayable() -> None:
    half_call = [
        {"type": "text", "text": "  "},
        {"type": "tool_use", "id": "t1", "name": "echo", "input": {}},
    ]
    assert storable_content(half_call, "max_tokens") == [{"type": "text", "text": "(no answer)"}]
    assert storable_content(half_call, "tool_use") == [half_call[1]]


class Running(Echo):
    """A tool whose work goes on after it returns (a background job): its step says so."""

    name = "start_work"

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return ToolResult("started", step=TaskStep("Work: x", "in_progress", "work 1"))


class StepProgress(Progress):
    async def tool_step(self, call_id: str, name: str, step: TaskStep) -> None:
        self.events.append(("step", name, step.title, step.status))


async def test_a_tool_says_how_its_step_reads_where_steps_are_shown() -> None:
    for progress, finished in (
        (StepProgress(), ("step", "start_work", "Work: x", "in_progress")),
        (Progress(), ("done", "start_work", "True")),  # no steps shown: simply done
    ):
        model = ScriptedModel([use_tool("start_work", {}), say("Started.")])
        await run_agent(
            model,
            system=[],
            history=[],
            user_message=USER,
            tools=ToolRegistry([Running()]),
            tool_context=Conversation().context(),
            progress=progress,
        )
        assert progress.events[:2] == [("start", "start_work"), finished]
