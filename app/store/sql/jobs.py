"""The ``Jobs`` role in SQL: background jobs handed to a runner.

Ending a run is a compare-and-set ``UPDATE ... WHERE status = 'running'``: of concurrent
reports (a webhook on two replicas, a poll and a webhook, a late callback after expiry)
exactly one changes the row and gets it back; the others match nothing. Claiming jobs to poll
picks rows ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (``BEGIN IMMEDIATE`` serialises it on
SQLite) and sets ``poll_holder``/``poll_until``, so two replicas never poll one job at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Row, select, update

from app.store.schema import jobs
from app.store.sql.engine import Db, guard
from app.store.types import JOB_OUTCOMES, RESUMABLE, Job, JobStatus


def to_job(row: Row[Any]) -> Job:
    return Job(
        id=row.id,
        session_id=row.session_id,
        runner=row.runner,
        runner_id=row.runner_id,
        title=row.title,
        instructions=row.instructions,
        repo=row.repo,
        status=row.status,
        asked_by=row.asked_by,
        token_hash=row.token_hash,
        resume_count=int(row.resume_count),
        result=row.result,
        links=list(row.links or []),
        created_at=row.created_at,
        updated_at=row.updated_at,
        expires_at=row.expires_at,
        finished_at=row.finished_at,
        told=bool(row.told),
    )


class SqlJobs:
    """``Jobs`` on a ``Db``."""

    def __init__(self, db: Db) -> None:
        self._db = db

    @guard
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
        now = self._db.now()
        values: dict[str, Any] = {
            "id": job_id,
            "session_id": session_id,
            "runner": runner,
            "runner_id": None,
            "title": title,
            "instructions": instructions,
            "repo": repo,
            "status": "running",
            "asked_by": asked_by,
            "token_hash": token_hash,
            "resume_count": 0,
            "result": None,
            "links": [],
            "poll_holder": None,
            "poll_until": None,
            "created_at": now,
            "updated_at": now,
            "expires_at": now + timedelta(seconds=ttl_seconds),
            "finished_at": None,
            "told": False,
        }
        async with self._db.write() as conn:
            row = (await conn.execute(jobs.insert().values(**values).returning(*jobs.c))).one()
        return to_job(row)

    @guard
    async def get_job(self, job_id: str) -> Job | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).first()
        return to_job(row) if row is not None else None

    @guard
    async def set_job_runner_id(self, job_id: str, runner_id: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(runner_id=runner_id, updated_at=self._db.now())
            )

    @guard
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
        now = self._db.now()
        async with self._db.write() as conn:
            row = (
                await conn.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id, jobs.c.status == "running")
                    .values(
                        status=status,
                        result=result,
                        links=list(links),
                        updated_at=now,
                        finished_at=now,
                        poll_holder=None,
                        poll_until=None,
                        told=told,
                    )
                    .returning(*jobs.c)
                )
            ).first()
        return to_job(row) if row is not None else None

    @guard
    async def resume_job(
        self, job_id: str, *, instructions: str, ttl_seconds: float, token_hash: str | None
    ) -> Job | None:
        now = self._db.now()
        async with self._db.write() as conn:
            row = (
                await conn.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id, jobs.c.status.in_(RESUMABLE))
                    .values(
                        status="running",
                        instructions=instructions,
                        token_hash=token_hash,
                        resume_count=jobs.c.resume_count + 1,
                        result=None,
                        links=[],
                        updated_at=now,
                        expires_at=now + timedelta(seconds=ttl_seconds),
                        finished_at=None,
                        told=False,
                    )
                    .returning(*jobs.c)
                )
            ).first()
        return to_job(row) if row is not None else None

    @guard
    async def claim_jobs_to_poll(
        self, holder: str, lease_seconds: float, *, limit: int
    ) -> list[Job]:
        now = self._db.now()
        free = (jobs.c.status == "running") & (
            jobs.c.poll_until.is_(None) | (jobs.c.poll_until < now)
        )
        async with self._db.write() as conn:
            ids = (
                (
                    await conn.execute(
                        select(jobs.c.id)
                        .where(free)
                        .order_by(jobs.c.poll_until.is_not(None), jobs.c.poll_until, jobs.c.id)
                        .limit(max(limit, 0))
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            if not ids:
                return []
            rows = (
                await conn.execute(
                    update(jobs)
                    .where(jobs.c.id.in_(ids), free)
                    .values(poll_holder=holder, poll_until=now + timedelta(seconds=lease_seconds))
                    .returning(*jobs.c)
                )
            ).all()
        return sorted((to_job(row) for row in rows), key=lambda j: ids.index(j.id))

    @guard
    async def expire_jobs(self, *, limit: int) -> list[Job]:
        now = self._db.now()
        due = (jobs.c.status == "running") & (jobs.c.expires_at < now)
        async with self._db.write() as conn:
            ids = (
                (
                    await conn.execute(
                        select(jobs.c.id)
                        .where(due)
                        .order_by(jobs.c.expires_at, jobs.c.id)
                        .limit(max(limit, 0))
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            if not ids:
                return []
            rows = (
                await conn.execute(
                    update(jobs)
                    .where(jobs.c.id.in_(ids), due)
                    .values(
                        status="expired",
                        updated_at=now,
                        finished_at=now,
                        poll_holder=None,
                        poll_until=None,
                        told=False,
                    )
                    .returning(*jobs.c)
                )
            ).all()
        return sorted((to_job(row) for row in rows), key=lambda j: (j.expires_at, j.id))

    @guard
    async def untold_jobs(self, *, limit: int) -> list[Job]:
        stmt = (
            select(jobs)
            .where(jobs.c.status.in_(JOB_OUTCOMES), jobs.c.told.is_(False))
            .order_by(jobs.c.finished_at, jobs.c.id)
            .limit(max(limit, 0))
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [to_job(row) for row in rows]

    @guard
    async def mark_job_told(self, job_id: str, run: int) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                update(jobs)
                .where(
                    jobs.c.id == job_id,
                    jobs.c.resume_count == run,
                    jobs.c.status.in_(JOB_OUTCOMES),
                )
                .values(told=True)
            )

    @guard
    async def jobs_of_session(self, session_id: str) -> list[Job]:
        stmt = select(jobs).where(jobs.c.session_id == session_id)
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt.order_by(jobs.c.created_at, jobs.c.id))).all()
        return [to_job(row) for row in rows]

    @guard
    async def jobs_asked_by(self, user_id: str, *, active_only: bool) -> list[Job]:
        stmt = select(jobs).where(jobs.c.asked_by == user_id)
        if active_only:
            stmt = stmt.where(jobs.c.status == "running")
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt.order_by(jobs.c.created_at.desc(), jobs.c.id))).all()
        return [to_job(row) for row in rows]

    @guard
    async def list_jobs(self, *, status: JobStatus | None, limit: int) -> list[Job]:
        stmt = select(jobs)
        if status is not None:
            stmt = stmt.where(jobs.c.status == status)
        stmt = stmt.order_by(jobs.c.created_at.desc(), jobs.c.id).limit(max(limit, 0))
        async with self._db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [to_job(row) for row in rows]
