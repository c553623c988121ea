"""``ComposedStore``: a ``Store`` assembled from one implementation per role.

Both stores are built this way: ``SqlStore`` from the SQL role classes sharing one engine,
``MemoryStore`` from the memory role classes sharing one set of tables. This class only
forwards each call to the part that implements its role; a subclass adds the ``Lifecycle``
methods, since only it knows what it owns (an engine, or nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from app.core import KeyClaim
from app.store.base import (
    Approvals,
    Browse,
    Feedback,
    Inbox,
    Jobs,
    Leases,
    Maintenance,
    Quotas,
    Sessions,
    Transcripts,
)
from app.store.personal import HomeReads, Mutes, SpokenIn
from app.store.types import (
    Approval,
    ApprovalDecision,
    Delivery,
    DeliveryStatus,
    EraseResult,
    Job,
    JobStatus,
    KeyLink,
    Opening,
    PruneResult,
    Session,
    SessionEvent,
    SessionFilter,
    SessionPage,
    SessionQuery,
    SessionStatus,
    SessionSummary,
    StoreStats,
    TranscriptEntry,
    TurnCommit,
    TurnRecord,
    Vote,
    VoteFilter,
    VoteValue,
)


class ComposedStore:
    """Every role method of ``Store``, forwarded to the part given for that role."""

    def __init__(
        self,
        *,
        inbox: Inbox,
        sessions: Sessions,
        leases: Leases,
        transcripts: Transcripts,
        maintenance: Maintenance,
        approvals: Approvals,
        quotas: Quotas,
        mutes: Mutes,
        home_reads: HomeReads,
        browse: Browse,
        jobs: Jobs,
        feedback: Feedback,
    ) -> None:
        self._inbox = inbox
        self._sessions = sessions
        self._leases = leases
        self._transcripts = transcripts
        self._maintenance = maintenance
        self._approvals = approvals
        self._quotas = quotas
        self._mutes = mutes
        self._home_reads = home_reads
        self._browse = browse
        self._jobs = jobs
        self._feedback = feedback

    # Inbox -------------------------------------------------------------------------------
    async def record_delivery(
        self,
        delivery_id: str,
        source: str,
        lane: str,
        payload: dict[str, Any],
        *,
        max_pending: int | None = None,
    ) -> bool:
        return await self._inbox.record_delivery(
            delivery_id, source, lane, payload, max_pending=max_pending
        )

    async def claim_delivery(self, holder: str, lease_seconds: float) -> Delivery | None:
        return await self._inbox.claim_delivery(holder, lease_seconds)

    async def claim_turn(self, holder: str, lease_seconds: float) -> Delivery | None:
        """``Store.claim_turn`` as the roles' own calls, one after another (each atomic);
        the SQL store overrides it with one transaction."""
        delivery = await self._inbox.claim_delivery(holder, lease_seconds)
        if delivery is None:
            return None
        lane = delivery.lane
        session, fence = await self._leases.acquire_lease_for_key(lane, holder, lease_seconds)
        messages = None
        if session is not None and fence is not None:
            messages = await self._transcripts.load_messages(session.id)
        previous = await self._inbox.previous_delivery(lane, delivery.id)
        return replace(delivery, opening=Opening(session, fence, messages, previous))

    async def start_session(
        self, agent: str, key: str, holder: str, lease_seconds: float, *, turn_id: str | None
    ) -> Opening:
        """``Store.start_session`` as the roles' own calls; the SQL store overrides it with
        one transaction."""
        session = await self._sessions.create_session(agent, turn_id=turn_id)
        claim = await self._sessions.register_key(key, session.id, turn_id=turn_id)
        if not claim.registered:
            # Lost a first-writer race to another replica: the winner's is used, ours retired.
            cause = "lost key race"
            await self._sessions.end_session(session.id, "dropped", cause=cause, turn_id=turn_id)
        found, fence = await self._leases.acquire_lease_for_key(key, holder, lease_seconds)
        ours = claim.registered and found is not None and found.id == session.id
        return Opening(found, fence, [] if ours and fence is not None else None, None)

    async def extend_delivery(self, pk: int, holder: str, lease_seconds: float) -> bool:
        return await self._inbox.extend_delivery(pk, holder, lease_seconds)

    async def release_delivery(self, pk: int, holder: str, delay_seconds: float) -> None:
        await self._inbox.release_delivery(pk, holder, delay_seconds)

    async def finish_delivery(
        self, pk: int, holder: str, status: DeliveryStatus, error: str | None = None
    ) -> None:
        await self._inbox.finish_delivery(pk, holder, status, error)

    async def set_reply_ref(
        self, pk: int, ref: dict[str, Any], *, holder: str | None = None
    ) -> bool:
        return await self._inbox.set_reply_ref(pk, ref, holder=holder)

    async def get_delivery(self, pk: int) -> Delivery | None:
        return await self._inbox.get_delivery(pk)

    async def pending_count(self, lane: str) -> int:
        return await self._inbox.pending_count(lane)

    async def processing_delivery(self, lane: str) -> Delivery | None:
        return await self._inbox.processing_delivery(lane)

    async def previous_delivery(self, lane: str, before_pk: int) -> Delivery | None:
        return await self._inbox.previous_delivery(lane, before_pk)

    async def remember_posted(self, ref: str) -> None:
        await self._inbox.remember_posted(ref)

    async def was_posted(self, ref: str) -> bool:
        return await self._inbox.was_posted(ref)

    async def any_posted(self, refs: Sequence[str]) -> bool:
        return await self._inbox.any_posted(refs)

    async def remember_once(self, ref: str) -> bool:
        return await self._inbox.remember_once(ref)

    # Sessions ----------------------------------------------------------------------------
    async def create_session(self, agent: str, *, turn_id: str | None = None) -> Session:
        return await self._sessions.create_session(agent, turn_id=turn_id)

    async def get_session(self, session_id: str) -> Session | None:
        return await self._sessions.get_session(session_id)

    async def resolve(self, key: str) -> Session | None:
        return await self._sessions.resolve(key)

    async def session_for_key(self, key: str) -> Session | None:
        return await self._sessions.session_for_key(key)

    async def register_key(
        self, key: str, session_id: str, *, url: str | None = None, turn_id: str | None = None
    ) -> KeyClaim:
        return await self._sessions.register_key(key, session_id, url=url, turn_id=turn_id)

    async def unlink_key(self, key: str, *, cause: str, turn_id: str | None = None) -> str | None:
        return await self._sessions.unlink_key(key, cause=cause, turn_id=turn_id)

    async def keys_for(self, session_id: str) -> list[KeyLink]:
        return await self._sessions.keys_for(session_id)

    async def end_session(
        self,
        session_id: str,
        status: SessionStatus,
        *,
        cause: str,
        turn_id: str | None = None,
    ) -> None:
        await self._sessions.end_session(session_id, status, cause=cause, turn_id=turn_id)

    async def raise_audience(
        self, session_id: str, audience: str, *, cause: str, turn_id: str | None = None
    ) -> bool:
        return await self._sessions.raise_audience(
            session_id, audience, cause=cause, turn_id=turn_id
        )

    async def log_event(
        self, session_id: str, kind: str, *, cause: str | None = None, turn_id: str | None = None
    ) -> None:
        await self._sessions.log_event(session_id, kind, cause=cause, turn_id=turn_id)

    async def events_for(self, session_id: str) -> list[SessionEvent]:
        return await self._sessions.events_for(session_id)

    # Leases ------------------------------------------------------------------------------
    async def acquire_lease(self, session_id: str, holder: str, lease_seconds: float) -> int | None:
        return await self._leases.acquire_lease(session_id, holder, lease_seconds)

    async def renew_lease(
        self, session_id: str, holder: str, fence: int, lease_seconds: float
    ) -> bool:
        return await self._leases.renew_lease(session_id, holder, fence, lease_seconds)

    async def release_lease(self, session_id: str, holder: str, fence: int) -> None:
        await self._leases.release_lease(session_id, holder, fence)

    async def acquire_lease_for_key(
        self, key: str, holder: str, lease_seconds: float
    ) -> tuple[Session | None, int | None]:
        return await self._leases.acquire_lease_for_key(key, holder, lease_seconds)

    # Transcripts -------------------------------------------------------------------------
    async def load_transcript(self, session_id: str) -> list[TranscriptEntry]:
        return await self._transcripts.load_transcript(session_id)

    async def load_messages(self, session_id: str) -> list[dict[str, Any]]:
        return await self._transcripts.load_messages(session_id)

    async def commit_turn(self, commit: TurnCommit) -> None:
        await self._transcripts.commit_turn(commit)

    async def rewrite_messages(
        self,
        ref: str,
        rewrite: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
        *,
        cause: str,
    ) -> int:
        return await self._transcripts.rewrite_messages(ref, rewrite, cause=cause)

    async def record_turn(self, record: TurnRecord) -> None:
        await self._transcripts.record_turn(record)

    async def turns_for(self, session_id: str) -> list[TurnRecord]:
        return await self._transcripts.turns_for(session_id)

    # Maintenance -------------------------------------------------------------------------
    async def list_sessions(self, flt: SessionFilter) -> list[SessionSummary]:
        return await self._maintenance.list_sessions(flt)

    async def delete_session(self, session_id: str) -> bool:
        return await self._maintenance.delete_session(session_id)

    async def expire_sessions(self, *, batch: int = 500) -> int:
        return await self._maintenance.expire_sessions(batch=batch)

    async def prune(self, retention_days: float, *, batch: int = 500) -> PruneResult:
        return await self._maintenance.prune(retention_days, batch=batch)

    async def erase_author(
        self,
        source: str,
        author_id: str,
        *,
        replacement: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
        cause: str,
        batch: int = 500,
    ) -> EraseResult:
        return await self._maintenance.erase_author(
            source, author_id, replacement=replacement, cause=cause, batch=batch
        )

    async def stats(self) -> StoreStats:
        return await self._maintenance.stats()

    # Approvals ---------------------------------------------------------------------------
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
        return await self._approvals.create_approval(
            session_id=session_id,
            turn_id=turn_id,
            tool=tool,
            tool_input=tool_input,
            summary=summary,
            asked_by=asked_by,
            deciders=deciders,
            channel=channel,
            thread_ts=thread_ts,
            ttl_seconds=ttl_seconds,
        )

    async def get_approval(self, approval_id: str) -> Approval | None:
        return await self._approvals.get_approval(approval_id)

    async def set_approval_card(self, approval_id: str, card_ts: str) -> None:
        await self._approvals.set_approval_card(approval_id, card_ts)

    async def decide_approval(
        self, approval_id: str, status: ApprovalDecision, by: str
    ) -> Approval | None:
        return await self._approvals.decide_approval(approval_id, status, by)

    async def record_approval_result(self, approval_id: str, result: str, is_error: bool) -> None:
        await self._approvals.record_approval_result(approval_id, result, is_error)

    async def pending_approvals(self, session_id: str) -> list[Approval]:
        return await self._approvals.pending_approvals(session_id)

    # Quotas ------------------------------------------------------------------------------
    async def admit(self, *, scopes: list[tuple[str, int]], window_seconds: float) -> str | None:
        return await self._quotas.admit(scopes=scopes, window_seconds=window_seconds)

    async def add_tokens(self, *, scopes: list[str], tokens: int) -> None:
        await self._quotas.add_tokens(scopes=scopes, tokens=tokens)

    async def tokens_since(self, scope: str, since: datetime) -> int:
        return await self._quotas.tokens_since(scope, since)

    async def usage_by_scope(self, since: datetime, prefix: str) -> list[tuple[str, int]]:
        return await self._quotas.usage_by_scope(since, prefix)

    # Mutes -------------------------------------------------------------------------------
    async def mute_thread(self, key: str, by: str) -> bool:
        return await self._mutes.mute_thread(key, by)

    async def unmute_thread(self, key: str) -> bool:
        return await self._mutes.unmute_thread(key)

    async def is_muted(self, key: str) -> bool:
        return await self._mutes.is_muted(key)

    # HomeReads ---------------------------------------------------------------------------
    async def sessions_spoken_in(
        self, agent: str, source: str, author_id: str, *, limit: int
    ) -> list[SpokenIn]:
        return await self._home_reads.sessions_spoken_in(agent, source, author_id, limit=limit)

    async def approvals_waiting_for(
        self, agent: str, user_id: str, *, approver: bool, limit: int
    ) -> list[Approval]:
        return await self._home_reads.approvals_waiting_for(
            agent, user_id, approver=approver, limit=limit
        )

    # Browse ------------------------------------------------------------------------------
    async def browse_sessions(self, query: SessionQuery) -> SessionPage:
        return await self._browse.browse_sessions(query)

    async def keys_ever(self, session_id: str) -> list[str]:
        return await self._browse.keys_ever(session_id)

    async def transcript_after(self, session_id: str, seq: int) -> list[TranscriptEntry]:
        return await self._browse.transcript_after(session_id, seq)

    async def running_sessions(self, session_ids: list[str]) -> frozenset[str]:
        return await self._browse.running_sessions(session_ids)

    async def approvals_of_session(self, session_id: str) -> list[Approval]:
        return await self._browse.approvals_of_session(session_id)

    # Jobs --------------------------------------------------------------------------------
    async def create_job(
        self,
        *,
        job_id: str,
        session_id: str,
        runner: str,
        title: str,
        instructions: str,
        repo: str | None,
        asked_by: str,
        token_hash: str | None,
        ttl_seconds: float,
    ) -> Job:
        return await self._jobs.create_job(
            job_id=job_id,
            session_id=session_id,
            runner=runner,
            title=title,
            instructions=instructions,
            repo=repo,
            asked_by=asked_by,
            token_hash=token_hash,
            ttl_seconds=ttl_seconds,
        )

    async def get_job(self, job_id: str) -> Job | None:
        return await self._jobs.get_job(job_id)

    async def set_job_runner_id(self, job_id: str, runner_id: str) -> None:
        await self._jobs.set_job_runner_id(job_id, runner_id)

    async def finish_job(
        self,
        job_id: str,
        status: JobStatus,
        *,
        result: str | None,
        links: list[str],
        told: bool = False,
    ) -> Job | None:
        return await self._jobs.finish_job(job_id, status, result=result, links=links, told=told)

    async def untold_jobs(self, *, limit: int) -> list[Job]:
        return await self._jobs.untold_jobs(limit=limit)

    async def mark_job_told(self, job_id: str, run: int) -> None:
        await self._jobs.mark_job_told(job_id, run)

    async def resume_job(
        self, job_id: str, *, instructions: str, ttl_seconds: float, token_hash: str | None
    ) -> Job | None:
        return await self._jobs.resume_job(
            job_id, instructions=instructions, ttl_seconds=ttl_seconds, token_hash=token_hash
        )

    async def claim_jobs_to_poll(
        self, holder: str, lease_seconds: float, *, limit: int
    ) -> list[Job]:
        return await self._jobs.claim_jobs_to_poll(holder, lease_seconds, limit=limit)

    async def expire_jobs(self, *, limit: int) -> list[Job]:
        return await self._jobs.expire_jobs(limit=limit)

    async def jobs_of_session(self, session_id: str) -> list[Job]:
        return await self._jobs.jobs_of_session(session_id)

    async def jobs_asked_by(self, user_id: str, *, active_only: bool) -> list[Job]:
        return await self._jobs.jobs_asked_by(user_id, active_only=active_only)

    async def list_jobs(self, *, status: JobStatus | None, limit: int) -> list[Job]:
        return await self._jobs.list_jobs(status=status, limit=limit)

    # Feedback ----------------------------------------------------------------------------
    async def record_vote(
        self,
        *,
        channel: str,
        message_ts: str,
        user_id: str,
        vote: VoteValue,
        turn_id: str | None,
    ) -> Vote:
        return await self._feedback.record_vote(
            channel=channel, message_ts=message_ts, user_id=user_id, vote=vote, turn_id=turn_id
        )

    async def record_reason(
        self, *, channel: str, message_ts: str, user_id: str, reason: str
    ) -> Vote | None:
        return await self._feedback.record_reason(
            channel=channel, message_ts=message_ts, user_id=user_id, reason=reason
        )

    async def list_votes(self, flt: VoteFilter) -> list[Vote]:
        return await self._feedback.list_votes(flt)

    async def votes_for_turns(self, turn_ids: list[str]) -> list[Vote]:
        return await self._feedback.votes_for_turns(turn_ids)

    async def forget_voter(self, user_id: str) -> int:
        return await self._feedback.forget_voter(user_id)

    async def vote_totals(self) -> dict[VoteValue, int]:
        return await self._feedback.vote_totals()
