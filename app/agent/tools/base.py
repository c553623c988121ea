"""Tools Claude can call: the protocol, the context a call runs in, and the registry."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from app.core import KeyClaim

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolResult:
    """What Claude reads back. ``is_error`` results are refusals or upstream failures."""

    content: str
    is_error: bool = False


@dataclass(frozen=True)
class ToolContext:
    """The turn a tool call belongs to, and what a tool may do to the conversation."""

    session_id: str
    turn_id: str
    agent: str
    source_key: str
    # First-writer-wins registration of another key for this session.
    link_key: Callable[[str, str | None], Awaitable[KeyClaim]]
    # Permalink to the Slack thread of this conversation, when there is one.
    thread_link: Callable[[], Awaitable[str | None]]


class Tool(Protocol):
    name: str

    def definition(self) -> dict[str, Any]:
        """The Messages API tool definition: name, description, input_schema."""
        ...

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult: ...


class Toolbox(Protocol):
    """What the agent loop needs of the tools offered in a turn."""

    @property
    def names(self) -> list[str]: ...

    def definitions(self) -> list[dict[str, Any]]: ...

    async def call(self, name: str, args: Any, ctx: ToolContext) -> ToolResult:
        """Run a tool; never raises: refusals and failures come back as error results."""
        ...


class ToolRegistry:
    """The tools offered in a turn (a ``Toolbox``); failures become error results."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools = {t.name: t for t in tools}

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        return sorted(self._tools)

    def definitions(self) -> list[dict[str, Any]]:
        return [self._tools[name].definition() for name in sorted(self._tools)]

    async def call(self, name: str, args: Any, ctx: ToolContext) -> ToolResult:
        tool = self._tools.get(name)
        if tool is None:
            return ToolResult(f"There is no tool named {name!r}.", is_error=True)
        if not isinstance(args, dict):
            return ToolResult("Tool input must be a JSON object.", is_error=True)
        try:
            return await tool.run(args, ctx)
        except Exception:
            log.exception("tool %s failed turn=%s", name, ctx.turn_id)
            return ToolResult(
                f"The {name} tool failed unexpectedly (turn {ctx.turn_id}); tell the user it "
                "did not work and that the error was logged.",
                is_error=True,
            )
