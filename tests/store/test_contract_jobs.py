"""The store contract for background jobs, on every store (memory, SQLite, PostgreSQL):
creating and reading jobs, ending a run exactly once, resuming a finished run, claiming jobs
to poll one holder at a time, expiry on the injected clock, a session's and a person's jobs,
and their deletion with their session. Races between replicas (two ``SqlStore`` on one
database) are at the end, on the SQL stores only.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from app.errors import StoreError
from app.store import SqlStore
from app.store.base import Job, Store
from tests.conftest import TEST_TTL_DAYS, Clock

TTL = 3600.0


async def start(store: Store, session_id: str, job_id: str = "j1", **overrides: Any) -> Job:
    args: dict[str, Any] = {
        "runner": "callback",
        "title": "Refactor the parser",
        "instructions": "Split parse() in two.",
        "repo": "acme/widgets",
        "asked_by": "U1",
        "token_hash": hashlib.sha256(b"token").hexdigest(),
        "ttl_seconds": TTL,
    }
    args.update(overrides)
    return await store.create_job(job_id=job_id, session_id=session_id, **args)


# creating and reading -----------------------------------------------------------------------


async def test_create_and_get_a_job(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    job = await start(store, session.id)
    assert (job.id, job.session_id, job.runner, job.runner_id) == (
        "j1",
        session.id,
        "callback",
        None,
    )
    assert (job.title, job.instructions, job.repo) == (
        "Refactor the parser",
        "Split parse() in two.",
        "acme/widgets",
    )
    assert (job.status, job.asked_by, job.resume_count) == ("running", "U1", 0)
    assert job.active
    assert job.token_hash == hashlib.sha256(b"token").hexdigest()
    assert job.result is None and job.links == [] and job.finished_at is None
    assert job.created_at == job.updated_at == clock.now()
    assert job.expires_at == clock.now() + timedelta(seconds=TTL)
    assert job.expires_at.utcoffset() == timedelta(0)
    assert await store.get_job("j1") == job
    assert await store.get_job("nope") is None


async def test_a_job_id_is_recorded_once(store: Store) -> None:
    session = await store.create_session("tl")
    await start(store, session.id)
    with pytest.raises(StoreError):
        await start(store, session.id, title="again")
    job = await store.get_job("j1")
    assert job is not None and job.title == "Refactor the parser"


async def test_a_job_without_repo_or_token(store: Store) -> None:
    session = await store.create_session("tl")
    job = await start(store, session.id, runner="managed", repo=None, token_hash=None)
    assert (job.repo, job.token_hash) == (None, None)
    await store.set_job_runner_id("j1", "sesn_011")
    await store.set_job_runner_id("unknown", "sesn_x")  # nothing
    loaded = await store.get_job("j1")
    assert loaded is not None and loaded.runner_id == "sesn_011"


# ending a run once ----------------------------------------------------------------------------


async def test_a_run_ends_once(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    await start(store, session.id)
    clock.advance(minutes=5)
    links = ["https://github.com/acme/widgets/pull/7"]
    done = await store.finish_job("j1", "succeeded", result="Opened a PR.", links=links)
    assert done is not None
    assert (done.status, done.result, done.links) == ("succeeded", "Opened a PR.", links)
    assert done.finished_at == done.updated_at == clock.now()
    assert not done.active
    # a repeated or late report changes nothing
    assert await store.finish_job("j1", "failed", result="late", links=[]) is None
    assert await store.finish_job("j1", "expired", result=None, links=[]) is None
    assert await store.get_job("j1") == done
    assert await store.finish_job("unknown", "succeeded", result="x", links=[]) is None


async def test_finish_takes_only_outcomes(store: Store) -> None:
    session = await store.create_session("tl")
    await start(store, session.id)
    with pytest.raises(ValueError):
        await store.finish_job("j1", "running", result=None, links=[])


async def test_concurrent_reports_end_the_run_once(store: Store) -> None:
    session = await store.create_session("tl")
    await start(store, session.id)
    results = await asyncio.gather(
        *(store.finish_job("j1", "succeeded", result=f"r{n}", links=[]) for n in range(6))
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert await store.get_job("j1") == winners[0]


# resuming -------------------------------------------------------------------------------------


async def test_resume_a_finished_run(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    await start(store, session.id)
    # a running job cannot be resumed
    assert (
        await store.resume_job("j1", instructions="more", ttl_seconds=TTL, token_hash=None) is None
    )
    await store.finish_job("j1", "failed", result="tests failed", links=["https://x/1"])
    clock.advance(minutes=30)
    again = await store.resume_job(
        "j1", instructions="Fix the tests too.", ttl_seconds=600, token_hash="ab" * 32
    )
    assert again is not None
    assert (again.status, again.resume_count, again.instructions) == (
        "running",
        1,
        "Fix the tests too.",
    )
    assert again.result is None and again.links == [] and again.finished_at is None
    assert again.token_hash == "ab" * 32
    assert again.expires_at == clock.now() + timedelta(seconds=600)
    await store.finish_job("j1", "succeeded", result="ok", links=[])
    twice = await store.resume_job("j1", instructions="once more", ttl_seconds=TTL, token_hash=None)
    assert twice is not None and twice.resume_count == 2


@pytest.mark.parametrize("ending", ["cancelled", "expired"])
async def test_a_cancelled_or_expired_job_is_not_resumed(store: Store, ending: str) -> None:
    session = await store.create_session("tl")
    await start(store, session.id)
    await store.finish_job("j1", ending, result=None, links=[])  # type: ignore[arg-type]
    assert (
        await store.resume_job("j1", instructions="more", ttl_seconds=TTL, token_hash=None) is None
    )
    assert (
        await store.resume_job("unknown", instructions="more", ttl_seconds=TTL, token_hash=None)
        is None
    )


# polling and expiry ---------------------------------------------------------------------------


async def test_claiming_jobs_to_poll(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    for n in range(3):
        await start(store, session.id, f"j{n}")
    await store.finish_job("j2", "succeeded", result="done", links=[])
    first = await store.claim_jobs_to_poll("r1", 30, limit=10)
    assert [j.id for j in first] == ["j0", "j1"]
    # held: another holder gets nothing until the hold lapses
    assert await store.claim_jobs_to_poll("r2", 30, limit=10) == []
    clock.advance(seconds=31)
    assert [j.id for j in await store.claim_jobs_to_poll("r2", 30, limit=1)] == ["j0"]
    assert [j.id for j in await store.claim_jobs_to_poll("r1", 30, limit=5)] == ["j1"]
    # an ended run is no longer polled
    clock.advance(seconds=31)
    await store.finish_job("j0", "succeeded", result="done", links=[])
    assert [j.id for j in await store.claim_jobs_to_poll("r1", 30, limit=5)] == ["j1"]


async def test_expire_ends_overdue_runs_once(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    await start(store, session.id, "early", ttl_seconds=60)
    await start(store, session.id, "late", ttl_seconds=TTL)
    await start(store, session.id, "done", ttl_seconds=60)
    await store.finish_job("done", "succeeded", result="ok", links=[])
    clock.advance(seconds=60)
    assert await store.expire_jobs(limit=10) == []  # exactly at the limit: still running
    clock.advance(seconds=1)
    expired = await store.expire_jobs(limit=10)
    assert [(j.id, j.status) for j in expired] == [("early", "expired")]
    assert expired[0].finished_at == clock.now()
    assert await store.expire_jobs(limit=10) == []
    # a report after expiry changes nothing
    assert await store.finish_job("early", "succeeded", result="late", links=[]) is None
    late = await store.get_job("late")
    assert late is not None and late.status == "running"


async def test_expire_in_batches(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    for n in range(3):
        await start(store, session.id, f"j{n}", ttl_seconds=60 + n)
    clock.advance(seconds=100)
    assert [j.id for j in await store.expire_jobs(limit=2)] == ["j0", "j1"]
    assert [j.id for j in await store.expire_jobs(limit=2)] == ["j2"]


# reading by session and person ------------------------------------------------------------------


async def test_jobs_of_a_session_and_of_a_person(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    other = await store.create_session("tl")
    await start(store, session.id, "a", asked_by="U1")
    clock.advance(seconds=1)
    await start(store, other.id, "b", asked_by="U1")
    clock.advance(seconds=1)
    await start(store, session.id, "c", asked_by="U2")
    await store.finish_job("a", "succeeded", result="ok", links=[])
    assert [j.id for j in await store.jobs_of_session(session.id)] == ["a", "c"]
    assert [j.id for j in await store.jobs_asked_by("U1", active_only=False)] == ["b", "a"]
    assert [j.id for j in await store.jobs_asked_by("U1", active_only=True)] == ["b"]
    assert await store.jobs_asked_by("U9", active_only=False) == []
    assert [j.id for j in await store.list_jobs(status=None, limit=10)] == ["c", "b", "a"]
    assert [j.id for j in await store.list_jobs(status="running", limit=1)] == ["c"]
    assert [j.id for j in await store.list_jobs(status="succeeded", limit=10)] == ["a"]


async def test_stored_links_are_copies(store: Store) -> None:
    session = await store.create_session("tl")
    await start(store, session.id)
    links = ["https://x/1"]
    done = await store.finish_job("j1", "succeeded", result="ok", links=links)
    assert done is not None
    links.append("https://x/2")
    done.links.append("https://x/3")
    loaded = await store.get_job("j1")
    assert loaded is not None and loaded.links == ["https://x/1"]


# deletion --------------------------------------------------------------------------------------


async def test_jobs_go_with_a_deleted_session(store: Store) -> None:
    session = await store.create_session("tl")
    keeper = await store.create_session("tl")
    await start(store, session.id, "gone")
    kept = await start(store, keeper.id, "kept")
    assert await store.delete_session(session.id)
    assert await store.get_job("gone") is None
    assert await store.jobs_of_session(session.id) == []
    assert await store.get_job("kept") == kept


async def test_prune_deletes_the_jobs_of_sessions_it_deletes(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    await start(store, session.id)
    await store.end_session(session.id, "reset", cause="test")
    clock.advance(days=15)
    assert (await store.prune(retention_days=14)).sessions_deleted == 1
    assert await store.get_job("j1") is None


# replicas (SQL only) ---------------------------------------------------------------------------


@pytest.fixture
async def replicas(store_url: str, clock: Clock) -> AsyncIterator[list[SqlStore]]:
    stores = [SqlStore(store_url, ttl_days=TEST_TTL_DAYS, clock=clock.now) for _ in range(2)]
    try:
        await stores[0].migrate()
        yield stores
    finally:
        for s in stores:
            await s.close()


async def test_two_replicas_report_once_and_poll_apart(replicas: list[SqlStore]) -> None:
    session = await replicas[0].create_session("tl")
    for n in range(4):
        await start(replicas[0], session.id, f"j{n}")
    claims = await asyncio.gather(
        *(replicas[n % 2].claim_jobs_to_poll(f"r{n}", 30, limit=1) for n in range(6))
    )
    claimed = [job.id for batch in claims for job in batch]
    assert sorted(claimed) == ["j0", "j1", "j2", "j3"]
    reports = await asyncio.gather(
        *(replicas[n % 2].finish_job("j0", "succeeded", result=f"r{n}", links=[]) for n in range(6))
    )
    assert len([r for r in reports if r is not None]) == 1


# telling a run's end ---------------------------------------------------------------------------


async def test_an_ended_run_is_untold_until_marked(store: Store, clock: Clock) -> None:
    session = await store.create_session("tl")
    for n in range(3):
        await start(store, session.id, f"j{n}", ttl_seconds=60)
    assert await store.untold_jobs(limit=10) == []  # running jobs have nothing to tell
    done = await store.finish_job("j0", "succeeded", result="ok", links=[])
    assert done is not None and done.told is False
    clock.advance(seconds=1)
    quiet = await store.finish_job("j1", "cancelled", result=None, links=[], told=True)
    assert quiet is not None and quiet.told is True
    clock.advance(seconds=60)
    await store.expire_jobs(limit=10)
    assert [j.id for j in await store.untold_jobs(limit=10)] == ["j0", "j2"]
    assert [j.id for j in await store.untold_jobs(limit=1)] == ["j0"]
    await store.mark_job_told("j0", 0)
    await store.mark_job_told("j2", 5)  # another run: nothing
    await store.mark_job_told("unknown", 0)
    assert [j.id for j in await store.untold_jobs(limit=10)] == ["j2"]
    told = await store.get_job("j0")
    assert told is not None and told.told is True
    # a follow-up run starts untold again, and a running job cannot be marked
    again = await store.resume_job("j0", instructions="more", ttl_seconds=TTL, token_hash=None)
    assert again is not None and again.told is False
    await store.mark_job_told("j0", 1)
    running = await store.get_job("j0")
    assert running is not None and running.told is False
