"""Ending a turn: commit it whole, or record why it committed nothing.

A complete turn's messages, usage, the tokens it spent (for the budgets) and the delivery's
completion are written in one transaction under the session lease's fence (``commit_turn``);
a turn whose lease was lost or whose session ended meanwhile commits nothing. Compactions are
logged and counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from app.core import Usage
from app.errors import LeaseLost
from app.store.base import Store, TurnCommit, TurnRecord
from app.turns.actions import TurnActions
from app.turns.attempts import Ran
from app.turns.limits import tokens_of
from app.turns.turn import Observer, Turn, context_message, new_message

log = logging.getLogger("app.turn")


class Endings:
    def __init__(
        self,
        store: Store,
        *,
        holder: str,
        model_name: str,
        observer: Observer,
        actions: TurnActions,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._holder = holder
        self._model_name = model_name
        self._observer = observer
        self._actions = actions
        self._clock = clock

    async def commit(self, turn: Turn, ran: Ran) -> None:
        result, outcome = ran.result, ran.outcome
        ref = turn.delivery.delivery_id
        messages = [
            *(context_message(m) for m in ran.before),
            *(new_message(m, turn.inbound, ref) for m in (turn.user, *result.messages)),
        ]
        usage = result.usage + ran.usage
        turn.lease.committing = True
        try:
            await self._store.commit_turn(
                TurnCommit(
                    session_id=turn.session_id,
                    fence=turn.lease.fence,
                    turn_id=turn.turn_id,
                    messages=messages,
                    usage=usage,
                    model=self._model_name,
                    outcome=outcome,
                    delivery_pk=turn.delivery.id,
                    holder=self._holder,
                    started_at=turn.started,
                    audience=turn.content_audience.value,
                    token_scopes=self._actions.spend_scopes(turn.inbound),
                    tokens=tokens_of(usage),
                )
            )
            turn.lease.released = True
        except LeaseLost:
            session = await self._store.get_session(turn.session_id)
            if session is None or session.status != "active":
                # Reset or dropped while this turn ran: its answer was shown, the
                # conversation starts over as asked; nothing to retry.
                log.info("session ended during the turn; answer not stored", extra=turn.log_extra)
                await self._store.finish_delivery(
                    turn.delivery.id, self._holder, "done", "session ended during the turn"
                )
                self._observer.turn_finished("superseded", None, usage)
                return
            log.warning("lease lost before commit; turn not stored", extra=turn.log_extra)
            self._observer.turn_finished("lease_lost", None, usage)
            return
        elapsed = asyncio.get_running_loop().time() - turn.t0
        self._observer.turn_finished(outcome, elapsed, usage)
        for kind in ran.compactions:
            self._observer.compacted(kind)
            await self._store.log_event(
                turn.session_id, "compacted", cause=kind, turn_id=turn.turn_id
            )
        if ran.reseeded:
            self._observer.reseeded()
        u = usage
        log.info(
            "turn done outcome=%s rounds=%d in=%d out=%d cache_read=%d cache_write=%d %.2fs",
            outcome,
            result.rounds,
            u.input_tokens,
            u.output_tokens,
            u.cache_read_tokens,
            u.cache_write_tokens,
            elapsed,
            extra=turn.log_extra,
        )

    async def fail(self, turn: Turn, outcome: str) -> None:
        await self.record(turn, outcome)
        await self._store.finish_delivery(turn.delivery.id, self._holder, "failed", outcome)

    async def record(self, turn: Turn, outcome: str) -> None:
        """Record (and count) a turn that committed no messages."""
        finished = self._clock()
        await self._store.record_turn(
            TurnRecord(
                turn.turn_id,
                turn.session_id,
                outcome,
                self._model_name,
                Usage(),
                turn.started,
                finished,
            )
        )
        seconds = (finished - turn.started).total_seconds()
        self._observer.turn_finished(outcome, seconds, Usage())
