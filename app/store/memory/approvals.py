"""The ``Approvals`` role in memory: the same decide-once and expiry rules as
``app.store.sql.approvals``; the lock stands in for the compare-and-set."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

from app.store.memory.tables import Tables, approval_copy, json_copy
from app.store.types import DECISIONS, Approval, ApprovalDecision, seen_at


class MemoryApprovals:
    """``Approvals`` on ``Tables``."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

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
        t = self._t
        now = t.now()
        approval = Approval(
            id=uuid.uuid4().hex,
            session_id=session_id,
            turn_id=turn_id,
            tool=tool,
            tool_input=json_copy(tool_input, op="create_approval"),
            summary=json_copy(summary, op="create_approval"),
            asked_by=asked_by,
            deciders=deciders,
            channel=channel,
            thread_ts=thread_ts,
            card_ts=None,
            status="pending",
            decided_by=None,
            decided_at=None,
            result=None,
            result_is_error=False,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
        async with t.lock:
            t.approvals[approval.id] = approval
        return approval_copy(approval, op="create_approval")

    async def get_approval(self, approval_id: str) -> Approval | None:
        t = self._t
        now = t.now()
        async with t.lock:
            approval = t.approvals.get(approval_id)
            if approval is None:
                return None
            return approval_copy(seen_at(approval, now), op="get_approval")

    async def set_approval_card(self, approval_id: str, card_ts: str) -> None:
        t = self._t
        async with t.lock:
            approval = t.approvals.get(approval_id)
            if approval is not None:
                t.approvals[approval_id] = replace(approval, card_ts=card_ts)

    async def decide_approval(
        self, approval_id: str, status: ApprovalDecision, by: str
    ) -> Approval | None:
        if status not in DECISIONS:
            raise ValueError(f"decide_approval takes approved or declined, not {status!r}")
        t = self._t
        now = t.now()
        async with t.lock:
            approval = t.approvals.get(approval_id)
            if approval is None:
                return None
            if approval.status == "pending":
                if now > approval.expires_at:
                    approval = replace(approval, status="expired")
                else:
                    approval = replace(approval, status=status, decided_by=by, decided_at=now)
                t.approvals[approval_id] = approval
            return approval_copy(approval, op="decide_approval")

    async def record_approval_result(self, approval_id: str, result: str, is_error: bool) -> None:
        t = self._t
        async with t.lock:
            approval = t.approvals.get(approval_id)
            if approval is not None:
                t.approvals[approval_id] = replace(
                    approval, result=result, result_is_error=is_error
                )

    async def pending_approvals(self, session_id: str) -> list[Approval]:
        t = self._t
        now = t.now()
        async with t.lock:
            waiting = [
                a
                for a in t.approvals.values()
                if a.session_id == session_id and seen_at(a, now).status == "pending"
            ]
            waiting.sort(key=lambda a: (a.created_at, a.id))
            return [approval_copy(a, op="pending_approvals") for a in waiting]
