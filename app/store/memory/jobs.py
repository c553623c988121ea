"""The ``Jobs`` role in memory: the same end-once, resume and poll-claim rules as
``app.store.sql.jobs``; the lock stands in for the compare-and-set."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from app.errors import StoreError
from app.store.memory.tables import Tables, json_copy
from app.store.types import JOB_OUTCOMES, RESUMABLE, Job, JobStatus


@dataclass
class JobRow:
    """A job with who polls its runner now (the columns ``Job`` does not show)."""

    job: Job
    poll_holder: str | None = None
    poll_until: datetime | None = None


def _copy(job: Job) -> Job:
    return replace(job, links=json_copy(job.links, op="jobs"))


class MemoryJobs:
    """``Jobs`` on ``Tables``."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

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
        t = self._t
        now = t.now()
        job = Job(
            id=job_id,
            session_id=session_id,
            runner=runner,
            runner_id=None,
            title=title,
            instructions=instructions,
            repo=repo,
            status="running",
            asked_by=asked_by,
            token_hash=token_hash,
            resume_count=0,
            result=None,
            links=[],
            created_at=now,
            updated_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
            finished_at=None,
        )
        async with t.lock:
            if job_id in t.jobs:
                raise StoreError("store.create_job failed: the job id exists")
            t.jobs[job_id] = JobRow(job)
        return _copy(job)

    async def get_job(self, job_id: str) -> Job | None:
        async with self._t.lock:
            row = self._t.jobs.get(job_id)
            return _copy(row.job) if row is not None else None

    async def set_job_runner_id(self, job_id: str, runner_id: str) -> None:
        t = self._t
        async with t.lock:
            row = t.jobs.get(job_id)
            if row is not None:
                row.job = replace(row.job, runner_id=runner_id, updated_at=t.now())

    async def finish_job(
        self,
        job_id: str,
        status: JobStatus,
        *,
        result: str | None,
        links: list[str],
        told: bool = False,
    ) -> Job | None:
        if status not in JOB_OUTCOMES:
            raise ValueError(f"finish_job takes {', '.join(JOB_OUTCOMES)}, not {status!r}")
        t = self._t
        now = t.now()
        kept = json_copy(links, op="finish_job")
        async with t.lock:
            row = t.jobs.get(job_id)
            if row is None or row.job.status != "running":
                return None
            row.job = replace(
                row.job,
                status=status,
                result=result,
                links=kept,
                updated_at=now,
                finished_at=now,
                told=told,
            )
            row.poll_holder = row.poll_until = None
            return _copy(row.job)

    async def resume_job(
        self, job_id: str, *, instructions: str, ttl_seconds: float, token_hash: str | None
    ) -> Job | None:
        t = self._t
        now = t.now()
        async with t.lock:
            row = t.jobs.get(job_id)
            if row is None or row.job.status not in RESUMABLE:
                return None
            row.job = replace(
                row.job,
                status="running",
                instructions=instructions,
                token_hash=token_hash,
                resume_count=row.job.resume_count + 1,
                result=None,
                links=[],
                updated_at=now,
                expires_at=now + timedelta(seconds=ttl_seconds),
                finished_at=None,
                told=False,
            )
            return _copy(row.job)

    async def claim_jobs_to_poll(
        self, holder: str, lease_seconds: float, *, limit: int
    ) -> list[Job]:
        t = self._t
        now = t.now()
        async with t.lock:
            free = [
                row
                for row in t.jobs.values()
                if row.job.status == "running" and (row.poll_until is None or row.poll_until < now)
            ]
            free.sort(
                key=lambda r: (r.poll_until or datetime.min.replace(tzinfo=now.tzinfo), r.job.id)
            )
            chosen = free[: max(limit, 0)]
            for row in chosen:
                row.poll_holder = holder
                row.poll_until = now + timedelta(seconds=lease_seconds)
            return [_copy(row.job) for row in chosen]

    async def expire_jobs(self, *, limit: int) -> list[Job]:
        t = self._t
        now = t.now()
        async with t.lock:
            due = [
                r for r in t.jobs.values() if r.job.status == "running" and r.job.expires_at < now
            ]
            due.sort(key=lambda r: (r.job.expires_at, r.job.id))
            ended = []
            for row in due[: max(limit, 0)]:
                row.job = replace(
                    row.job, status="expired", updated_at=now, finished_at=now, told=False
                )
                row.poll_holder = row.poll_until = None
                ended.append(_copy(row.job))
            return ended

    async def untold_jobs(self, *, limit: int) -> list[Job]:
        async with self._t.lock:
            ended = [
                r.job
                for r in self._t.jobs.values()
                if r.job.status in JOB_OUTCOMES and not r.job.told
            ]
        ended.sort(key=lambda j: (j.finished_at or j.updated_at, j.id))
        return [_copy(j) for j in ended[: max(limit, 0)]]

    async def mark_job_told(self, job_id: str, run: int) -> None:
        async with self._t.lock:
            row = self._t.jobs.get(job_id)
            if row is not None and row.job.resume_count == run and row.job.status in JOB_OUTCOMES:
                row.job = replace(row.job, told=True)

    async def jobs_of_session(self, session_id: str) -> list[Job]:
        async with self._t.lock:
            mine = [r.job for r in self._t.jobs.values() if r.job.session_id == session_id]
        mine.sort(key=lambda j: (j.created_at, j.id))
        return [_copy(j) for j in mine]

    async def jobs_asked_by(self, user_id: str, *, active_only: bool) -> list[Job]:
        async with self._t.lock:
            theirs = [
                r.job
                for r in self._t.jobs.values()
                if r.job.asked_by == user_id and (not active_only or r.job.status == "running")
            ]
        return [_copy(j) for j in _newest_first(theirs)]

    async def list_jobs(self, *, status: JobStatus | None, limit: int) -> list[Job]:
        async with self._t.lock:
            chosen = [
                r.job for r in self._t.jobs.values() if status is None or r.job.status == status
            ]
        return [_copy(j) for j in _newest_first(chosen)[: max(limit, 0)]]


def _newest_first(jobs: list[Job]) -> list[Job]:
    """Newest first, ties by id (as the SQL store orders them)."""
    jobs = sorted(jobs, key=lambda j: j.id)
    return sorted(jobs, key=lambda j: j.created_at, reverse=True)
