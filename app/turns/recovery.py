"""What a failed model call does to a session (the "Failures of a turn" table).

``after_model_error`` (in ``outcome``) decides; this module carries out the one decision that
touches the store: the fresh-session retry. When the model rejects the replayed transcript,
the turn runs once more on a new session with no history. The old session stays leased
(nothing else may run on it) until the retry succeeds: then it is dropped and the new one
takes over every key of the old (the Slack thread and linked items). If the retry fails too,
the new session is dropped and the old one is left as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from app.agent.loop import AgentResult
from app.agent.model import Classified, Failure, classify
from app.errors import IntegrationError, StoreError
from app.store.base import Store
from app.turns import outcome as notes
from app.turns.lease import Leases
from app.turns.turn import Turn

log = logging.getLogger("app.turn")


class Recovery:
    def __init__(
        self,
        store: Store,
        leases: Leases,
        *,
        agent: str,
    ) -> None:
        self._store = store
        self._leases = leases
        self._agent = agent

    async def retry_fresh(
        self, turn: Turn, run: Callable[[], Awaitable[AgentResult]], cause: str
    ) -> tuple[AgentResult | None, str | None]:
        """Run ``run`` once more on a new session: (result, None) on success, the old session
        dropped for the new one; (None, note for the user) when it failed as well."""
        lease, turn_id, extra = turn.lease, turn.turn_id, turn.log_extra
        old = lease.session
        fresh = await self._store.create_session(self._agent, turn_id=turn_id)
        fresh_lease = await self._leases.acquire(fresh)
        if fresh_lease is None:  # pragma: no cover - nobody else knows the new id yet
            raise StoreError("could not lease a brand-new session")
        old_fence, (lease.session, lease.fence) = lease.fence, (fresh, fresh_lease.fence)
        try:
            result = await run()
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
            )
            return None, decision.note
        links = await self._store.keys_for(old.id)
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
        log.warning("session dropped and replaced by %s", fresh.id, extra=extra)
        return result, None


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
