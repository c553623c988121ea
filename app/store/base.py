"""The store's contract: what the turn pipeline, the webhooks and the CLI need from a database.

The contract is split by role, so a caller can ask for (and a test can fake) only the part it
uses; ``Store`` is all of them together::

    Store
    ├── Inbox         deliveries: record, claim in lane order, extend, release, finish;
    │                 what was posted for them, what we posted ourselves, refs kept once
    ├── Sessions      sessions with their keys (first writer wins), their audience (only
    │                 rises) and their event log
    ├── Leases        a session's turn lease with a fencing counter
    ├── Transcripts   transcripts with the turns that wrote them and their token usage;
    │                 rewriting the messages that came from one platform message
    ├── Maintenance   listing, deleting, expiring and pruning sessions; erasing a person;
    │                 stats
    ├── Approvals     write actions waiting for a person's decision (decided exactly once)
    ├── Quotas        turn admissions and token spend per scope, counted across replicas
    ├── Mutes         Slack threads muted while the bot follows threads
    ├── HomeReads     what a person's App Home reads: sessions they wrote in, open approvals
    ├── Jobs          long work handed to a runner: each run ends once; polled by one
    │                 replica at a time
    ├── Feedback      votes on answers: one per person per answer, with a thumbs-down's
    │                 reason
    ├── Browse        what the dashboard reads: sessions found by text and place, a page at
    │                 a time; keys ever held; transcript entries after a point; running turns;
    │                 every approval of a session
    └── Lifecycle     migrate, schema versions, ping, close

``Approvals`` and ``Quotas`` are defined in ``app.store.bounded``, ``Mutes`` and ``HomeReads``
in ``app.store.personal``; all are re-exported here.

Two implementations: ``SqlStore`` (``app.store.sql``: SQLite and PostgreSQL through SQLAlchemy's
async core) and ``MemoryStore`` (``app.store.memory``: plain dicts, for tests and tools). Both
pass the same contract suite (``tests/store/test_contract.py``).

All times are timezone-aware UTC. Every method raises ``StoreError`` (never a driver exception)
when the database is unreachable, locked or fails. The value types and the vocabulary (key,
live session, delivery, lease) are in ``app.store.types`` and re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from app.core import KeyClaim
from app.store.bounded import Approvals, Quotas
from app.store.personal import HomeReads, Mutes, SpokenIn
from app.store.types import (
    Approval,
    ApprovalDecision,
    ApprovalStatus,
    Delivery,
    DeliveryStatus,
    EraseResult,
    Job,
    JobStatus,
    KeyLink,
    NewMessage,
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
    is_live,
)

__all__ = [
    "Approval",
    "ApprovalDecision",
    "ApprovalStatus",
    "Approvals",
    "Browse",
    "Delivery",
    "DeliveryStatus",
    "EraseResult",
    "Feedback",
    "HomeReads",
    "Inbox",
    "Job",
    "JobStatus",
    "Jobs",
    "KeyLink",
    "Leases",
    "Lifecycle",
    "Maintenance",
    "Mutes",
    "NewMessage",
    "Opening",
    "PruneResult",
    "Quotas",
    "Session",
    "SessionEvent",
    "SessionFilter",
    "SessionPage",
    "SessionQuery",
    "SessionStatus",
    "SessionSummary",
    "Sessions",
    "SpokenIn",
    "Store",
    "StoreStats",
    "TranscriptEntry",
    "Transcripts",
    "TurnCommit",
    "TurnRecord",
    "Vote",
    "VoteFilter",
    "VoteValue",
    "is_live",
]


class Lifecycle(Protocol):
    """Opening, upgrading, checking and closing the store."""

    async def migrate(self) -> str:
        """Apply pending schema migrations (safe when several replicas start at once)."""
        ...

    async def schema_version(self) -> str | None:
        """The version the storage is at; None before the first ``migrate()``."""
        ...

    async def head_version(self) -> str:
        """The version this code needs (what ``migrate()`` brings the storage to)."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class Inbox(Protocol):
    """Inbound deliveries, the unit of work of the worker.

    Invariants: a ``delivery_id`` is recorded once; deliveries of one lane are claimed in the
    order they were recorded and never two at once; a claim is a lease that lapses, after which
    the delivery is claimable again (``attempts`` counts claims, not hand-backs); only the
    current holder can extend, release or finish a claim.
    """

    async def record_delivery(
        self,
        delivery_id: str,
        source: str,
        lane: str,
        payload: dict[str, Any],
        *,
        max_pending: int | None = None,
    ) -> bool:
        """Insert a delivery; False when ``delivery_id`` was seen before (a duplicate).

        With ``max_pending``, raise ``LaneFull`` (recording nothing) when ``lane`` already has
        that many unfinished deliveries: counted and inserted in one transaction.
        """
        ...

    async def claim_delivery(self, holder: str, lease_seconds: float) -> Delivery | None:
        """Claim the oldest pending delivery whose lane has no earlier unfinished delivery.

        Deliveries left ``processing`` by a holder whose lease expired are claimable again.
        The delivery's ``more`` and ``queued`` say what else the claim saw waiting.
        """
        ...

    async def extend_delivery(self, pk: int, holder: str, lease_seconds: float) -> bool: ...

    async def release_delivery(self, pk: int, holder: str, delay_seconds: float) -> None:
        """Hand a claimed delivery back (e.g. its session is busy elsewhere), not counted."""
        ...

    async def finish_delivery(
        self, pk: int, holder: str, status: DeliveryStatus, error: str | None = None
    ) -> None:
        """Mark a claimed delivery ``done`` or ``failed`` (ValueError for other statuses)."""
        ...

    async def set_reply_ref(
        self, pk: int, ref: dict[str, Any], *, holder: str | None = None
    ) -> bool:
        """Record what was posted for this delivery, so a retry edits instead of reposting.

        With ``holder``, only while that holder still has the delivery claimed (a turn that
        lost it must not overwrite what its successor recorded); returns whether it was set.
        """
        ...

    async def get_delivery(self, pk: int) -> Delivery | None: ...

    async def pending_count(self, lane: str) -> int:
        """How many deliveries of ``lane`` are not handled yet (pending or processing)."""
        ...

    async def processing_delivery(self, lane: str) -> Delivery | None:
        """The delivery of ``lane`` being handled now, if any (there is at most one: a lane's
        deliveries are handed out one at a time)."""
        ...

    async def previous_delivery(self, lane: str, before_pk: int) -> Delivery | None:
        """The latest handled (done or failed) delivery of ``lane`` before ``before_pk``."""
        ...

    async def remember_posted(self, ref: str) -> None:
        """Remember an item we posted ourselves.

        Refs look like ``github:comment:123`` or ``jira:comment:AD-1/9``.
        """
        ...

    async def was_posted(self, ref: str) -> bool: ...

    async def any_posted(self, refs: Sequence[str]) -> bool:
        """Whether any of ``refs`` was remembered: ``was_posted`` for several, in one look."""
        ...

    async def remember_once(self, ref: str) -> bool:
        """Remember ``ref`` (as ``remember_posted`` does) unless it is already remembered.

        True only for the one caller that recorded it, even among concurrent callers on
        several replicas; e.g. one refusal note per person per hour with refs like
        ``slack:refusal:U1:2026120115``. Refs are forgotten after the retention period
        (``prune``).
        """
        ...


class Sessions(Protocol):
    """Sessions, the keys that lead to them, and each session's event log.

    Invariants: a key points to at most one session; a key owned by a live session is never
    moved to another (first writer wins), one owned by an ended or stale session may be taken;
    ending a session releases all its keys. Events are kept in the order they were logged.
    A session starts ``public`` and its audience only ever rises (to ``internal``), each rise
    logged once as ``audience_changed``.
    """

    async def create_session(self, agent: str, *, turn_id: str | None = None) -> Session: ...

    async def get_session(self, session_id: str) -> Session | None: ...

    async def resolve(self, key: str) -> Session | None:
        """The live session a key points to, or None (unknown, ended or expired)."""
        ...

    async def session_for_key(self, key: str) -> Session | None:
        """The session the key points to, live or not (e.g. idle past the TTL but not yet
        marked expired); None when no session holds the key. Ending a session releases its
        keys, so a key never leads to a session that ended through ``end_session`` or
        ``expire_sessions``."""
        ...

    async def register_key(
        self, key: str, session_id: str, *, url: str | None = None, turn_id: str | None = None
    ) -> KeyClaim:
        """First-writer-wins: never moves a key owned by another live session."""
        ...

    async def unlink_key(self, key: str, *, cause: str, turn_id: str | None = None) -> str | None:
        """Remove a key; returns the session id it pointed to, if any."""
        ...

    async def keys_for(self, session_id: str) -> list[KeyLink]: ...

    async def end_session(
        self,
        session_id: str,
        status: SessionStatus,
        *,
        cause: str,
        turn_id: str | None = None,
    ) -> None:
        """Mark a session reset/dropped/expired and release its keys."""
        ...

    async def raise_audience(
        self, session_id: str, audience: str, *, cause: str, turn_id: str | None = None
    ) -> bool:
        """Make the session's audience ``audience`` if it is wider now (``public`` to
        ``internal``), logging ``audience_changed`` with ``cause``; True if it changed. Never
        narrows, so "public" changes nothing; an unknown session changes nothing; an unknown
        audience is a ``ValueError``."""
        ...

    async def log_event(
        self, session_id: str, kind: str, *, cause: str | None = None, turn_id: str | None = None
    ) -> None: ...

    async def events_for(self, session_id: str) -> list[SessionEvent]: ...


class Leases(Protocol):
    """A session's turn lease across replicas.

    Invariants: at most one holder at a time; every acquisition increments the session's
    fencing counter and returns it; a lease lapses at its deadline and can then be taken by
    anyone; renewing or releasing needs both the holder and the current fence.
    """

    async def acquire_lease(self, session_id: str, holder: str, lease_seconds: float) -> int | None:
        """Take the session's turn lease; returns the new fencing token, None when held (or
        the session is no longer active)."""
        ...

    async def renew_lease(
        self, session_id: str, holder: str, fence: int, lease_seconds: float
    ) -> bool: ...

    async def release_lease(self, session_id: str, holder: str, fence: int) -> None: ...

    async def acquire_lease_for_key(
        self, key: str, holder: str, lease_seconds: float
    ) -> tuple[Session | None, int | None]:
        """``resolve(key)`` and ``acquire_lease`` on its session, as one step: the live
        session the key points to (None: none) and the new fencing token (None: the lease is
        held). With a token, the session is as it stands under the lease."""
        ...


class Transcripts(Protocol):
    """A session's transcript, the turns that wrote it, and what they cost.

    Invariants: transcript ``seq`` numbers run 1, 2, 3... per session without gaps; messages
    are appended only by ``commit_turn``, under the fence of a held lease; a turn id names one
    record, and writing it again adds to its usage. Stored messages change only through
    ``rewrite_messages`` and ``Maintenance.erase_author``, which keep their seq, role and
    turn, and log why in the session's event log.
    """

    async def load_transcript(self, session_id: str) -> list[TranscriptEntry]: ...

    async def load_messages(self, session_id: str) -> list[dict[str, Any]]:
        """The transcript as Messages API messages (``role``, ``content``) only: what a turn
        replays, without the per-row metadata (cheaper on long sessions)."""
        ...

    async def commit_turn(self, commit: TurnCommit) -> None:
        """Append messages, record usage, finish the delivery, touch the session: atomically.

        With ``commit.audience`` "internal", a session not yet internal becomes internal in
        the same transaction (``audience_changed``, cause "internal content"). Raises
        ``LeaseLost`` (and writes nothing) when ``commit.fence`` is no longer current or the
        session is no longer active; ``ValueError`` for an unknown audience.
        """
        ...

    async def rewrite_messages(
        self,
        ref: str,
        rewrite: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
        *,
        cause: str,
    ) -> int:
        """Replace the content of every transcript message with ``ref`` (in any session) by
        ``rewrite(content)``; ``rewrite`` gets a copy. Logs ``message_rewritten`` with
        ``cause`` once per session that changed, atomically with the change; returns how many
        messages changed (a rewrite that returns the content unchanged is not counted)."""
        ...

    async def record_turn(self, record: TurnRecord) -> None:
        """Record a turn that did not commit messages (failed, refused, command)."""
        ...

    async def turns_for(self, session_id: str) -> list[TurnRecord]: ...


class Maintenance(Protocol):
    """What operators and the periodic cleanup do across sessions."""

    async def list_sessions(self, flt: SessionFilter) -> list[SessionSummary]:
        """Sessions matching ``flt``, most recently active first (ties by id)."""
        ...

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session with its keys, transcript, turns, events, approvals and the votes
        on its answers; False if unknown."""
        ...

    async def expire_sessions(self, *, batch: int = 500) -> int:
        """Mark sessions no longer live as expired, releasing their keys; returns how many.

        Each gets an ``expired`` event whose cause names the limit it passed first: "idle for
        more than N days" (the TTL) or "older than N days" (the maximum age).
        """
        ...

    async def prune(self, retention_days: float, *, batch: int = 500) -> PruneResult:
        """Expire, then delete ended sessions (with transcripts, keys, events, approvals, votes),
        inbox rows handled before the retention period or received before it and never
        handled, remembered refs older than it, approvals decided or expired before it, and
        quota events older than ``QUOTA_RETENTION``."""
        ...

    async def erase_author(
        self,
        source: str,
        author_id: str,
        *,
        replacement: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
        cause: str,
        batch: int = 500,
    ) -> EraseResult:
        """Erase a person: every transcript message of ``source`` by ``author_id`` gets
        ``replacement(content)`` (given a copy) and no author name; the inbox rows of
        ``source`` whose payload's ``author_id`` is theirs are deleted. Logs ``author_erased``
        with ``cause`` once per session changed, in the same transaction as its change.
        Running it again rewrites the same messages again and deletes nothing more."""
        ...

    async def stats(self) -> StoreStats: ...


class Browse(Protocol):
    """What the dashboard reads across sessions; nothing here writes."""

    async def browse_sessions(self, query: SessionQuery) -> SessionPage:
        """A page of the sessions matching ``query`` (see ``SessionQuery``), most recently
        active first (ties by id), with how many match in all."""
        ...

    async def keys_ever(self, session_id: str) -> list[str]:
        """Every key the session holds or ever held, each once, in the order first linked."""
        ...

    async def transcript_after(self, session_id: str, seq: int) -> list[TranscriptEntry]:
        """The session's transcript entries with a ``seq`` above ``seq``, in order."""
        ...

    async def running_sessions(self, session_ids: list[str]) -> frozenset[str]:
        """Which of ``session_ids`` hold an unexpired turn lease now (a turn is running)."""
        ...

    async def approvals_of_session(self, session_id: str) -> list[Approval]:
        """Every approval of the session, whatever its status (as ``get_approval`` reads
        them), oldest first (ties by id)."""
        ...


class Jobs(Protocol):
    """Background jobs (``Job``): long work a session handed to a runner.

    Invariants: a ``running`` job ends exactly once per run (``finish_job`` is a
    compare-and-set, whichever replica and whatever report comes first), and only a finished
    run can be started again (``resume_job``). Jobs past ``expires_at`` still read as
    ``running`` until ``expire_jobs`` ends them. ``claim_jobs_to_poll`` hands a job to one
    replica at a time. Jobs go with their session (``delete_session`` and ``prune``).
    """

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
        """Record a ``running`` job expiring ``ttl_seconds`` from now (``StoreError`` when
        ``job_id`` exists)."""
        ...

    async def get_job(self, job_id: str) -> Job | None: ...

    async def set_job_runner_id(self, job_id: str, runner_id: str) -> None:
        """Remember the runner's own id for the job (unknown id: nothing)."""
        ...

    async def finish_job(
        self,
        job_id: str,
        status: JobStatus,
        *,
        result: str | None,
        links: list[str],
        told: bool = False,
    ) -> Job | None:
        """End a ``running`` job with ``status`` (one of ``JOB_OUTCOMES``, ``ValueError``
        otherwise), its result and links, at now; returns the job as ended by this call, or
        None when it was not running (ended before, or unknown): a late or repeated report
        changes nothing. ``told``: nobody needs to be told of this end (the turn that ended
        it says so itself)."""
        ...

    async def untold_jobs(self, *, limit: int) -> list[Job]:
        """Up to ``limit`` jobs whose run ended but whose end is not marked told, oldest end
        first (what a crash between ending a run and telling it left behind)."""
        ...

    async def mark_job_told(self, job_id: str, run: int) -> None:
        """The end of run ``run`` (``resume_count``) is in the inbox; nothing if the job
        moved on to another run, or is unknown."""
        ...

    async def resume_job(
        self, job_id: str, *, instructions: str, ttl_seconds: float, token_hash: str | None
    ) -> Job | None:
        """Start a finished run (``RESUMABLE``) again with follow-up ``instructions`` and
        the new run's ``token_hash``: ``running``, ``resume_count`` + 1, expiring
        ``ttl_seconds`` from now, result and links cleared, not told; None when it is
        running, cancelled, expired or unknown."""
        ...

    async def claim_jobs_to_poll(
        self, holder: str, lease_seconds: float, *, limit: int
    ) -> list[Job]:
        """Up to ``limit`` running jobs no other holder is polling now (oldest poll first),
        now held by ``holder`` for ``lease_seconds``."""
        ...

    async def expire_jobs(self, *, limit: int) -> list[Job]:
        """End up to ``limit`` running jobs past ``expires_at`` as ``expired``; returns those
        this call ended (each ended by exactly one caller)."""
        ...

    async def jobs_of_session(self, session_id: str) -> list[Job]:
        """The session's jobs, oldest first."""
        ...

    async def jobs_asked_by(self, user_id: str, *, active_only: bool) -> list[Job]:
        """The jobs ``user_id`` asked for (only running ones with ``active_only``), newest
        first."""
        ...

    async def list_jobs(self, *, status: JobStatus | None, limit: int) -> list[Job]:
        """Jobs (of one status, or all), newest first."""
        ...


class Feedback(Protocol):
    """Votes on answers (``Vote``), kept with the turn that wrote the answer.

    Invariants: one vote per person per answer (``channel``, ``message_ts``, ``user_id``);
    voting again changes it (``created_at`` stays, ``updated_at`` moves) and a change to
    ``up`` forgets the reason. A vote's ``session_id`` is the session of its turn as the
    store recorded it (``record_turn``/``commit_turn``), None for a turn it does not know.
    """

    async def record_vote(
        self,
        *,
        channel: str,
        message_ts: str,
        user_id: str,
        vote: VoteValue,
        turn_id: str | None,
    ) -> Vote:
        """Record or change the person's vote on the answer; returns it as stored
        (``ValueError`` for a vote that is not ``up`` or ``down``)."""
        ...

    async def record_reason(
        self, *, channel: str, message_ts: str, user_id: str, reason: str
    ) -> Vote | None:
        """Keep ``reason`` (cut to ``MAX_REASON_CHARS``; blank: none) with the person's
        thumbs-down on the answer; None (nothing kept) when their vote there is not one."""
        ...

    async def list_votes(self, flt: VoteFilter) -> list[Vote]:
        """Votes matching ``flt``, most recently changed first (ties by channel, ts, user)."""
        ...

    async def votes_for_turns(self, turn_ids: list[str]) -> list[Vote]:
        """The votes on answers of these turns, oldest first."""
        ...

    async def forget_voter(self, user_id: str) -> int:
        """Delete every vote (and reason) of ``user_id``; returns how many."""
        ...

    async def vote_totals(self) -> dict[VoteValue, int]:
        """How many votes are stored now, by value (both values, 0 when none): one
        aggregate over the votes."""
        ...


class Store(
    Inbox,
    Sessions,
    Leases,
    Transcripts,
    Maintenance,
    Approvals,
    Quotas,
    Browse,
    Jobs,
    Feedback,
    Mutes,
    HomeReads,
    Lifecycle,
    Protocol,
):
    """Persistence for sessions, keys, transcripts, the inbox, leases, the event log,
    approvals and quotas."""

    async def claim_turn(self, holder: str, lease_seconds: float) -> Delivery | None:
        """``claim_delivery``, and with it the claimed delivery's conversation (``opening``):
        ``acquire_lease_for_key`` on its lane, the session's messages when the lease was
        taken, and ``previous_delivery`` before it. The caller uses the lease or releases it.
        The SQL store does all of it in the claim's transaction."""
        ...

    async def start_session(
        self, agent: str, key: str, holder: str, lease_seconds: float, *, turn_id: str | None
    ) -> Opening:
        """A new session for ``key`` with its lease taken (``create_session``,
        ``register_key``, ``acquire_lease_for_key``, as one step): its ``messages`` are [].
        When another replica gave ``key`` a live session first, that session instead, as
        ``acquire_lease_for_key`` finds it (``messages`` None; ours is not kept). The SQL
        store does it in one transaction, rolled back when the key was taken."""
        ...
