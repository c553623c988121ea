"""What a failed model call does to a session (the "Failures of a turn" table).

``after_model_error`` (in ``outcome``) decides; this module carries out the one decision that
replaces a session: the fresh-session retry. When the model rejects the replayed transcript's
structure, the turn runs once more on a new session. Its history is only a seed: what was
said in the conversation's Slack thread (``Surface.seed``: people's messages and the bot's
replies, authors named, as one quoted block joined to the front of the turn's user message);
with no thread to read, nothing. The old session stays leased (nothing else may run on it)
until the retry succeeds: then it is dropped and the new one takes over every key of the old
(the Slack thread and linked items), and the seed is committed in front of the turn's user
message. If the retry fails too, the new session is dropped and the old one is left as it was.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.agent.loop import AgentResult
from app.agent.model import Classified, Failure, classify
from app.core import Audience, ConversationKey
from app.errors import IntegrationError, StoreError
from app.store.base import KeyLink, Store
from app.surfaces.base import SurfaceRegistry
from app.turns import outcome as notes
from app.turns import replay_window as rw
from app.turns.lease import Leases
from app.turns.turn import Turn

log = logging.getLogger("app.turn")

# Runs the turn once more with the history it is given (the seed, or nothing).
RunFresh = Callable[[list[dict[str, Any]]], Awaitable[AgentResult]]


@dataclass(frozen=True)
class FreshStart:
    """How the fresh retry went: its result (None when it failed too), the user's note, and
    the seed to commit in front of the turn's user message (its stored form)."""

    result: AgentResult | None
    note: str | None
    seed: dict[str, Any] | None = None


class Recovery:
    def __init__(
        self,
        store: Store,
        leases: Leases,
        surfaces: SurfaceRegistry,
        *,
        agent: str,
    ) -> None:
        self._store = store
        self._leases = leases
        self._surfaces = surfaces
        self._agent = agent

    async def retry_fresh(self, turn: Turn, run: RunFresh, cause: str) -> FreshStart:
        """Run the turn once more on a new session seeded from its thread: on success the old
        session is dropped for the new one; on failure the old one is left as it was."""
        lease, turn_id, extra = turn.lease, turn.turn_id, turn.log_extra
        old = lease.session
        links = await self._store.keys_for(old.id)
        seed_text = await self._seed(turn, links)
        seed = rw.seed_message(seed_text) if seed_text else None
        fresh = await self._store.create_session(self._agent, turn_id=turn_id)
        # What the old session held (and the seed from its thread) comes along: a fresh start
        # must not make an internal conversation public.
        if old.audience == Audience.INTERNAL.value or seed is not None:
            await self._store.raise_audience(
                fresh.id, Audience.INTERNAL.value, cause="started over", turn_id=turn_id
            )
        fresh_lease = await self._leases.acquire(fresh)
        if fresh_lease is None:  # pragma: no cover - nobody else knows the new id yet
            raise StoreError("could not lease a brand-new session")
        old_fence, (lease.session, lease.fence) = lease.fence, (fresh, fresh_lease.fence)
        try:
            result = await run([seed] if seed else [])
        except asyncio.CancelledError:
            # Stopped (or shut down) during the fresh run: the conversation stays where it
            # was, on the old session, and the new one is let go.
            lease.session, lease.fence = old, old_fence
            await self._store.end_session(
                fresh.id, "dropped", cause="fresh retry interrupted", turn_id=turn_id
            )
            raise
        except Exception as exc:
            if isinstance(exc, StoreError | IntegrationError):
                raise
            classified = classify(exc)
            log_failure(classified, exc, extra)
            await self._store.end_session(
                fresh.id, "dropped", cause="fresh retry failed", turn_id=turn_id
            )
            await self._store.release_lease(old.id, self._leases.holder, old_fence)
            decision = notes.after_model_error(
                classified,
                had_history=False,
                answer_started=bool(turn.reply.text_so_far.strip()),
                turn_id=turn_id,
                compacted=True,  # nothing is tried a second time: the note is final
                fell_back=True,
            )
            return FreshStart(None, decision.note)
        await self._store.end_session(
            old.id, "dropped", cause=f"model rejected the transcript ({cause})", turn_id=turn_id
        )
        # The fresh session takes over every door of the old one (the Slack thread and the
        # linked Jira/GitHub items), so comments there keep reaching this conversation.
        for link in links:
            claim = await self._store.register_key(
                link.key, fresh.id, url=link.url, turn_id=turn_id
            )
            if not claim.registered:
                log.warning("key %s taken by %s", link.key, claim.owner_session_id, extra=extra)
        if not any(link.key == turn.inbound.key for link in links):
            await self._store.register_key(turn.inbound.key, fresh.id, turn_id=turn_id)
        log.warning(
            "session dropped and replaced by %s (%s)",
            fresh.id,
            "seeded from the thread" if seed else "not seeded",
            extra=extra,
        )
        return FreshStart(result, notes.reseeded_note() if seed else notes.reset_note(), seed)

    async def _seed(self, turn: Turn, links: Sequence[KeyLink]) -> str | None:
        """What the conversation's surfaces remember of it: the first that has something
        (the turn's own place first, then the session's other keys, e.g. its Slack thread
        when a comment on a linked issue started the turn)."""
        keys = [turn.inbound.key, *(k.key for k in links if k.key != turn.inbound.key)]
        for key in keys:
            surface = self._surfaces.for_key(key)
            if surface is None:
                continue
            before = turn.inbound.ts if key == turn.inbound.key else None
            text = await surface.seed(ConversationKey.parse(key), before=before)
            if text:
                return text
        return None


def log_failure(classified: Classified, exc: BaseException, extra: dict[str, Any]) -> None:
    """Log a failed model call: an error naming the setting for configuration problems."""
    if classified.failure is Failure.CONFIGURATION:
        log.error(
            "model call failed: %s; check the %s setting",
            classified.detail,
            classified.setting,
            extra=extra,
        )
    else:
        log.warning(
            "model call failed (%s): %s", classified.failure.value, type(exc).__name__, extra=extra
        )
