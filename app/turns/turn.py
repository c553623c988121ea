"""The record of one turn in flight, and the small pieces a turn is built from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from app.agent.loop import Planner
from app.core import Audience, Inbound, Usage
from app.core.steps import TaskStep
from app.store.base import Delivery, NewMessage, Session
from app.surfaces.base import Reply
from app.turns.lease import SessionLease
from app.turns.replay import DeliveryRecord


class Observer(Protocol):
    """Receives turn measurements (metrics); a no-op by default."""

    def turn_finished(self, outcome: str, seconds: float | None, usage: Usage) -> None: ...

    def first_token(self, seconds: float) -> None: ...

    def compacted(self, kind: str) -> None:
        """A conversation was compacted: ``kind`` is ``server`` or ``client``."""
        ...

    def reseeded(self) -> None:
        """A dropped conversation started over, seeded from its thread's history."""
        ...

    def turn_refused(self, surface: str, reason: str) -> None:
        """A message was acknowledged but not answered (a limit, a policy)."""
        ...


class NoObserver:
    def turn_finished(self, outcome: str, seconds: float | None, usage: Usage) -> None:
        return None

    def first_token(self, seconds: float) -> None:
        return None

    def compacted(self, kind: str) -> None:
        return None

    def reseeded(self) -> None:
        return None

    def turn_refused(self, surface: str, reason: str) -> None:
        return None


@dataclass
class Turn:
    """One delivery being answered: what came in, the leases held, where the answer goes."""

    turn_id: str
    inbound: Inbound
    delivery: Delivery
    lease: SessionLease
    record: DeliveryRecord  # what earlier attempts of this delivery already did outside
    session: Session  # as resolved at the start (its audience)
    started: datetime
    t0: float  # loop time at start, for latency
    user: dict[str, Any] = field(default_factory=dict)  # the user message, as Claude reads it
    stopped: bool = False  # someone asked it to stop (``stopping``)
    followup: bool = False  # it reports a decided approval (no limits, no tools)
    read_internal: bool = False  # a tool brought in an internal place's content
    spent: Usage = field(default_factory=Usage)  # every model call of the turn so far
    said: list[dict[str, Any]] = field(default_factory=list)  # the agent's completed messages
    # Set once the turn knows where its answer goes (``ReplyRouter.plan``).
    reply: TurnReply = field(init=False)
    audience: Audience = field(init=False)  # who will read the answer
    place: Audience = field(init=False)  # who can read where the message was written

    @property
    def content_audience(self) -> Audience:
        """The most restricted place what this turn adds came from."""
        return Audience.INTERNAL if self.read_internal else self.place

    @property
    def session_id(self) -> str:
        return self.lease.session.id

    @property
    def log_extra(self) -> dict[str, Any]:
        return {"turn_id": self.turn_id, "key": self.inbound.key, "session_id": self.session_id}


@runtime_checkable
class StepShower(Protocol):
    """A ``Reply`` that shows steps as ``TaskStep`` says they read (Slack's task cards)."""

    async def show_step(self, step_id: str, step: TaskStep) -> None: ...


class TurnReply:
    """The turn's visible answer as the pipeline watches it: it times the first visible
    token, and keeps the text of the model call in flight (``current``: what a stop would
    otherwise lose), which restarts when that call's tools start."""

    def __init__(self, inner: Reply, on_first: Callable[[], None]) -> None:
        self._inner = inner
        self._on_first: Callable[[], None] | None = on_first
        self.current = ""

    @property
    def text_so_far(self) -> str:
        return self._inner.text_so_far

    async def begin(self) -> None:
        await self._inner.begin()

    async def finish(self, note: str | None = None) -> None:
        await self._inner.finish(note)

    async def text(self, delta: str) -> None:
        if self._on_first is not None:
            self._on_first()
            self._on_first = None
        self.current += delta
        await self._inner.text(delta)

    async def plan(self, calls: Sequence[tuple[str, str]]) -> None:
        if isinstance(self._inner, Planner):
            await self._inner.plan(calls)

    async def tool_started(self, call_id: str, name: str) -> None:
        self.current = ""  # the call that asked for tools is recorded whole
        await self._inner.tool_started(call_id, name)

    async def tool_finished(self, call_id: str, name: str, ok: bool) -> None:
        await self._inner.tool_finished(call_id, name, ok)

    async def tool_step(self, call_id: str, name: str, step: TaskStep) -> None:
        if isinstance(self._inner, StepShower):
            await self._inner.show_step(call_id, step)
        else:
            await self._inner.tool_finished(call_id, name, step.status != "error")

    async def show_step(self, step_id: str, step: TaskStep) -> None:
        """A step of the turn's own (a job's end), where the answer shows steps."""
        if isinstance(self._inner, StepShower):
            await self._inner.show_step(step_id, step)


def new_message(message: dict[str, Any], inbound: Inbound, ref: str | None) -> NewMessage:
    """A message of the turn as stored: user messages a person wrote carry their author and
    the id of the platform message (``ref``), so an edit or an erasure can find them."""
    is_person = message["role"] == "user" and any(
        b.get("type") == "text" for b in message["content"]
    )
    return NewMessage(
        role=message["role"],
        content=message["content"],
        author_id=inbound.author_id if is_person else None,
        author_name=inbound.author_name if is_person else None,
        source=inbound.source,
        ref=ref if is_person else None,
    )


def context_message(message: dict[str, Any]) -> NewMessage:
    """A message of the turn that no person wrote: a compaction summary or the seed of a
    restarted conversation (``replay_window``), stored with no author, source or ref, so
    edits and erasures of people's messages leave it alone."""
    return NewMessage(role=message["role"], content=message["content"])
