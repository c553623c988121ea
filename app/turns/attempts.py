"""A turn's model work and its retries: compaction, the fallback to client compaction, the
fresh start. The "Failures of a turn" table of the design, carried out.

1. The history is the stored transcript's window from its latest compaction point
   (``replay_window``), made lean.
2. In client mode, when that window and the new message are estimated over
   ``COMPACT_AT_TOKENS``, the older turns are summarised first (``compaction``); should that
   fail, the turn runs uncompacted.
3. The agent runs. A failure is classified and ``outcome.after_model_error`` decides:
   compact and run once more (too long), move the model to client compaction and run once
   more (the API refused server compaction), start over on a fresh session seeded from the
   thread (``recovery``: the transcript's structure was rejected), or a note for the user.
4. What the turn did to its conversation (``Ran``) is committed by the pipeline: a compaction
   point or a seed in front of the turn's user message, and the note the user reads.

A server compaction shows in the reply itself: an assistant message holding a ``compaction``
block with a summary. Either kind gets the one-line note ``compacted_note``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from app.agent.loop import AgentResult
from app.agent.model import Model, classify
from app.core import Usage
from app.errors import IntegrationError, StoreError
from app.turns import compaction
from app.turns import outcome as notes
from app.turns import replay_window as rw
from app.turns.recovery import Recovery, log_failure
from app.turns.replay import ReplayingTools
from app.turns.turn import Turn

log = logging.getLogger("app.turn")

# Runs the agent once over a history and the turn's user message (both as sent).
RunAgent = Callable[[list[dict[str, Any]], dict[str, Any]], Awaitable[AgentResult]]


@dataclass(frozen=True)
class Ran:
    """A turn that has its answer."""

    result: AgentResult
    outcome: str  # "ok" | "ok_after_reset"
    note: str | None = None  # shown after the answer
    before: list[dict[str, Any]] = field(default_factory=list)  # stored before the user message
    usage: Usage = field(default_factory=Usage)  # of the model calls besides the agent's
    compactions: tuple[str, ...] = ()  # "server" / "client", for the event log and metrics
    reseeded: bool = False


@dataclass(frozen=True)
class Failed:
    """A turn that ends with a note instead of an answer."""

    outcome: str
    note: str | None


class Attempts:
    def __init__(
        self, model: Model, recovery: Recovery, *, compact_at_tokens: int, timeout: float
    ) -> None:
        self._model = model
        self._recovery = recovery
        self._compact_at = compact_at_tokens
        self._timeout = timeout  # of the summarising call, as of each run of the agent

    async def run(
        self,
        turn: Turn,
        transcript: list[dict[str, Any]],
        tools: ReplayingTools,
        run_agent: RunAgent,
    ) -> Ran | Failed:
        """Run ``turn`` over its stored ``transcript`` (as loaded), retrying as decided."""
        window = rw.latest_window(transcript)
        history = rw.render(window)
        made: compaction.Compacted | None = None
        if self._model.compaction == "client" and self._over(history, turn.user):
            made = _made(await self._compact(turn, transcript, window, "size"))
        tried_compaction = made is not None
        fell_back = False
        while True:
            if made is not None:
                history = rw.render(rw.latest_window([*transcript, made.point]))
            try:
                result = await run_agent(*rw.join(history, turn.user))
            except Exception as exc:
                if isinstance(exc, StoreError | IntegrationError):
                    raise  # the store failed, or the answer could not be shown
                classified = classify(exc)
                log_failure(classified, exc, turn.log_extra)
                decision = notes.after_model_error(
                    classified,
                    had_history=bool(transcript),
                    answer_started=bool(turn.reply.text_so_far.strip()),
                    turn_id=turn.turn_id,
                    compaction=self._model.compaction,
                    compacted=tried_compaction,
                    fell_back=fell_back,
                )
                tools.restart()  # a rerun's n-th create call is still the n-th
                if decision.action is notes.Action.COMPACT:
                    tried_compaction = True
                    compacted = await self._compact(turn, transcript, window, "too_long")
                    if isinstance(compacted, Failed):
                        return compacted
                    made = compacted
                    continue
                if decision.action is notes.Action.FALL_BACK:
                    fell_back = True
                    self._model.fall_back_to_client_compaction()
                    log.info("falling back to client compaction", extra=turn.log_extra)
                    if made is None and self._over(history, turn.user):
                        made = _made(await self._compact(turn, transcript, window, "size"))
                        tried_compaction = tried_compaction or made is not None
                    continue
                if decision.action is notes.Action.RETRY_FRESH:
                    return await self._fresh(turn, run_agent, classified.detail)
                return Failed(decision.outcome, decision.note)
            return self._ran(result, made)

    def _over(self, history: list[dict[str, Any]], user: dict[str, Any]) -> bool:
        return rw.estimate_tokens(history) + rw.estimate_tokens([user]) > self._compact_at

    async def _compact(
        self, turn: Turn, transcript: list[dict[str, Any]], window: rw.Window, trigger: str
    ) -> compaction.Compacted | Failed:
        """Summarise the window's older turns; ``Failed`` (with what the user would be told)
        when there is nothing older to summarise or the summary could not be written."""
        plan = compaction.plan(window, len(transcript), compact_at_tokens=self._compact_at)
        if plan is None:
            log.info("nothing older to summarise (%s)", trigger, extra=turn.log_extra)
            return Failed("message_rejected", notes.too_large_note(turn.turn_id))
        try:
            async with asyncio.timeout(self._timeout):
                summary, usage = await compaction.summarise(
                    self._model, plan, compact_at_tokens=self._compact_at
                )
        except Exception as exc:
            if isinstance(exc, StoreError | IntegrationError):
                raise
            classified = classify(exc)
            log_failure(classified, exc, turn.log_extra)
            log.warning("could not summarise the older turns (%s)", trigger, extra=turn.log_extra)
            decision = notes.after_model_error(
                classified,
                had_history=False,
                answer_started=False,
                turn_id=turn.turn_id,
                compacted=True,  # nothing is tried a second time: the note is final
                fell_back=True,
            )
            return Failed(decision.outcome, decision.note)
        point = compaction.point_for(plan, summary, at=len(transcript), trigger=trigger)
        log.info(
            "summarised %d older messages (%s), keeping %d",
            len(plan.older),
            trigger,
            len(transcript) - plan.keep_from,
            extra=turn.log_extra,
        )
        return compaction.Compacted(point, usage, trigger)

    async def _fresh(self, turn: Turn, run_agent: RunAgent, cause: str) -> Ran | Failed:
        async def run(seed: list[dict[str, Any]]) -> AgentResult:
            return await run_agent(*rw.join(rw.render(rw.latest_window(seed)), turn.user))

        fresh = await self._recovery.retry_fresh(turn, run, cause)
        if fresh.result is None:
            return Failed("context_rejected", fresh.note)
        return Ran(
            fresh.result,
            "ok_after_reset",
            fresh.note,
            before=[fresh.seed] if fresh.seed else [],
            reseeded=fresh.seed is not None,
        )

    def _ran(self, result: AgentResult, made: compaction.Compacted | None) -> Ran:
        kinds = []
        if made is not None:
            kinds.append("client")
        if any(rw.server_compaction(m) is not None for m in result.messages):
            kinds.append("server")
        return Ran(
            result,
            "ok",
            notes.compacted_note() if kinds else None,
            before=[made.point] if made is not None else [],
            usage=made.usage if made is not None else Usage(),
            compactions=tuple(kinds),
        )


def _made(compacted: compaction.Compacted | Failed) -> compaction.Compacted | None:
    """A proactive compaction that did not happen leaves the turn to run uncompacted."""
    return None if isinstance(compacted, Failed) else compacted
