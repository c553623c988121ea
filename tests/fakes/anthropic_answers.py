"""How the fake Anthropic API answers a valid request: the next scripted step (or the echo),
built into a Message (compaction block, thinking, text, tool calls, usage) and sent whole or
as server-sent events.

A compacted answer's ``usage`` bills the answer against the compacted context (tools, system
and the new compaction block) and carries ``iterations``: the compaction (the whole counted
input, the summary's tokens), then the message, as the real API reports them.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes import anthropic_context as context
from tests.fakes.anthropic_steps import DEFAULT_THINKING, Exchange, Fail, Reply, Step, texts
from tests.fakes.anthropic_stream import EventWriter, stream_failure, stream_message
from tests.fakes.anthropic_tokens import PromptCache, Segment, estimate, segments, text_tokens


class Answers:
    """Mixin of ``FakeAnthropic``: the attributes below are set by its ``__init__``."""

    default_step: Callable[[dict[str, Any]], Step | None] | None
    chars_per_token: float
    summary_words: int
    delta_chars: int
    stream_delay: float
    _script: deque[list[Any]]
    _prompt_cache: PromptCache
    _compactor: context.Compactor
    _thinker: context.Thinker
    _ids: itertools.count[int]

    _last_segments: tuple[dict[str, Any], list[Segment]] | None

    if TYPE_CHECKING:  # FakeServer's

        async def _sleep(self, seconds: float) -> None: ...

    def estimate_tokens(self, body: dict[str, Any]) -> int:
        """The input tokens of ``body`` as the API counts them (from its latest compaction)."""
        return sum(s.tokens for s in self._segments_of(context.from_latest_compaction(body)))

    def _segments_of(self, body: dict[str, Any]) -> list[Segment]:
        """``segments`` of a request body, computed once per request (validation and usage
        both need them; hashing a long conversation twice would slow the fake, not the app)."""
        cached = self._last_segments
        if cached is not None and cached[0] is body:
            return cached[1]
        segs = segments(body, self.chars_per_token)
        self._last_segments = (body, segs)
        return segs

    def _next_step(self) -> Step | None:
        if not self._script:
            return self.default_step
        entry = self._script[0]
        entry[1] -= 1
        if entry[1] <= 0:
            self._script.popleft()
        step: Step = entry[0]
        return step

    @staticmethod
    def _echo(body: dict[str, Any]) -> Reply:
        for msg in reversed(body.get("messages") or []):
            if isinstance(msg, dict) and msg.get("role") == "user":
                # The person's words: the first text block (thread context and the line
                # saying who reads the answer follow it).
                found = texts(msg)
                if found:
                    return Reply(f"echo: {found[0]}")
        return Reply("echo: ")

    def _build_message(
        self, body: dict[str, Any], reply: Reply, *, compact: bool = False
    ) -> dict[str, Any]:
        """The Message answering ``body`` with ``reply``: a compaction block first when
        ``compact``, then thinking when asked for, then text and tool calls."""
        cpt = self.chars_per_token
        content: list[dict[str, Any]] = []
        counted = context.from_latest_compaction(body)
        if compact:
            content.append(self._compactor.compact(counted, self.summary_words))
            counted = {**body, "messages": [{"role": "assistant", "content": content[:1]}]}
        output = 0
        if context.wants_thinking(body):
            thinking = DEFAULT_THINKING if reply.thinking is None else reply.thinking
            content.append(self._thinker.thinking(thinking))
            output += text_tokens(thinking, cpt)
            if reply.redacted_thinking:
                content.append(self._thinker.redacted())
        if reply.text is not None and (reply.text or not reply.tool_calls):
            content.append({"type": "text", "text": reply.text})
        for call in reply.tool_calls:
            content.append(
                {
                    "type": "tool_use",
                    "id": call.id or f"toolu_fake{next(self._ids):014d}",
                    "name": call.name,
                    "input": call.input,
                }
            )
        output += text_tokens(reply.text or "", cpt) + sum(
            estimate(c.input, cpt) + text_tokens(c.name, cpt) for c in reply.tool_calls
        )
        usage = self._prompt_cache.usage(self._segments_of(counted), max(1, output))
        if compact:
            summary = content[0]
            usage["iterations"] = [
                {
                    "type": "compaction",
                    "input_tokens": self.estimate_tokens(body),
                    "output_tokens": text_tokens(summary["content"], cpt),
                    "cache_read_input_tokens": 0,
                    "cache_creation_input_tokens": 0,
                },
                {"type": "message", **{k: usage[k] for k in _ITERATION_FIELDS}},
            ]
        return {
            "id": f"msg_fake{next(self._ids):020d}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": reply.stop_reason or ("tool_use" if reply.tool_calls else "end_turn"),
            "stop_sequence": None,
            "usage": usage,
        }

    async def _open_stream(self, request: web.Request, ex: Exchange) -> EventWriter:
        resp = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "request-id": ex.request_id,
            },
        )
        await resp.prepare(request)
        return EventWriter(
            resp, delay=self.stream_delay, sleep=self._sleep, delta_chars=self.delta_chars
        )

    async def _stream_message(
        self, request: web.Request, ex: Exchange, message: dict[str, Any]
    ) -> web.StreamResponse:
        writer = await self._open_stream(request, ex)
        try:
            await stream_message(writer, message)
            await writer.eof()
        except (ConnectionError, asyncio.CancelledError):
            ex.step += " (client went away)"
            raise
        return writer.response

    async def _stream_failure(
        self, request: web.Request, ex: Exchange, fail: Fail
    ) -> web.StreamResponse:
        ex.status = 200
        writer = await self._open_stream(request, ex)
        message = self._build_message(ex.body, Reply(fail.partial_text))
        error = {"type": "error", "error": {"type": fail.type, "message": fail.message}}
        ex.response = error
        await stream_failure(writer, message, fail.partial_text, error)
        await writer.eof()
        return writer.response


_ITERATION_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
