"""A ``Model`` that plays a script, for direct tests of the agent loop and the pipeline.

Each call takes the next step: ``say(text)`` streams ``text`` and ends the turn,
``use_tool(name, input)`` asks for a tool, an exception is raised as the model call's failure.
Every request is kept (deep-copied) so tests can see what Claude was sent.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.agent.model import ModelReply, TextCallback
from app.core import Usage

_ids = itertools.count(1)


@dataclass(frozen=True)
class Step:
    content: list[dict[str, Any]]
    stop_reason: str
    usage: Usage = field(default_factory=lambda: Usage(input_tokens=100, output_tokens=10))


def say(text: str) -> Step:
    return Step([{"type": "text", "text": text}], "end_turn")


def use_tool(name: str, args: dict[str, Any], *, text: str = "") -> Step:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    blocks.append(
        {"type": "tool_use", "id": f"toolu_{next(_ids):04d}", "name": name, "input": args}
    )
    return Step(blocks, "tool_use")


@dataclass
class ScriptedModel:
    steps: list[Step | BaseException] = field(default_factory=list)
    name: str = "scripted-model"
    requests: list[dict[str, Any]] = field(default_factory=list)
    hold: asyncio.Event | None = None  # when set by a test, each call waits for it

    async def stream(
        self,
        *,
        system: Sequence[dict[str, Any]],
        messages: Sequence[dict[str, Any]],
        tools: Sequence[dict[str, Any]],
        on_text: TextCallback,
    ) -> ModelReply:
        self.requests.append(
            {
                "system": copy.deepcopy(list(system)),
                "messages": copy.deepcopy(list(messages)),
                "tools": [t["name"] for t in tools],
            }
        )
        if self.hold is not None:
            await self.hold.wait()
        step = self.steps.pop(0) if self.steps else say("(script ended)")
        if isinstance(step, BaseException):
            raise step
        for block in step.content:
            if block["type"] == "text":
                await on_text(block["text"])
        return ModelReply(copy.deepcopy(step.content), step.stop_reason, step.usage)
