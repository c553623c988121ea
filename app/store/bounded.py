"""The store's roles for bounded actions: approvals of write actions, and quotas (rate limits
and token budgets) counted in the database so they hold across replicas.

Both are part of ``Store`` (``app.store.base``, which re-exports them); they live here to keep
each module to one job. Times come from the store's injected clock, as everywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from app.store.types import Approval, ApprovalDecision


class Approvals(Protocol):
    """Write actions waiting for a person's decision (``Approval``).

    Invariants: an approval is decided at most once: of concurrent ``decide_approval`` calls
    on any replicas exactly one changes a ``pending`` approval, and only while ``now`` is at
    most ``expires_at``; a call after that marks it ``expired`` for good (``decided_by`` stays
    None). Reads show a ``pending`` approval past its expiry as ``expired``
    (``app.store.types.seen_at``). Approvals go with their session (``delete_session`` and
    ``prune``); ``prune`` also deletes those decided or expired before the retention period.
    """

    async def create_approval(
        self,
        *,
        session_id: str,
        turn_id: str,
        tool: str,
        tool_input: dict[str, Any],
        summary: dict[str, Any],
        asked_by: str,
        deciders: str,
        channel: str | None,
        thread_ts: str | None,
        ttl_seconds: float,
    ) -> Approval:
        """Record a ``pending`` approval expiring ``ttl_seconds`` from now, with a new id."""
        ...

    async def get_approval(self, approval_id: str) -> Approval | None: ...

    async def set_approval_card(self, approval_id: str, card_ts: str) -> None:
        """Remember the Slack message showing the approval's card (unknown id: nothing)."""
        ...

    async def decide_approval(
        self, approval_id: str, status: ApprovalDecision, by: str
    ) -> Approval | None:
        """Decide a ``pending`` approval (compare-and-set): ``status`` "approved" or
        "declined" (``ValueError`` otherwise), by ``by``, at now. After ``expires_at`` it
        becomes ``expired`` instead. Returns the approval as it is after the call, so the
        caller sees whether its decision is the one that holds (``status`` and
        ``decided_by``); None for an unknown id."""
        ...

    async def record_approval_result(self, approval_id: str, result: str, is_error: bool) -> None:
        """Remember what running the approved action gave (unknown id: nothing)."""
        ...

    async def pending_approvals(self, session_id: str) -> list[Approval]:
        """The session's approvals still waiting and not past their expiry, oldest first."""
        ...


class Quotas(Protocol):
    """Turn admissions and token spend per scope (``user:U1``, ``channel:C1``, ``workspace``).

    Invariants: ``admit`` is atomic across replicas: of concurrent calls sharing a scope, no
    more are admitted than its limit allows within the window. Quota events are kept for
    ``QUOTA_RETENTION`` (two days) and deleted by ``prune``.
    """

    async def admit(self, *, scopes: list[tuple[str, int]], window_seconds: float) -> str | None:
        """Admit one event for every scope, or none.

        For each ``(scope, limit)`` with ``limit > 0``, count the events admitted for that
        scope within the last ``window_seconds`` (an event exactly that old no longer
        counts). If a count has reached its limit, return the first such scope and record
        nothing; otherwise record one event for every scope given (also those without a
        limit, each scope once) and return None.
        """
        ...

    async def add_tokens(self, *, scopes: list[str], tokens: int) -> None:
        """Record ``tokens`` spent now for each scope (each scope once; 0: nothing;
        negative: ``ValueError``)."""
        ...

    async def tokens_since(self, scope: str, since: datetime) -> int:
        """Tokens recorded for ``scope`` at or after ``since``."""
        ...

    async def usage_by_scope(self, since: datetime, prefix: str) -> list[tuple[str, int]]:
        """Tokens per scope starting with ``prefix`` (case-sensitive; "" for all) at or after
        ``since``, largest first (ties by scope)."""
        ...
