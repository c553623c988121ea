"""The ``Approvals`` role in SQL: write actions waiting for a person's decision.

Deciding is a compare-and-set ``UPDATE`` whose ``WHERE`` requires the approval to be
``pending`` (and, to approve or decline, not past its expiry). On PostgreSQL a second
concurrent decider waits for the first one's row lock, re-checks the ``WHERE`` on the row the
first one committed and matches nothing; on SQLite ``BEGIN IMMEDIATE`` runs them one after the
other. Either way exactly one decision holds, and every caller reads back the row as it is
afterwards in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, select, update

from app.store.schema import approvals
from app.store.sql.engine import Db, guard
from app.store.types import DECISIONS, Approval, ApprovalDecision, seen_at


def to_approval(row: Row[Any]) -> Approval:
    return Approval(
        id=row.id,
        session_id=row.session_id,
        turn_id=row.turn_id,
        tool=row.tool,
        tool_input=row.tool_input,
        summary=row.summary,
        asked_by=row.asked_by,
        deciders=row.deciders,
        channel=row.channel,
        thread_ts=row.thread_ts,
        card_ts=row.card_ts,
        status=row.status,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        result=row.result,
        result_is_error=bool(row.result_is_error),
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


class SqlApprovals:
    """``Approvals`` on a ``Db``."""

    def __init__(self, db: Db) -> None:
        self._db = db

    @guard
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
        now = self._db.now()
        values = {
            "id": uuid.uuid4().hex,
            "session_id": session_id,
            "turn_id": turn_id,
            "tool": tool,
            "tool_input": tool_input,
            "summary": summary,
            "asked_by": asked_by,
            "deciders": deciders,
            "channel": channel,
            "thread_ts": thread_ts,
            "card_ts": None,
            "status": "pending",
            "decided_by": None,
            "decided_at": None,
            "result": None,
            "result_is_error": False,
            "created_at": now,
            "expires_at": now + timedelta(seconds=ttl_seconds),
        }
        async with self._db.write() as conn:
            row = (
                await conn.execute(approvals.insert().values(**values).returning(*approvals.c))
            ).one()
        return to_approval(row)

    @guard
    async def get_approval(self, approval_id: str) -> Approval | None:
        now = self._db.now()
        async with self._db.read() as conn:
            row = (
                await conn.execute(select(approvals).where(approvals.c.id == approval_id))
            ).first()
        return seen_at(to_approval(row), now) if row is not None else None

    @guard
    async def set_approval_card(self, approval_id: str, card_ts: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                update(approvals).where(approvals.c.id == approval_id).values(card_ts=card_ts)
            )

    @guard
    async def decide_approval(
        self, approval_id: str, status: ApprovalDecision, by: str
    ) -> Approval | None:
        if status not in DECISIONS:
            raise ValueError(f"decide_approval takes approved or declined, not {status!r}")
        now = self._db.now()
        this = approvals.c.id == approval_id
        pending = approvals.c.status == "pending"
        async with self._db.write() as conn:
            row = (
                await conn.execute(
                    update(approvals)
                    .where(this, pending, approvals.c.expires_at >= now)
                    .values(status=status, decided_by=by, decided_at=now)
                    .returning(*approvals.c)
                )
            ).first()
            if row is None:
                # Too late to decide: it expires now, for good (nobody decided it).
                row = (
                    await conn.execute(
                        update(approvals)
                        .where(this, pending, approvals.c.expires_at < now)
                        .values(status="expired")
                        .returning(*approvals.c)
                    )
                ).first()
            if row is None:
                # Decided before (or unknown): read it as the winner left it.
                row = (await conn.execute(select(approvals).where(this))).first()
        return to_approval(row) if row is not None else None

    @guard
    async def record_approval_result(self, approval_id: str, result: str, is_error: bool) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                update(approvals)
                .where(approvals.c.id == approval_id)
                .values(result=result, result_is_error=is_error)
            )

    @guard
    async def pending_approvals(self, session_id: str) -> list[Approval]:
        now = self._db.now()
        stmt = (
            select(approvals)
            .where(
                approvals.c.session_id == session_id,
                approvals.c.status == "pending",
                approvals.c.expires_at >= now,
            )
            .order_by(approvals.c.created_at, approvals.c.id)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [to_approval(row) for row in rows]
