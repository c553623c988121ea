"""Server-sent events of the fake Anthropic API, in the order and shapes the real API sends.

A message streams as ``message_start`` (empty content), ``ping``, then per block
``content_block_start`` / deltas / ``content_block_stop``, then ``message_delta`` (stop
reason and cumulative usage, with ``iterations`` when there are any) and ``message_stop``.
Blocks by type: ``text`` streams ``text_delta`` pieces; ``tool_use`` streams
``input_json_delta`` pieces; ``thinking`` starts empty, streams ``thinking_delta`` pieces
and one ``signature_delta``; ``compaction`` starts with its signature and ``tool_changes``
and gets its content and ``encrypted_content`` in one ``compaction_delta``;
``redacted_thinking`` arrives whole in its start event.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

_DELTA_USAGE = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


class EventWriter:
    """Writes SSE events to one response, ``delay`` seconds apart (via ``sleep``)."""

    def __init__(
        self,
        resp: web.StreamResponse,
        *,
        delay: float,
        sleep: Callable[[float], Awaitable[None]],
        delta_chars: int,
    ) -> None:
        self.response = resp
        self._resp, self._delay, self._sleep, self._delta_chars = resp, delay, sleep, delta_chars

    async def eof(self) -> None:
        await self._resp.write_eof()

    async def send(self, event: str, data: dict[str, Any]) -> None:
        await self._resp.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
        if self._delay > 0:
            await self._sleep(self._delay)
        else:
            await asyncio.sleep(0)

    def pieces(self, text: str) -> list[str]:
        size = max(1, self._delta_chars, math.ceil(len(text) / 64))
        return [text[i : i + size] for i in range(0, len(text), size)] or [""]

    async def start(self, message: dict[str, Any]) -> None:
        await self.send("message_start", {"type": "message_start", "message": start_of(message)})
        await self.send("ping", {"type": "ping"})

    async def block(self, index: int, block: dict[str, Any]) -> None:
        first, deltas = self._split(block)
        start = {"type": "content_block_start", "index": index, "content_block": first}
        await self.send("content_block_start", start)
        for delta in deltas:
            event = {"type": "content_block_delta", "index": index, "delta": delta}
            await self.send("content_block_delta", event)
        await self.send("content_block_stop", {"type": "content_block_stop", "index": index})

    def _split(self, block: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        kind = block["type"]
        if kind == "text":
            pieces = self.pieces(block["text"])
            return {"type": "text", "text": ""}, [{"type": "text_delta", "text": p} for p in pieces]
        if kind == "thinking":
            deltas: list[dict[str, Any]] = [
                {"type": "thinking_delta", "thinking": p} for p in self.pieces(block["thinking"])
            ]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
            return {"type": "thinking", "thinking": "", "signature": ""}, deltas
        if kind == "compaction":
            first = {**block, "content": None, "encrypted_content": None}
            delta = {
                "type": "compaction_delta",
                "content": block["content"],
                "encrypted_content": block["encrypted_content"],
            }
            return first, [delta]
        if kind == "tool_use":
            pieces = ["", *self.pieces(json.dumps(block["input"]))]
            return {**block, "input": {}}, [
                {"type": "input_json_delta", "partial_json": p} for p in pieces
            ]
        return block, []

    async def finish(self, message: dict[str, Any]) -> None:
        usage = message["usage"]
        delta_usage = {k: usage[k] for k in _DELTA_USAGE}
        delta_usage["output_tokens"] = usage["output_tokens"]
        if usage.get("iterations"):
            delta_usage["iterations"] = usage["iterations"]
        delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
        await self.send(
            "message_delta", {"type": "message_delta", "delta": delta, "usage": delta_usage}
        )
        await self.send("message_stop", {"type": "message_stop"})


def start_of(message: dict[str, Any]) -> dict[str, Any]:
    """The message as ``message_start`` carries it: no content, no stop reason yet."""
    usage = dict(message["usage"], output_tokens=1)
    return dict(message, content=[], stop_reason=None, stop_sequence=None, usage=usage)


async def stream_message(writer: EventWriter, message: dict[str, Any]) -> None:
    await writer.start(message)
    for index, block in enumerate(message["content"]):
        await writer.block(index, block)
    await writer.finish(message)


async def stream_failure(
    writer: EventWriter, message: dict[str, Any], partial_text: str, error: dict[str, Any]
) -> None:
    """The start of ``message``, ``partial_text`` as an unfinished text block, then ``error``."""
    await writer.start(message)
    if partial_text:
        start = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        await writer.send("content_block_start", start)
        for piece in writer.pieces(partial_text):
            delta = {"type": "text_delta", "text": piece}
            await writer.send(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
    await writer.send("error", error)
