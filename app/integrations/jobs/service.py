"""Background jobs from start to result: what the tools, the routes and the poller call.

Lifecycle of a job (``{agent}:job:{job_id}`` is linked to its session while it may report)::

    start ──> running ──┬─> succeeded / failed   (a report: webhook, poll or callback)
                 ^      ├─> cancelled             (cancel_background_job, ``jobs cancel``)
                 │      └─> expired               (JOB_TIMEOUT_SECONDS without a report)
                 └── follow_up (succeeded / failed only; resume_count + 1)

A run ends once (``Jobs.finish_job`` is a compare-and-set), whoever reports first on whichever
replica. The run that ends it records one inbox delivery ``job:{job_id}:{run}`` on the job's key
(kind ``job_result``), which the worker turns into a turn of the session: exactly once (the
delivery id is fixed) and in order with anything else of that job. The job is then marked
``told``; an end left untold by a crash between the two steps is told by the next upkeep pass
(and by a repeated report), and the inbox drops a second copy. A report after the run ended
is acknowledged, logged in the session's event log (``job_late_report``) and changes nothing.

Metrics (``JobObserver``) are counted where a job starts and ends, except an operator's
``jobs cancel``: that process keeps no metrics, so its result delivery says so
(``uncounted``) and the bot that tells the conversation counts it (``count_end``).

Who may act: the tools act on jobs of the conversation they run in only; the callback token is
bound to one job and one run (only its SHA-256 is stored); operators cancel from the CLI.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any, Final, Literal, Protocol

from app.config import JobsSettings
from app.core import ConversationKey
from app.errors import IntegrationError, NotFound, StoreError
from app.integrations.jobs.base import JobReport, JobRunner, JobSpec, work_links
from app.store.base import Store
from app.store.types import Job

log = logging.getLogger(__name__)

JOB_RESULT_KIND: Final = "job_result"  # an inbox delivery bringing a run's end home
JOB_EVENT_KIND: Final = "job_event"  # an inbox delivery: a runner says a job changed
JOB_PLATFORM: Final = "job"
# A run's result told outside Slack is a message of author ``job:{job_id}`` (in Slack, of
# the person who asked for the job).
JOB_AUTHOR: Final = "job:"
# How many jobs one poll or expiry pass handles.
BATCH: Final = 20
# With webhooks, running jobs are still asked about now and then, in case one was lost.
SAFETY_NET_POLLS: Final = 10  # times JOB_POLL_SECONDS
SAFETY_NET_MAX_SECONDS: Final = 300.0
# Where the people who write are Slack users, and what a Slack user id looks like.
_SLACK_PEOPLE: Final = frozenset({"slack", "dashboard"})
_SLACK_USER: Final = re.compile(r"[UW][A-Z0-9]+")

Settled = Literal["recorded", "duplicate", "late", "unknown"]


class JobObserver(Protocol):
    """Receives job measurements (metrics); see ``app.metrics``."""

    def job_started(self, runner: str) -> None: ...

    def job_finished(self, runner: str, outcome: str, seconds: float | None) -> None: ...


class NoJobObserver:
    def job_started(self, runner: str) -> None:
        return None

    def job_finished(self, runner: str, outcome: str, seconds: float | None) -> None:
        return None


def poll_interval(poll_seconds: float, *, webhooks: bool) -> float:
    """How often each running job is asked about: every JOB_POLL_SECONDS without webhooks;
    with them, a safety net for a webhook that was lost, ``SAFETY_NET_POLLS`` times slower
    but never more than ``SAFETY_NET_MAX_SECONDS`` apart."""
    if not webhooks:
        return poll_seconds
    return min(poll_seconds * SAFETY_NET_POLLS, max(SAFETY_NET_MAX_SECONDS, poll_seconds))


def asker_id(platform: str, author_id: str) -> str:
    """Who asked for a job, as the job records it (``asked_by``): a Slack user's id as it is
    (asked in Slack, or on the dashboard signed in with Slack); anyone else's qualified by the
    platform they wrote on (``github:octocat``, ``jira:5b10…``, ``dashboard:operator``), so
    that nobody else is ever taken for a Slack user."""
    if platform in _SLACK_PEOPLE and _SLACK_USER.fullmatch(author_id):
        return author_id
    return f"{platform}:{author_id}"


def job_key(agent: str, job_id: str) -> str:
    """The printable key of a job: ``{agent}:job:{job_id}``."""
    return str(ConversationKey(agent, JOB_PLATFORM, job_id))


def token_hash(token: str) -> str:
    """What is stored of a callback token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(job: Job, token: str) -> bool:
    """Whether ``token`` is the job's current callback token (constant-time)."""
    if not job.token_hash:
        return False
    return secrets.compare_digest(token_hash(token), job.token_hash)


def result_payload(
    job: Job, *, counted: bool = True, seconds: float | None = None
) -> dict[str, Any]:
    """The inbox payload of a run's end (kept whole: a later run clears the job's row);
    not ``counted`` yet: with what the bot that tells it counts (``JobService.count_end``)."""
    payload: dict[str, Any] = {
        "kind": JOB_RESULT_KIND,
        "job_id": job.id,
        "run": job.resume_count,
        "title": job.title,
        "status": job.status,
        "result": job.result,
        "links": list(job.links),
        "asked_by": job.asked_by,
        "session_id": job.session_id,
    }
    if not counted:
        payload["uncounted"] = {"runner": job.runner, "seconds": seconds}
    return payload


class JobService:
    """Starts, continues, cancels and concludes jobs on one runner (see the module docstring).

    ``wake`` tells the worker a delivery was recorded. Methods raise ``IntegrationError``
    (the runner failed, or the job cannot do that now; ``NotFound`` for a job that is not
    there or not this conversation's) and ``StoreError``.
    """

    def __init__(
        self,
        store: Store,
        runner: JobRunner,
        settings: JobsSettings,
        *,
        agent: str,
        wake: Callable[[], None] = lambda: None,
        observer: JobObserver | None = None,
    ) -> None:
        self._store = store
        self.runner = runner
        self._settings = settings
        self._agent = agent
        self._wake = wake
        self._observer = observer or NoJobObserver()

    @property
    def timeout_seconds(self) -> int:
        return self._settings.timeout_seconds

    def key(self, job_id: str) -> str:
        return job_key(self._agent, job_id)

    async def job(self, job_id: str) -> Job | None:
        return await self._store.get_job(job_id)

    async def upkeep(self, holder: str, *, poll: bool) -> None:
        """Forever, every JOB_POLL_SECONDS: expire overdue runs and ask the runner about
        running jobs: each job once per JOB_POLL_SECONDS with ``poll`` (no webhook to tell
        us), else more rarely (``poll_interval``: a safety net for a webhook that never
        arrived), across replicas. A runner that reports back itself (callback) is never
        asked. Failures are logged and tried again next time; the loop ends only when
        cancelled."""
        every = poll_interval(self._settings.poll_seconds, webhooks=not poll)
        while True:
            try:
                await self.expire()
                await self.tell_untold()
                if not self.runner.reports_back:
                    await self.poll(holder, lease_seconds=every)
            except (StoreError, IntegrationError) as exc:
                log.warning("job upkeep failed, trying again later: %s", exc)
            except Exception:
                log.exception("job upkeep failed, trying again later")
            await asyncio.sleep(self._settings.poll_seconds)

    async def start(
        self,
        *,
        session_id: str,
        asked_by: str,
        title: str,
        instructions: str,
        repo: str | None,
        turn_id: str | None = None,
    ) -> Job:
        """Record, link and dispatch a new job; a dispatch that fails leaves it ``failed``."""
        job_id = uuid.uuid4().hex[:20]
        token = secrets.token_urlsafe(32) if self.runner.reports_back else None
        job = await self._store.create_job(
            job_id=job_id,
            session_id=session_id,
            runner=self.runner.name,
            title=title,
            instructions=instructions,
            repo=repo,
            asked_by=asked_by,
            token_hash=token_hash(token) if token else None,
            ttl_seconds=self._settings.timeout_seconds,
        )
        await self._store.register_key(self.key(job_id), session_id, turn_id=turn_id)
        spec = JobSpec(job_id, session_id, title, instructions, repo, token)
        try:
            runner_id = await self.runner.dispatch(spec)
        except IntegrationError as exc:
            await self._not_started(job, exc, turn_id)
            raise
        if runner_id:
            await self._store.set_job_runner_id(job_id, runner_id)
        await self._store.log_event(
            session_id, "job_started", cause=f"{job_id}: {title}", turn_id=turn_id
        )
        self._observer.job_started(self.runner.name)
        log.info("job %s started on %s", job_id, self.runner.name)
        return await self._store.get_job(job_id) or job

    async def follow_up(
        self, job_id: str, *, session_id: str, instructions: str, turn_id: str | None = None
    ) -> Job:
        """Start a finished job of this session again with follow-up instructions."""
        job = await self._own(job_id, session_id)
        token = secrets.token_urlsafe(32) if self.runner.reports_back else None
        resumed = await self._store.resume_job(
            job_id,
            instructions=instructions,
            ttl_seconds=self._settings.timeout_seconds,
            token_hash=token_hash(token) if token else None,
        )
        if resumed is None:
            raise IntegrationError(
                "jobs", f"job {job_id} is {job.status}; only a finished job can continue"
            )
        await self._store.register_key(self.key(job_id), session_id, turn_id=turn_id)
        spec = JobSpec(job_id, session_id, job.title, instructions, job.repo, token)
        try:
            await self.runner.follow_up(resumed, spec)
        except IntegrationError as exc:
            await self._not_started(resumed, exc, turn_id)
            raise
        await self._store.log_event(
            session_id,
            "job_resumed",
            cause=f"{job_id}: run {resumed.resume_count}",
            turn_id=turn_id,
        )
        self._observer.job_started(self.runner.name)
        return resumed

    async def cancel(
        self, job_id: str, *, session_id: str | None, by: str, turn_id: str | None = None
    ) -> Job:
        """Cancel a running job (of this session; ``session_id`` None: an operator). The
        conversation is told in a turn of its own unless the cancel came from one."""
        job = await self._own(job_id, session_id)
        from_a_turn = session_id is not None
        ended = await self._store.finish_job(
            job_id, "cancelled", result=f"Cancelled by {by}.", links=[], told=from_a_turn
        )
        if ended is None:
            raise IntegrationError("jobs", f"job {job_id} is {job.status} already")
        try:
            await self.runner.cancel(ended)
        except IntegrationError as exc:
            log.warning("job %s cancelled here, but the runner was not told: %s", job_id, exc)
        await self._store.unlink_key(self.key(job_id), cause="job cancelled", turn_id=turn_id)
        await self._concluded(ended, tell=not from_a_turn, counted=from_a_turn)
        return ended

    async def settle(self, job_id: str, report: JobReport) -> Settled:
        """A runner's report of how a run ended: the first ends it, the rest change nothing."""
        ended = await self._store.finish_job(
            job_id, report.status, result=report.text, links=report.links
        )
        if ended is not None:
            await self._concluded(ended)
            return "recorded"
        job = await self._store.get_job(job_id)
        if job is None:
            return "unknown"
        if job.status == report.status:
            # The same report again (a retry): make sure its result went home.
            if not job.told:
                await self._tell(job)
            return "duplicate"
        await self._store.log_event(
            job.session_id,
            "job_late_report",
            cause=f"{job.id}: {report.status} reported after it was {job.status}",
        )
        log.info("late report for job %s (%s); nothing changed", job.id, job.status)
        return "late"

    async def on_runner_event(self, runner_id: str) -> Settled | None:
        """A runner said one of its sessions changed (a webhook): read how it stands."""
        job_id = await self.runner.job_of(runner_id)
        job = await self._store.get_job(job_id) if job_id else None
        if job is None:
            log.info("runner event for a session that is not one of our jobs; ignored")
            return None
        if not job.active:
            return await self._late_event(job)
        if job.runner_id is None:  # dispatched, but its id was not recorded (the store failed)
            await self._store.set_job_runner_id(job.id, runner_id)
            job = replace(job, runner_id=runner_id)
        report = await self.runner.check(job)
        return None if report is None else await self.settle(job.id, report)

    async def poll(self, holder: str, *, lease_seconds: float | None = None) -> int:
        """Ask the runner about running jobs nobody asked about for ``lease_seconds``
        (JOB_POLL_SECONDS by default); how many ended."""
        # Held for one interval: each job is asked about once per interval, by one replica
        # (a slow answer past it may overlap the next, which ``settle`` makes harmless).
        lease = lease_seconds if lease_seconds is not None else self._settings.poll_seconds
        ended = 0
        for job in await self._store.claim_jobs_to_poll(holder, lease, limit=BATCH):
            try:
                report = await self.runner.check(job)
            except IntegrationError as exc:
                log.warning("could not ask the runner about job %s: %s", job.id, exc)
                continue
            if report is not None and await self.settle(job.id, report) == "recorded":
                ended += 1
        return ended

    async def expire(self) -> int:
        """End the runs past JOB_TIMEOUT_SECONDS: unlink, stop the runner, tell the session."""
        expired = await self._store.expire_jobs(limit=BATCH)
        for job in expired:
            try:
                await self.runner.cancel(job)
            except IntegrationError as exc:
                log.warning("expired job %s: the runner was not told: %s", job.id, exc)
            await self._store.unlink_key(self.key(job.id), cause="job expired")
            await self._concluded(job)
        return len(expired)

    async def _late_event(self, job: Job) -> Settled:
        if job.status in ("expired", "cancelled"):
            await self._store.log_event(
                job.session_id,
                "job_late_report",
                cause=f"{job.id}: runner event after {job.status}",
            )
            return "late"
        if not job.told:  # a redelivered event of a run that ended: its result goes home once
            await self._tell(job)
        return "duplicate"

    async def _own(self, job_id: str, session_id: str | None) -> Job:
        job = await self._store.get_job(job_id)
        if job is None or (session_id is not None and job.session_id != session_id):
            raise NotFound("jobs", f"there is no job {job_id} in this conversation")
        return job

    async def _not_started(self, job: Job, exc: IntegrationError, turn_id: str | None) -> None:
        log.warning("job %s not started: %s", job.id, exc)
        await self._store.finish_job(
            job.id,
            "failed",
            result=f"The runner did not take the job: {exc.message}",
            links=[],
            told=True,  # the tool's result says so in the turn that tried
        )
        await self._store.unlink_key(self.key(job.id), cause="job not started", turn_id=turn_id)
        self._observer.job_finished(self.runner.name, "not_started", None)

    def count_end(self, payload: dict[str, Any]) -> None:
        """Count a run's end that was not counted where it ended (see the module docstring)."""
        uncounted = payload.get("uncounted")
        if not isinstance(uncounted, dict):
            return
        seconds = uncounted.get("seconds")
        self._observer.job_finished(
            str(uncounted.get("runner") or ""),
            str(payload.get("status") or ""),
            float(seconds) if isinstance(seconds, int | float) else None,
        )

    async def _concluded(self, job: Job, *, tell: bool = True, counted: bool = True) -> None:
        """Log a run's end, count it (``counted``: here, else by whoever tells it) and
        ``tell`` the conversation."""
        await self._store.log_event(
            job.session_id, f"job_{job.status}", cause=f"{job.id}: {job.title}"
        )
        for link in work_links(job.links):
            await self._store.log_event(job.session_id, "work_reported", cause=f"{job.id}: {link}")
        # A run starts JOB_TIMEOUT_SECONDS before it expires (start and resume set that).
        started = job.expires_at - timedelta(seconds=self._settings.timeout_seconds)
        seconds = (job.finished_at - started).total_seconds() if job.finished_at else None
        if counted:
            self._observer.job_finished(job.runner, job.status, seconds)
        log.info("job %s %s", job.id, job.status)
        if tell:
            await self._tell(job, counted=counted, seconds=seconds)

    async def tell_untold(self) -> int:
        """Tell the ends a crash left untold (between ending a run and recording its result)."""
        untold = await self._store.untold_jobs(limit=BATCH)
        for job in untold:
            await self._tell(job)
        return len(untold)

    async def _tell(self, job: Job, *, counted: bool = True, seconds: float | None = None) -> None:
        """Hand a run's end to the inbox (once: its delivery id is fixed), then mark it told."""
        payload = result_payload(job, counted=counted, seconds=seconds)
        recorded = await self._store.record_delivery(
            f"job:{job.id}:{job.resume_count}", JOB_PLATFORM, self.key(job.id), payload
        )
        await self._store.mark_job_told(job.id, job.resume_count)
        if recorded:
            self._wake()
