"""The agent loop: stream Claude's answer, run the tools it asks for, repeat until it is done.

The loop is pure orchestration over three boundaries passed in (the model, the tool registry
and a progress sink), so it is tested with fakes of each boundary only at the network edge.
Nothing is persisted here: the caller commits ``AgentResult.messages`` when the turn is whole.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from app.agent.model import Model
from app.agent.tools.base import Toolbox, ToolContext
from app.core import Usage
from app.core.steps import TaskStep
from app.core.text import quote

MAX_TOOL_ROUNDS = 8
_EPHEMERAL = {"type": "ephemeral"}


class Progress(Protocol):
    """Where the user watches the turn happen (a Slack stream, a buffered comment...)."""

    async def text(self, delta: str) -> None: ...

    async def tool_started(self, call_id: str, name: str) -> None: ...

    async def tool_finished(self, call_id: str, name: str, ok: bool) -> None: ...


@runtime_checkable
class Planner(Protocol):
    """A ``Progress`` that can show the tool calls of one model reply together (a plan)
    before they run; told only when a reply calls two or more tools."""

    async def plan(self, calls: Sequence[tuple[str, str]]) -> None: ...


@runtime_checkable
class Stepper(Protocol):
    """A ``Progress`` that can show a finished tool's step as the tool says it reads
    (``ToolResult.step``: a job still running, say) instead of simply done."""

    async def tool_step(self, call_id: str, name: str, step: TaskStep) -> None: ...


@dataclass(frozen=True)
class AgentResult:
    messages: list[dict[str, Any]]  # new messages after the user's: assistant / tool results
    text: str  # everything Claude said to the user in this turn
    usage: Usage
    rounds: int


async def run_agent(
    model: Model,
    *,
    system: Sequence[dict[str, Any]],
    history: Sequence[dict[str, Any]],
    user_message: dict[str, Any],
    tools: Toolbox,
    tool_context: ToolContext,
    progress: Progress,
    max_rounds: int = MAX_TOOL_ROUNDS,
    record: list[dict[str, Any]] | None = None,
    on_usage: Callable[[Usage], None] | None = None,
) -> AgentResult:
    """Run one turn; raises whatever the model raises (the caller classifies it).

    ``record``, when given, receives each new message as soon as it is complete, so a caller
    that stops the turn midway still has what was said so far.
    """
    conversation: list[dict[str, Any]] = [*history, user_message]
    new: list[dict[str, Any]] = record if record is not None else []
    texts: list[str] = []
    usage = Usage()
    definitions = tools.definitions()
    for round_no in range(1, max_rounds + 1):
        reply = await model.stream(
            system=system,
            messages=with_cache_breakpoint(conversation),
            tools=definitions,
            on_text=progress.text,
        )
        usage = usage + reply.usage
        if on_usage is not None:
            on_usage(reply.usage)  # what a turn stopped midway has spent so far
        content = storable_content(reply.content, reply.stop_reason)
        assistant = {"role": "assistant", "content": content}
        conversation.append(assistant)
        new.append(assistant)
        texts.extend(b["text"] for b in content if b.get("type") == "text" and b["text"])
        calls = [b for b in content if b.get("type") == "tool_use"]
        if not calls:
            return AgentResult(new, "\n\n".join(texts), usage, round_no)
        # The results message is part of the record from the start and filled as each tool
        # finishes, so a turn stopped midway knows which calls ran.
        results: list[dict[str, Any]] = []
        tool_message = {"role": "user", "content": results}
        new.append(tool_message)
        if len(calls) > 1 and isinstance(progress, Planner):
            await progress.plan([(call["id"], call["name"]) for call in calls])
        for call in calls:
            await progress.tool_started(call["id"], call["name"])
            result = await tools.call(call["name"], call.get("input"), tool_context)
            if result.step is not None and isinstance(progress, Stepper):
                await progress.tool_step(call["id"], call["name"], result.step)
            else:
                await progress.tool_finished(call["id"], call["name"], not result.is_error)
            results.append(
                {
                    "type": "tool_result",
                    "tool_use_id": call["id"],
                    # Quoted: a result carries what others wrote (titles, descriptions), and
                    # that must read as material, not as instructions.
                    "content": f"[{call['name']} result]\n{quote(result.content)}",
                    "is_error": result.is_error,
                }
            )
        conversation.append(tool_message)
    # Claude kept calling tools; close the turn with what it said so far, and keep the
    # transcript valid (a tool_result must be answered by an assistant message).
    stop_text = "(I stopped after too many tool calls in one turn.)"
    closing = {"role": "assistant", "content": [{"type": "text", "text": stop_text}]}
    new.append(closing)
    texts.append(stop_text)
    await progress.text("\n\n" + stop_text)
    return AgentResult(new, "\n\n".join(texts), usage, max_rounds)


_NO_ANSWER = {"type": "text", "text": "(no answer)"}
# Blocks kept exactly as the API returned them: it checks their signatures on replay, and an
# assistant turn of a tool loop must start with its thinking block.
_OPAQUE = frozenset({"thinking", "redacted_thinking", "compaction"})
# Blocks that take no prompt-cache breakpoint.
_UNCACHEABLE = frozenset({"thinking", "redacted_thinking"})


def storable_content(
    content: Sequence[dict[str, Any]], stop_reason: str | None
) -> list[dict[str, Any]]:
    """Assistant content that keeps the transcript a valid conversation when replayed.

    The API rejects empty text blocks and empty assistant messages, and a ``tool_use`` must
    be answered by a ``tool_result``. Tool calls are kept only when the model stopped to call
    them (a reply cut off by ``max_tokens`` may end in a half-written call). ``thinking``,
    ``redacted_thinking`` and ``compaction`` blocks are kept unchanged and in their order,
    except a thinking block cut off before its signature (the API would refuse it). What
    remains always has an answer: when nothing but those blocks is left, a short
    placeholder text follows them.
    """
    kept = []
    for block in content:
        kind = block.get("type")
        if kind == "text" and not str(block.get("text", "")).strip():
            continue
        if kind == "tool_use" and stop_reason != "tool_use":
            continue
        if kind == "thinking" and not block.get("signature"):
            continue
        kept.append(block)
    if all(block.get("type") in _OPAQUE for block in kept):
        kept.append(dict(_NO_ANSWER))
    return kept


def with_cache_breakpoint(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of ``messages`` whose last cacheable block carries a prompt-cache breakpoint.

    With the system prompt's own breakpoint, everything up to the newest block is cacheable,
    so a long conversation is read from cache on the next request. Thinking blocks take no
    ``cache_control``: the breakpoint goes on the last block before them that does. Stored
    transcripts never carry ``cache_control``; it is added per request here, on copies.
    """
    out = list(messages)
    for i in range(len(out) - 1, -1, -1):
        content = out[i]["content"]
        if isinstance(content, str):
            if not content:
                continue
            content = [{"type": "text", "text": content}]
        for j in range(len(content) - 1, -1, -1):
            if content[j].get("type") not in _UNCACHEABLE:
                blocks = list(content)
                blocks[j] = {**copy.deepcopy(blocks[j]), "cache_control": _EPHEMERAL}
                out[i] = {**out[i], "content": blocks}
                return out
    return out
