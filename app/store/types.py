"""The store's value types, and the one rule that decides whether a session is live.

Every time in these types is timezone-aware UTC. Everything here is plain data: frozen
dataclasses a caller may keep and compare, whatever store produced them.

Vocabulary
----------
* **key**: a printable platform key, ``{agent}:slack:C01::1763700000.000100``,
  ``{agent}:jira:AD-12``, ``{agent}:github:acme/widgets#42``.
* **live session**: status ``active``, active within the TTL (``ttl_days``) and created
  within the maximum age (``max_age_days``), both given to the store's constructor with an
  injectable clock; see ``is_live``.
* **audience** of a session: ``public`` until it holds anything said inside the organisation,
  then ``internal`` for good (``app.core.Audience`` values; a session never goes back).
* **ref** of a transcript message: the platform message a user message came from
  (``slack:C1:1763700000.000100``), so an edit or a deletion there can reach the transcript.
* **delivery**: one inbound message recorded in the inbox; the unit of work of the worker.
  Deliveries of one ``lane`` (the conversation key they arrived on) are handed out strictly in
  order and never two at once.
* **lease**: a session's turn lock across replicas, with a fencing counter; a turn commits only
  while it still holds the fence it was given.
* **approval**: a write action waiting for a person's decision. It is ``pending`` until someone
  decides it (``approved`` or ``declined``, exactly one decision wins) or until it is asked
  about after ``expires_at`` (``expired``); see ``seen_at``.
* **scope** of a quota: what a limit or a budget is counted for, ``user:U1``, ``channel:C1``,
  ``workspace``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from app.core import Usage

SessionStatus = Literal["active", "reset", "dropped", "expired"]
DeliveryStatus = Literal["pending", "processing", "done", "failed"]
ApprovalStatus = Literal["pending", "approved", "declined", "expired"]
ApprovalDecision = Literal["approved", "declined"]

# The statuses of a session that has ended (end_session takes only these).
ENDED_STATUSES: Final[tuple[SessionStatus, ...]] = ("reset", "dropped", "expired")
# Deliveries not yet handled: they hold up later deliveries of their lane.
UNFINISHED: Final[tuple[DeliveryStatus, ...]] = ("pending", "processing")
# How a delivery ends (finish_delivery takes only these).
FINISHED: Final[tuple[DeliveryStatus, ...]] = ("done", "failed")
# Audiences from the widest to the narrowest: a session only ever moves right.
AUDIENCES: Final[tuple[str, ...]] = ("public", "internal")
# How long a session may live at all, whatever its activity (SESSION_MAX_AGE_DAYS).
DEFAULT_MAX_AGE_DAYS: Final = 180.0
# What decide_approval takes.
DECISIONS: Final[tuple[ApprovalDecision, ...]] = ("approved", "declined")
# How long quota events are kept: limits look back an hour, budgets a day (``prune``).
QUOTA_RETENTION: Final = timedelta(days=2)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (every store's default clock)."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` as timezone-aware UTC; a naive value is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def audiences_below(audience: str) -> tuple[str, ...]:
    """The audiences a session may be raised from to ``audience`` (ValueError if unknown)."""
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {', '.join(AUDIENCES)}, not {audience!r}")
    return AUDIENCES[: AUDIENCES.index(audience)]


@dataclass(frozen=True)
class Session:
    id: str
    agent: str
    status: SessionStatus
    created_at: datetime
    last_active_at: datetime
    resume_count: int
    # "public" until the session holds internal content, then "internal" for good.
    audience: str = "public"


# -- liveness: the one rule ------------------------------------------------------------------
# A session is live while its status is ``active``, it was active at most ``ttl`` ago and it
# was created at most ``max_age`` ago (exactly at either limit still counts). ``max_age`` None:
# no age limit. ``app.store.sql.rows.live`` states the same rule as a SQL condition built from
# ``live_since`` and ``born_since``; the memory store calls ``is_live``. Change them together.


def live_since(now: datetime, ttl: timedelta) -> datetime:
    """The oldest ``last_active_at`` a live session may have at ``now``."""
    return now - ttl


def born_since(now: datetime, max_age: timedelta) -> datetime:
    """The oldest ``created_at`` a live session may have at ``now``."""
    return now - max_age


def is_live(
    session: Session, now: datetime, ttl: timedelta, max_age: timedelta | None = None
) -> bool:
    """Whether ``session``'s keys still lead to it: active, idle no longer than ``ttl`` and,
    with ``max_age``, created no longer than ``max_age`` ago."""
    return (
        session.status == "active"
        and session.last_active_at >= live_since(now, ttl)
        and (max_age is None or session.created_at >= born_since(now, max_age))
    )


def is_stale(
    session: Session, now: datetime, ttl: timedelta, max_age: timedelta | None = None
) -> bool:
    """Still marked ``active`` but no longer live: what ``expire_sessions`` marks expired."""
    return session.status == "active" and not is_live(session, now, ttl, max_age)


def expiry_cause(session: Session, ttl_days: float, max_age_days: float) -> str:
    """Why a stale session expires: whichever limit it passed first, idle or too old."""
    idle_at = session.last_active_at + timedelta(days=ttl_days)
    if session.created_at + timedelta(days=max_age_days) < idle_at:
        return f"older than {max_age_days:g} days"
    return f"idle for more than {ttl_days:g} days"


# -- the other records -----------------------------------------------------------------------


@dataclass(frozen=True)
class KeyLink:
    key: str
    session_id: str
    url: str | None
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    id: int
    delivery_id: str
    source: str  # "slack" | "github" | "jira"
    lane: str
    payload: dict[str, Any]
    status: DeliveryStatus
    attempts: int
    received_at: datetime
    reply_ref: dict[str, Any] | None
    # What the claim that handed it out saw (hints, never compared): ``more``, whether
    # another delivery could be claimed then too; ``queued``, whether a later delivery of its
    # lane was waiting for it. True unless the claim saw otherwise.
    more: bool = field(default=True, compare=False)
    queued: bool = field(default=True, compare=False)
    # What ``Store.claim_turn`` found of its conversation along with the claim (None from a
    # plain ``claim_delivery``).
    opening: Opening | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Opening:
    """A claimed delivery's conversation as ``Store.claim_turn`` found it, with the claim.

    ``session``: the live session the delivery's lane names as a key (None: none).
    ``fence``: that session's lease, taken for the claimer (None: no session, or another turn
    of it holds the lease); whoever claimed must use it or release it. ``messages``: the
    session's transcript as ``load_messages`` gives it, read under that lease (None without
    one). ``previous``: the lane's latest handled delivery before this one
    (``previous_delivery``).
    """

    session: Session | None
    fence: int | None
    messages: list[dict[str, Any]] | None
    previous: Delivery | None


@dataclass(frozen=True)
class TranscriptEntry:
    seq: int
    role: Literal["user", "assistant"]
    content: list[dict[str, Any]]
    author_id: str | None
    author_name: str | None
    source: str | None
    turn_id: str | None
    created_at: datetime
    # The platform message a user message came from (``slack:C1:1763700000.000100``).
    ref: str | None = None


@dataclass(frozen=True)
class NewMessage:
    role: Literal["user", "assistant"]
    content: list[dict[str, Any]]
    author_id: str | None = None
    author_name: str | None = None
    source: str | None = None
    ref: str | None = None  # see TranscriptEntry.ref


@dataclass(frozen=True)
class TurnCommit:
    """Everything a completed turn writes, in one transaction."""

    session_id: str
    fence: int
    turn_id: str
    messages: Sequence[NewMessage]
    usage: Usage
    model: str
    outcome: str  # "ok" | "ok_after_reset" | ...
    delivery_pk: int | None = None
    holder: str | None = None
    started_at: datetime | None = None
    # "internal": the turn brought internal content, so the session becomes internal (for
    # good) in the same transaction. None or "public" changes nothing.
    audience: str | None = None
    # The turn's tokens, recorded for the budgets of each scope in the same transaction
    # (what ``Quotas.add_tokens`` records); none when 0 or no scopes.
    token_scopes: Sequence[str] = ()
    tokens: int = 0


@dataclass(frozen=True)
class TurnRecord:
    turn_id: str
    session_id: str | None
    outcome: str
    model: str | None
    usage: Usage
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True)
class SessionEvent:
    session_id: str
    # created, resumed, key_linked, key_unlinked, dropped, reset, expired, audience_changed,
    # message_rewritten, author_erased, or whatever a caller logs with ``log_event``
    kind: str
    cause: str | None
    turn_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class SessionSummary:
    """A session as a list shows it. ``keys``: the keys it holds now, oldest first; when it
    holds none (it ended, or every key was unlinked), every key it ever held, so its place
    is still shown."""

    session: Session
    keys: list[str]
    turns: int
    usage: Usage


@dataclass(frozen=True)
class PruneResult:
    """What ``prune`` did. ``deliveries_deleted`` counts inbox rows handled before the
    retention period and rows received before it that were never handled."""

    sessions_expired: int = 0
    sessions_deleted: int = 0
    deliveries_deleted: int = 0
    events_deleted: int = 0
    # decided or expired before the retention period (those of deleted sessions not counted)
    approvals_deleted: int = 0
    # turn admissions and token spend older than ``QUOTA_RETENTION``
    quota_events_deleted: int = 0


@dataclass(frozen=True)
class Approval:
    """A write action waiting for (or past) a person's decision; what its card shows.

    ``status`` is an ``ApprovalStatus``; ``deciders`` says who besides ``APPROVERS`` may
    decide: ``"asker"`` (only ``asked_by``) or ``"channel"`` (any member of ``channel``).
    ``tool_input`` is what the tool runs with once approved; ``summary`` what the card shows
    (opaque JSON to the store). ``result`` is what running it gave, once it ran.
    """

    id: str  # uuid4 hex
    session_id: str
    turn_id: str
    tool: str
    tool_input: dict[str, Any]
    summary: dict[str, Any]
    asked_by: str
    deciders: str
    channel: str | None
    thread_ts: str | None
    card_ts: str | None
    status: str
    decided_by: str | None
    decided_at: datetime | None
    result: str | None
    result_is_error: bool
    created_at: datetime
    expires_at: datetime


def seen_at(approval: Approval, now: datetime) -> Approval:
    """``approval`` as it reads at ``now``: still ``pending`` after ``expires_at`` (nobody
    asked since) reads as ``expired``. Exactly at ``expires_at`` it may still be decided."""
    if approval.status == "pending" and now > approval.expires_at:
        return replace(approval, status="expired")
    return approval


@dataclass(frozen=True)
class EraseResult:
    """What ``erase_author`` changed: transcript messages, sessions holding them, inbox rows."""

    messages: int = 0
    sessions: int = 0
    deliveries: int = 0


@dataclass(frozen=True)
class SessionFilter:
    platform: str | None = None  # "slack" | "jira" | "github"
    key_contains: str | None = None
    active_within_days: float | None = None
    older_than_days: float | None = None
    status: SessionStatus | None = None
    limit: int = 50


@dataclass
class StoreStats:
    active_sessions: int = 0
    pending_deliveries: int = 0
    extra: dict[str, int] = field(default_factory=dict)


# -- browsing (the dashboard) ------------------------------------------------------------------


@dataclass(frozen=True)
class SessionQuery:
    """Which sessions a dashboard list shows (``Browse.browse_sessions``).

    A session's keys here are its current keys and every key it ever held (its ``key_linked``
    events), so a conversation that was reset or unlinked is still found by its place.
    ``text`` matches, ignoring case, a key, a participant's id or name, or the stored text of
    its transcript. ``key_prefixes`` None: every session; otherwise only sessions with a key
    starting with one of them (e.g. ``tl:slack:C1::``), the others are not counted either.
    ``agent``: only the sessions of that bot (``AGENT_NAME``: bots may share a database);
    None: every bot's.
    """

    agent: str | None
    text: str = ""
    platform: str | None = None
    status: SessionStatus | None = None
    key_prefixes: tuple[str, ...] | None = None
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True)
class SessionPage:
    """One page of a ``SessionQuery``: most recently active first (ties by id), the number of
    sessions matching in all, and which of the page's sessions hold a turn lease now."""

    sessions: list[SessionSummary]
    total: int
    running: frozenset[str] = frozenset()


# -- background jobs -------------------------------------------------------------------------

JobStatus = Literal["running", "succeeded", "failed", "cancelled", "expired"]
# How a job ends; a ``running`` job moves to one of these exactly once per run.
JOB_OUTCOMES: Final[tuple[JobStatus, ...]] = ("succeeded", "failed", "cancelled", "expired")
# Finished runs that ``resume_job`` may start again with follow-up instructions.
RESUMABLE: Final[tuple[JobStatus, ...]] = ("succeeded", "failed")


@dataclass(frozen=True)
class Job:
    """Long work handed to a runner for a session (``Jobs``).

    ``id`` is the id the runner sees too (a managed session's metadata, a dispatch's
    ``job_id``); ``runner_id`` is the runner's own id (a managed session id), once known.
    ``token_hash`` is the SHA-256 (hex) of a callback runner's bearer token, never the token.
    ``result`` is the runner's final text or summary, verbatim; ``links`` what it reported
    (pull requests, commits). A run ends once (``JOB_OUTCOMES``); ``resume_count`` counts the
    follow-ups that started it again.
    """

    id: str
    session_id: str
    runner: str  # managed | callback
    runner_id: str | None
    title: str
    instructions: str
    repo: str | None
    status: JobStatus
    asked_by: str
    token_hash: str | None
    resume_count: int
    result: str | None
    links: list[str]
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    finished_at: datetime | None
    # The end of the current run is in the inbox (``Jobs.mark_job_told``): its result turn
    # is on its way.
    told: bool = False

    @property
    def active(self) -> bool:
        return self.status == "running"


# -- votes on answers ------------------------------------------------------------------------

VoteValue = Literal["up", "down"]
VOTES: Final[tuple[VoteValue, ...]] = ("up", "down")
# The longest reason a thumbs-down keeps (the modal allows as much).
MAX_REASON_CHARS: Final = 1000


@dataclass(frozen=True)
class Vote:
    """One person's vote on one answer (a Slack message: ``channel``, ``message_ts``).

    ``turn_id`` is the turn that wrote the answer and ``session_id`` its session (None when
    the turn is not known, e.g. it committed nothing). ``reason`` is what the person said
    about a thumbs-down, if anything; it goes when the vote changes to a thumbs-up.
    """

    channel: str
    message_ts: str
    user_id: str
    vote: VoteValue
    session_id: str | None
    turn_id: str | None
    reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class VoteFilter:
    """Votes last changed in ``[since, until)``, in ``channel``, of one ``vote`` value."""

    since: datetime | None = None
    until: datetime | None = None
    channel: str | None = None
    vote: VoteValue | None = None
    limit: int = 200
