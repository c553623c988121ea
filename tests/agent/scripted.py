"""A ``Model`` that plays a script, for direct tests of the agent loop and the pipeline.

Each call takes the next step: ``say(text)`` streams ``text`` and ends the turn,
``use_tool(name, input)`` asks for a tool, ``compacted(summary, text)`` answers after a
server-side compaction block, ``thought(step)`` puts a signed thinking block before a step's
content; an exception is raised as the model call's failure. Only text blocks reach
``on_text``. Every request is kept (deep-copied) so tests can see what Claude was sent;
``compaction`` is the mode (``fall_back_to_client_compaction`` moves ``server`` to
``client`` and counts the calls in ``fallbacks``).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.agent.model import ModelReply, TextCallback, is_compaction
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


def compacted(summary: str, text: str) -> Step:
    """An answer that follows a server-side compaction of everything before it."""
    block = {
        "type": "compaction",
        "content": summary,
        "encrypted_content": f"enc-{next(_ids):04d}",
        "signature": f"sig-{next(_ids):04d}",
    }
    return Step([block, {"type": "text", "text": text}], "end_turn")


def thought(step: Step, thinking: str = "Let me think.") -> Step:
    """``step`` with a signed thinking block before its content (after a compaction block)."""
    block = {"type": "thinking", "thinking": thinking, "signature": f"sig-{next(_ids):04d}"}
    at = 1 if step.content and step.content[0]["type"] == "compaction" else 0
    return Step([*step.content[:at], block, *step.content[at:]], step.stop_reason, step.usage)


@dataclass
class ScriptedModel:
    steps: list[Step | BaseException] = field(default_factory=list)
    name: str = "scripted-model"
    requests: list[dict[str, Any]] = field(default_factory=list)
    hold: asyncio.Event | None = None  # when set by a test, each call waits for it
    compaction: str = "server"
    fallbacks: int = 0

    def fall_back_to_client_compaction(self) -> None:
        self.fallbacks += 1
        if self.compaction == "server":
            self.compaction = "client"

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
                "compaction": self.compaction,
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
        content = copy.deepcopy(step.content)
        return ModelReply(
            content, step.stop_reason, step.usage, any(is_compaction(b) for b in content)
        )
