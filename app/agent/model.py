"""The model boundary: one streamed Messages API call, and what a failure of it means.

Invariants of ``AnthropicModel.stream``:

- The reply is read from the raw event stream (``ReplyBuilder``: the server-sent events'
  JSON as plain dicts, no typed snapshot rebuilt per event), the way the SDK's streaming
  helper accumulates it: text, thinking and signature deltas, tool input JSON, compaction
  deltas, citations, and the usage of ``message_start`` overwritten by ``message_delta``.
- The reply's blocks come back as the API returned them (``block.to_dict()``): ``thinking``
  and ``redacted_thinking`` with their signatures, ``compaction`` with its content,
  ``encrypted_content``, ``signature`` and ``tool_changes``. Nothing here edits them: the API
  checks them byte for byte when they are replayed.
- Only ``text`` deltas reach ``on_text``; thinking is never shown.
- ``compaction="server"`` sends the ``compact-2026-01-12`` beta and a ``compact_20260112``
  edit triggered at ``compact_at_tokens`` input tokens; ``client`` and ``off`` send neither,
  and turn any ``compaction`` block of the transcript into plain text (an API without the
  beta rejects the block itself).
- ``Usage`` counts what was billed: the top-level usage plus every ``compaction`` iteration
  (the API leaves those out of the top-level figures).

``classify`` maps any exception of a model call to a ``Failure``:

| what the API said | ``Failure`` | setting |
|---|---|---|
| timeout, connection, 429, 5xx, overloaded | ``TRANSIENT`` | |
| 400 "prompt is too long", "exceed context limit"; 413 ``request_too_large`` | ``TOO_LONG`` | |
| 400 naming ``context_management`` / ``compact_20260112`` / the beta, or compaction as unsupported | ``COMPACTION_UNSUPPORTED`` | |
| 400 on the ``thinking`` parameter (not supported by the model or gateway) | ``CONFIGURATION`` | ``ANTHROPIC_THINKING`` |
| 400 on ``max_tokens`` | ``CONFIGURATION`` | ``ANTHROPIC_MAX_TOKENS`` |
| any other 400 ``invalid_request_error`` (the transcript's structure) | ``CONTEXT_REJECTED`` | |
| 401, 402, 403 | ``CONFIGURATION`` | ``ANTHROPIC_API_KEY`` |
| 404 | ``CONFIGURATION`` | ``ANTHROPIC_MODEL`` |
"""  # noqa: E501

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import anthropic
from anthropic import AsyncStream

from app.core import Usage

log = logging.getLogger(__name__)

TextCallback = Callable[[str], Awaitable[None]]

COMPACTION_BETA: Final = "compact-2026-01-12"
COMPACTION_EDIT: Final = "compact_20260112"
COMPACTION_MODES: Final = ("server", "client", "off")
THINKING_MODES: Final = ("off", "adaptive")
# Thinking tokens count toward max_tokens; below this, adaptive thinking can use up the whole
# allowance and leave no answer. Every model with adaptive thinking allows far more output.
THINKING_MIN_MAX_TOKENS: Final = 16_000
SUMMARY_HEADER: Final = "(Summary of the earlier conversation)"
_THINKING_BLOCKS: Final = frozenset({"thinking", "redacted_thinking"})


@dataclass(frozen=True)
class ModelReply:
    content: list[dict[str, Any]]  # the assistant blocks, as ``block.to_dict()``
    stop_reason: str | None
    usage: Usage
    # The API summarised the conversation so far: ``content`` holds a ``compaction`` block
    # with a summary, and replay may start from it. (A block with ``content: null`` is a
    # failed compaction the API treats as a no-op; it does not count.)
    compacted: bool = False


class Model(Protocol):
    name: str
    compaction: str  # "server" | "client" | "off": the mode requests are sent in now

    async def stream(
        self,
        *,
        system: Sequence[dict[str, Any]],
        messages: Sequence[dict[str, Any]],
        tools: Sequence[dict[str, Any]],
        on_text: TextCallback,
    ) -> ModelReply: ...

    def fall_back_to_client_compaction(self) -> None:
        """The API refused server-side compaction: send later requests in ``client`` mode."""


def is_compaction(block: dict[str, Any]) -> bool:
    """A ``compaction`` block that carries a summary (a null one is the API's no-op)."""
    return block.get("type") == "compaction" and block.get("content") is not None


class AnthropicModel:
    """``Model`` over the official SDK's beta Messages API, reading the raw event stream.

    ``max_tokens`` is ``ANTHROPIC_MAX_TOKENS``; with adaptive thinking it is raised to at
    least ``THINKING_MIN_MAX_TOKENS`` (thinking and answer share it, and adaptive thinking has
    no budget of its own to keep below it).
    """

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        name: str,
        max_tokens: int,
        *,
        compaction: str = "server",
        compact_at_tokens: int = 150_000,
        thinking: str = "off",
    ) -> None:
        if compaction not in COMPACTION_MODES:
            raise ValueError(f"compaction must be one of {COMPACTION_MODES}, not {compaction!r}")
        if thinking not in THINKING_MODES:
            raise ValueError(f"thinking must be one of {THINKING_MODES}, not {thinking!r}")
        self._client = client
        self.name = name
        self.compaction = compaction
        self._compact_at = compact_at_tokens
        self._thinking = thinking
        self._max_tokens = max_tokens
        if thinking == "adaptive":
            self._max_tokens = max(max_tokens, THINKING_MIN_MAX_TOKENS)

    def fall_back_to_client_compaction(self) -> None:
        """Switch a ``server`` model to ``client`` (once; ``client`` and ``off`` stay)."""
        if self.compaction != "server":
            return
        self.compaction = "client"
        log.warning(
            "the Messages API refused server-side compaction for %s; summarising long "
            "conversations here instead (set COMPACTION=client to make this the default)",
            self.name,
        )

    def _params(
        self,
        *,
        system: Sequence[dict[str, Any]],
        messages: Sequence[dict[str, Any]],
        tools: Sequence[dict[str, Any]],
    ) -> dict[str, Any]:
        """The keyword arguments of ``client.beta.messages.create`` for the current mode."""
        server = self.compaction == "server"
        params: dict[str, Any] = {
            "model": self.name,
            "max_tokens": self._max_tokens,
            "system": list(system),
            "messages": list(messages) if server else plain_transcript(messages),
        }
        if tools:
            params["tools"] = list(tools)
        if self._thinking == "adaptive":
            params["thinking"] = {"type": "adaptive"}
        if server:
            params["betas"] = [COMPACTION_BETA]
            params["context_management"] = {
                "edits": [
                    {
                        "type": COMPACTION_EDIT,
                        "trigger": {"type": "input_tokens", "value": self._compact_at},
                    }
                ]
            }
        return params

    async def stream(
        self,
        *,
        system: Sequence[dict[str, Any]],
        messages: Sequence[dict[str, Any]],
        tools: Sequence[dict[str, Any]],
        on_text: TextCallback,
    ) -> ModelReply:
        params = self._params(system=system, messages=messages, tools=tools)
        reply = ReplyBuilder()
        # HTTP errors (after the SDK's retries) raise from here, typed as usual; an error
        # event in the middle of the stream raises as the SDK's own stream would.
        streaming = self._client.beta.messages.with_streaming_response
        async with streaming.create(stream=True, **params) as response:
            raw = response.http_response
            async for sse in AsyncStream.raw_events(raw):
                if sse.event == "error":
                    body = _json_or_text(sse.data)
                    raise anthropic.APIStatusError(f"{body}", response=raw, body=body)
                if not sse.data or sse.event in (None, "ping"):
                    continue
                text = reply.add(json.loads(sse.data))
                if text:
                    await on_text(text)
        return reply.result()


@dataclass
class ReplyBuilder:
    """One reply built from its raw stream events (dicts), as the SDK's helper builds its
    snapshot: blocks as the API sent them, deltas applied, tool input parsed at block stop."""

    content: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    stop_reason: str | None = None
    started: bool = False
    _tool_json: dict[int, str] = field(default_factory=dict)

    def add(self, event: dict[str, Any]) -> str:
        """Apply one event; returns the text it adds to the answer (a ``text_delta``)."""
        kind = event.get("type")
        if kind == "message_start":
            message = event["message"]
            self.started = True
            self.content = [dict(b) for b in message.get("content") or []]
            self.usage = dict(message.get("usage") or {})
            self.stop_reason = message.get("stop_reason")
        elif not self.started:
            raise ValueError(f"the stream sent {kind} before message_start")
        elif kind == "content_block_start":
            self.content.append(dict(event["content_block"]))
        elif kind == "content_block_delta":
            return self._delta(int(event["index"]), event["delta"])
        elif kind == "content_block_stop":
            index = int(event["index"])
            if index in self._tool_json:
                self.content[index]["input"] = json.loads(self._tool_json.pop(index))
        elif kind == "message_delta":
            self.stop_reason = event.get("delta", {}).get("stop_reason")
            usage = event.get("usage") or {}
            # Cumulative totals: they overwrite; an optional one left out keeps its value.
            self.usage["output_tokens"] = usage.get("output_tokens")
            self.usage.update({k: v for k, v in usage.items() if v is not None})
        return ""

    def _delta(self, index: int, delta: dict[str, Any]) -> str:
        block = self.content[index]
        kind, block_type = delta.get("type"), block.get("type")
        if kind == "text_delta" and block_type == "text":
            block["text"] = block.get("text", "") + delta["text"]
            return str(delta["text"])
        if kind == "input_json_delta" and "input" in block:
            self._tool_json[index] = self._tool_json.get(index, "") + delta["partial_json"]
        elif kind == "thinking_delta" and block_type == "thinking":
            block["thinking"] = block.get("thinking", "") + delta["thinking"]
        elif kind == "signature_delta" and block_type == "thinking":
            block["signature"] = delta["signature"]
        elif kind == "citations_delta" and block_type == "text":
            block["citations"] = [*(block.get("citations") or []), delta["citation"]]
        elif kind == "compaction_delta" and block_type == "compaction":
            block["content"] = delta.get("content")
            block["encrypted_content"] = delta.get("encrypted_content")
        return ""

    def result(self) -> ModelReply:
        if not self.started:
            raise ValueError("the stream ended before message_start")
        return ModelReply(
            content=self.content,
            stop_reason=self.stop_reason,
            usage=billed_usage(self.usage),
            compacted=any(is_compaction(block) for block in self.content),
        )


def _json_or_text(data: str) -> object:
    try:
        return json.loads(data)
    except ValueError:
        return data


def billed_usage(usage: dict[str, Any]) -> Usage:
    """The reply's usage (as the API sent it) plus its compaction iterations, which the API
    leaves out of the top-level figures."""
    total = Usage(
        input_tokens=usage.get("input_tokens") or 0,
        output_tokens=usage.get("output_tokens") or 0,
        cache_read_tokens=usage.get("cache_read_input_tokens") or 0,
        cache_write_tokens=usage.get("cache_creation_input_tokens") or 0,
    )
    for iteration in usage.get("iterations") or []:
        if iteration.get("type") == "compaction":
            total += Usage(
                input_tokens=iteration.get("input_tokens") or 0,
                output_tokens=iteration.get("output_tokens") or 0,
                cache_read_tokens=iteration.get("cache_read_input_tokens") or 0,
                cache_write_tokens=iteration.get("cache_creation_input_tokens") or 0,
            )
    return total


def plain_transcript(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` for an API without the compaction beta: a ``compaction`` block becomes a
    text block holding its summary, a null one (a no-op) is left out. Other messages are
    passed on as they are (not copied)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list) or not any(
            isinstance(b, dict) and b.get("type") == "compaction" for b in content
        ):
            out.append(message)
            continue
        blocks = [
            {"type": "text", "text": f"{SUMMARY_HEADER}\n{block['content']}"}
            if block.get("type") == "compaction"
            else block
            for block in content
            if block.get("type") != "compaction" or is_compaction(block)
        ]
        out.append({**message, "content": blocks or [{"type": "text", "text": SUMMARY_HEADER}]})
    return out


class Failure(enum.Enum):
    """What a failed model call means for the conversation.

    ``TOO_LONG``: the conversation no longer fits the model; compact it and retry once;
    ``COMPACTION_UNSUPPORTED``: the API (model or gateway) refused server-side compaction;
    fall back to client-side compaction and retry;
    ``CONTEXT_REJECTED``: the session is dropped and the turn retried once on a fresh one;
    ``TRANSIENT``: the user is asked to try again and the session kept unchanged;
    ``CONFIGURATION``: the user gets a short note, the log names the setting, session kept.
    """

    TOO_LONG = "too_long"  # the prompt is over the model's context window
    COMPACTION_UNSUPPORTED = "compaction_unsupported"  # no compaction beta here
    CONTEXT_REJECTED = "context_rejected"  # the replayed transcript is unusable
    TRANSIENT = "transient"  # overloaded, rate limited, 5xx, timeout, connection
    CONFIGURATION = "configuration"  # our key, permissions, model name, max_tokens, thinking


@dataclass(frozen=True)
class Classified:
    failure: Failure
    setting: str | None = None  # the setting to fix, for configuration failures
    detail: str = ""


def classify(exc: BaseException) -> Classified:
    """Map an exception from a model call to a ``Failure``; pure, for any exception."""
    if isinstance(exc, TimeoutError):
        return Classified(Failure.TRANSIENT, detail="turn timed out")
    if isinstance(exc, anthropic.APIConnectionError):  # includes APITimeoutError
        return Classified(Failure.TRANSIENT, detail=type(exc).__name__)
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        kind = _error_type(exc)
        if status in (401,) or isinstance(exc, anthropic.AuthenticationError):
            return Classified(Failure.CONFIGURATION, "ANTHROPIC_API_KEY", "authentication failed")
        if status in (402, 403):
            return Classified(Failure.CONFIGURATION, "ANTHROPIC_API_KEY", f"{status} {kind}")
        if status == 404:
            return Classified(Failure.CONFIGURATION, "ANTHROPIC_MODEL", f"not found: {kind}")
        if status == 413 or kind == "request_too_large":
            return Classified(Failure.TOO_LONG, detail=f"{status} {kind}")
        if status == 400 and kind in ("invalid_request_error", ""):
            return _bad_request(_error_message(exc).lower(), f"{status} {kind}")
        return Classified(Failure.TRANSIENT, detail=f"{status} {kind}")
    return Classified(Failure.TRANSIENT, detail=type(exc).__name__)


_TOO_LONG_PHRASES: Final = ("prompt is too long", "exceed context limit")
_COMPACTION_NAMES: Final = ("context_management", COMPACTION_EDIT, COMPACTION_BETA)
_REFUSAL_PHRASES: Final = (
    "not supported",
    "unsupported",
    "does not support",
    "not enabled",
    "not available",
    "not permitted",
    "expected tags",  # "Input tag 'compaction' ... does not match any of the expected tags"
    "unexpected value",
)


def _bad_request(message: str, detail: str) -> Classified:
    """A 400 ``invalid_request_error``, told apart by its (lower-cased) message."""
    if any(phrase in message for phrase in _TOO_LONG_PHRASES):
        # Before max_tokens: "input length and `max_tokens` exceed context limit" is about
        # the conversation's length, not the setting.
        return Classified(Failure.TOO_LONG, detail=detail)
    refused = any(phrase in message for phrase in _REFUSAL_PHRASES)
    if any(name in message for name in _COMPACTION_NAMES) or ("compaction" in message and refused):
        # A compaction block with a bad signature names compaction but is the transcript's
        # fault: it falls through to CONTEXT_REJECTED.
        return Classified(Failure.COMPACTION_UNSUPPORTED, detail=detail)
    if message.startswith("thinking") or ("thinking" in message and refused):
        # "thinking.type: Input tag 'adaptive' found ..." or "thinking is not supported ...";
        # a thinking *block* out of place or altered is the transcript's fault instead.
        return Classified(Failure.CONFIGURATION, "ANTHROPIC_THINKING", "thinking rejected")
    if "max_tokens" in message:
        # Our ANTHROPIC_MAX_TOKENS is above what the model allows: no transcript helps.
        return Classified(Failure.CONFIGURATION, "ANTHROPIC_MAX_TOKENS", "max_tokens rejected")
    return Classified(Failure.CONTEXT_REJECTED, detail=detail)


def _error_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return ""


def _error_type(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("type"), str):
            return str(error["type"])
    return ""
