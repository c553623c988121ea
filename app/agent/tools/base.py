"""Tools Claude can call: the protocol, the context a call runs in, and the registry.

A *write tool* changes another system (files an issue, links one, starts a job). It says so
with a ``writes = True`` class attribute; ``WRITE_TOOLS`` names the write tools Threadline
knows, so a wrapper (``app.turns.writes``) treats them as writes whoever implements them. A
write tool may also say where its writes land (``target_audience``): a public repository
asks for approval under ``TOOL_APPROVAL=untrusted``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol, runtime_checkable

from app.core import Audience, KeyClaim
from app.core.steps import TaskStep

log = logging.getLogger(__name__)

# The tools that change other systems (DESIGN.md, "Actions"): capped per turn and, depending
# on TOOL_APPROVAL, run only once a person approves.
WRITE_TOOLS: Final = frozenset(
    {
        "create_github_issue",
        "link_github_issue",
        "create_jira_ticket",
        "link_jira_ticket",
        "start_background_job",
        "continue_background_job",
        "cancel_background_job",
    }
)


@dataclass(frozen=True)
class ToolResult:
    """What Claude reads back. ``is_error`` results are refusals or upstream failures."""

    content: str
    is_error: bool = False
    # How the call's step reads when it is shown (None: as the tool that ran, done).
    step: TaskStep | None = None


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
    # Tells the turn a tool brought in content from a place of this audience (an internal
    # item's title makes the conversation internal).
    read_from: Callable[[Audience], None] = lambda audience: None
    # Who wrote the message the turn answers (a Slack user id, a GitHub login…).
    author_id: str = ""


class Tool(Protocol):
    """A tool Claude can call.

    Optional members, read with ``getattr`` (so a tool without them is a read-only tool):

    * ``writes: bool``: True when the tool changes another system (see ``WRITE_TOOLS``);
    * ``async def target_audience(self, args) -> Audience | None``: who will read what the
      tool writes for these arguments (``PUBLIC``: a public repository), None when it cannot
      tell (e.g. the arguments are invalid, which ``run`` then refuses). Never raises.
    """

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


@runtime_checkable
class WriteAware(Protocol):
    """What a Toolbox can tell about its write tools (``ToolRegistry`` does)."""

    def writes(self, name: str) -> bool:
        """Whether ``name`` changes another system."""
        ...

    async def target_audience(self, name: str, args: Any) -> Audience | None:
        """Who will read what ``name`` writes for ``args``; None when it cannot tell."""
        ...


def is_write_tool(tool: object) -> bool:
    """Whether ``tool`` is a write tool: marked ``writes = True``, or named in ``WRITE_TOOLS``."""
    return bool(getattr(tool, "writes", False)) or getattr(tool, "name", None) in WRITE_TOOLS


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

    def writes(self, name: str) -> bool:
        tool = self._tools.get(name)
        return name in WRITE_TOOLS if tool is None else is_write_tool(tool)

    async def target_audience(self, name: str, args: Any) -> Audience | None:
        tool = self._tools.get(name)
        ask = getattr(tool, "target_audience", None)
        if ask is None or not isinstance(args, dict):
            return None
        try:
            audience = await ask(args)
        except Exception:
            # Not knowing who reads it is no reason to skip approval: the wider audience.
            log.exception("target_audience of %s failed; treated as public", name)
            return Audience.PUBLIC
        return audience if isinstance(audience, Audience) else None

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
