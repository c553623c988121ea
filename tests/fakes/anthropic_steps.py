"""What a test scripts the fake Anthropic API to answer, and what the fake records.

``Reply``, ``Fail`` and ``Hang`` are the steps; a step may also be a callable taking the
request body and returning a step (or ``None`` for the default echo). ``Exchange`` is one
recorded request. ``ApiError`` is an error the fake answers in the API's own shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

DEFAULT_MODEL = "claude-sonnet-5-5"
DEFAULT_THINKING = "Hmm, let me think this through before I answer."


@dataclass
class ToolCall:
    name: str
    input: dict[str, Any] = field(default_factory=dict)
    id: str | None = None  # generated ("toolu_fake...") when None


@dataclass
class Reply:
    """A successful answer: text and/or tool calls (stop_reason tool_use when any).

    When the request asks for thinking, the answer starts with a signed thinking block
    holding ``thinking`` (default ``DEFAULT_THINKING``), followed by a ``redacted_thinking``
    block when ``redacted_thinking`` is set; without thinking in the request both are unused.
    """

    text: str | None = None
    tool_calls: Sequence[ToolCall] = ()
    stop_reason: str | None = None  # default: "tool_use" if tool_calls else "end_turn"
    times: int = 1
    thinking: str | None = None
    redacted_thinking: bool = False


@dataclass
class Fail:
    """An API error in the real shape, e.g. ``Fail(529, "overloaded_error", "Overloaded")``.

    ``retry_after`` sets the ``retry-after`` header (the SDK treats 0 as absent and falls back
    to its own ~0.5s backoff; use a small positive float for fast retries). ``should_retry``
    sets ``x-should-retry``. ``mid_stream=True``: a streaming request gets HTTP 200, the
    message start, ``partial_text``, then an SSE ``error`` event (as the real API does when
    it overloads mid-answer); non-streaming requests get the plain HTTP error.
    """

    status: int
    type: str
    message: str
    retry_after: float | None = None
    times: int = 1
    should_retry: bool | None = None
    mid_stream: bool = False
    partial_text: str = ""


@dataclass
class Hang:
    """Wait ``seconds`` before answering (with ``then``, default: the echo reply)."""

    seconds: float
    then: Step | None = None
    times: int = 1


Step: TypeAlias = "Reply | Fail | Hang | Callable[[dict[str, Any]], Step | None]"


@dataclass
class Exchange:
    """One request to the fake and what it answered."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]  # lower-cased names
    status: int = 0
    request_id: str = ""
    step: str = ""  # what answered: "Reply", "Fail", "echo", "invalid", ...
    usage: dict[str, Any] | None = None
    response: dict[str, Any] | None = None  # the Message (or error body) returned
    streamed: bool = False
    compacted: bool = False  # the answer started with a compaction block


class ApiError(Exception):
    """An error the fake answers with ``{"type": "error", "error": {type, message}}``."""

    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message


def bad_request(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message)


def resolve(step: Step | None, body: dict[str, Any]) -> Reply | Fail | Hang | None:
    """Call callable steps with the request body until a plain step (or None) comes out."""
    for _ in range(100):
        if step is None or isinstance(step, Reply | Fail | Hang):
            return step
        step = step(body)
    raise RuntimeError("script callable kept returning callables")


def texts(message: dict[str, Any]) -> list[str]:
    """Every text of a message: its string content, or its ``text`` blocks."""
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return [
        str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"
    ]
