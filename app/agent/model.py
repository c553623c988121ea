"""The model boundary: one streamed Messages API call, and what a failure of it means."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import anthropic

from app.core import Usage

TextCallback = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class ModelReply:
    content: list[dict[str, Any]]  # the assistant blocks, as ``block.to_dict()``
    stop_reason: str | None
    usage: Usage


class Model(Protocol):
    name: str

    async def stream(
        self,
        *,
        system: Sequence[dict[str, Any]],
        messages: Sequence[dict[str, Any]],
        tools: Sequence[dict[str, Any]],
        on_text: TextCallback,
    ) -> ModelReply: ...


class AnthropicModel:
    """``Model`` over the official SDK's streaming helper."""

    def __init__(self, client: anthropic.AsyncAnthropic, name: str, max_tokens: int) -> None:
        self._client = client
        self.name = name
        self._max_tokens = max_tokens

    async def stream(
        self,
        *,
        system: Sequence[dict[str, Any]],
        messages: Sequence[dict[str, Any]],
        tools: Sequence[dict[str, Any]],
        on_text: TextCallback,
    ) -> ModelReply:
        params: dict[str, Any] = {
            "model": self.name,
            "max_tokens": self._max_tokens,
            "system": list(system),
            "messages": list(messages),
        }
        if tools:
            params["tools"] = list(tools)
        async with self._client.messages.stream(**params) as stream:
            async for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    await on_text(event.delta.text)
            final = await stream.get_final_message()
        usage = final.usage
        return ModelReply(
            content=[block.to_dict() for block in final.content],
            stop_reason=final.stop_reason,
            usage=Usage(
                input_tokens=usage.input_tokens or 0,
                output_tokens=usage.output_tokens or 0,
                cache_read_tokens=usage.cache_read_input_tokens or 0,
                cache_write_tokens=usage.cache_creation_input_tokens or 0,
            ),
        )


class Failure(enum.Enum):
    """What a failed model call means for the conversation.

    ``CONTEXT_REJECTED``: the session is dropped and the turn retried once on a fresh one;
    ``TRANSIENT``: the user is asked to try again and the session kept unchanged;
    ``CONFIGURATION``: the user gets a short note, the log names the setting, session kept.
    """

    CONTEXT_REJECTED = "context_rejected"  # the replayed transcript is unusable
    TRANSIENT = "transient"  # overloaded, rate limited, 5xx, timeout, connection
    CONFIGURATION = "configuration"  # our key, permissions or model name


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
        if status in (400, 413) and kind in ("invalid_request_error", "request_too_large", ""):
            if "max_tokens" in _error_message(exc):
                # Our ANTHROPIC_MAX_TOKENS is above what the model allows: no transcript helps.
                return Classified(
                    Failure.CONFIGURATION, "ANTHROPIC_MAX_TOKENS", "max_tokens rejected"
                )
            return Classified(Failure.CONTEXT_REJECTED, detail=f"{status} {kind}")
        return Classified(Failure.TRANSIENT, detail=f"{status} {kind}")
    return Classified(Failure.TRANSIENT, detail=type(exc).__name__)


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
