"""When a managed job's run has ended, as ``ManagedRunner.check`` reads it through the real SDK
from the fake Managed Agents API, and as the running app settles it: a continued job is not
ended by the previous run's idle (the follow-up not sent yet, or sent to a session that stays
idle a moment before it runs), nor by a late webhook of that idle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import anthropic
import pytest

from app.integrations.jobs.base import JobSpec
from app.integrations.jobs.managed import ManagedRunner
from app.store.types import Job
from tests.fakes.anthropic import FakeAnthropic, Reply, ToolCall
from tests.fakes.anthropic_agents import DEFAULT_AGENT_ID, DEFAULT_ENVIRONMENT_ID
from tests.harness import mention, replies
from tests.jobs.conftest import Fakes, settled, start, start_job

PR8 = "https://github.com/acme/widgets/pull/8"
DOCS = "https://docs.example.com/testing"


@pytest.fixture
async def claude() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        yield fake
        await fake.managed.close()


@pytest.fixture
async def runner(claude: FakeAnthropic) -> AsyncIterator[ManagedRunner]:
    client = anthropic.AsyncAnthropic(base_url=claude.url, api_key="test", max_retries=0)
    yield ManagedRunner(client, agent_id=DEFAULT_AGENT_ID, environment_id=DEFAULT_ENVIRONMENT_ID)
    await client.close()


def spec(instructions: str) -> JobSpec:
    return JobSpec("0" * 20, "s1", "Refactor", instructions, None)


async def first_run(runner: ManagedRunner, claude: FakeAnthropic) -> Job:
    """A job whose first run ended with "First pass done."."""
    runner_id = await runner.dispatch(spec("Split the parser"))
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    job = Job(
        id="0" * 20,
        session_id="s1",
        runner="managed",
        runner_id=runner_id,
        title="Refactor",
        instructions="Split the parser",
        repo=None,
        status="running",
        asked_by="U1",
        token_hash=None,
        resume_count=0,
        result=None,
        links=[],
        created_at=moment,
        updated_at=moment,
        expires_at=moment,
        finished_at=None,
    )
    assert await runner.check(job) is None  # running
    assert runner_id is not None
    claude.managed.finish(runner_id, "First pass done.")
    report = await runner.check(job)
    assert report is not None and (report.status, report.text) == ("succeeded", "First pass done.")
    return job


async def test_a_follow_up_not_sent_yet_is_still_going(
    runner: ManagedRunner, claude: FakeAnthropic
) -> None:
    job = await first_run(runner, claude)
    resumed = replace(job, resume_count=1, instructions="Add tests")  # recorded, not sent
    assert await runner.check(resumed) is None  # not the first run's end again

    await runner.follow_up(resumed, spec("Add tests"))
    assert await runner.check(resumed) is None  # running
    assert job.runner_id is not None
    claude.managed.finish(job.runner_id, "Tests added.")
    report = await runner.check(resumed)
    assert report is not None and (report.status, report.text) == ("succeeded", "Tests added.")


async def test_a_session_idle_for_a_while_after_the_follow_up_is_still_going(
    runner: ManagedRunner, claude: FakeAnthropic
) -> None:
    m = claude.managed
    job = await first_run(runner, claude)
    assert job.runner_id is not None
    resumed = replace(job, resume_count=1)
    m.hold_runs = True
    await runner.follow_up(resumed, spec("Add tests"))
    assert m.sessions[job.runner_id].status == "idle"
    assert await runner.check(resumed) is None  # not "stopped before finishing"

    m.begin(job.runner_id)
    assert await runner.check(resumed) is None
    m.require_action(job.runner_id)
    report = await runner.check(resumed)
    assert report is not None and report.status == "failed"
    assert "waiting for a confirmation" in report.text and "First pass" not in report.text


async def test_a_terminated_session_ends_the_run_once_its_message_is_there(
    runner: ManagedRunner, claude: FakeAnthropic
) -> None:
    job = await first_run(runner, claude)
    assert job.runner_id is not None
    claude.managed.terminate(job.runner_id)
    report = await runner.check(replace(job, resume_count=0))
    assert report is not None and report.status == "failed"
    assert "The session failed." in report.text
    # a follow-up that never reached the session (it refuses it) is not ended by that
    assert await runner.check(replace(job, resume_count=1)) is None


async def test_a_late_webhook_of_the_last_run_does_not_end_the_next(
    fakes: Fakes, sqlite_url: str
) -> None:
    f = fakes
    m = f.claude.managed
    async with start(f, sqlite_url) as bot:
        root, job = await start_job(bot, f)
        session = m.session_for(threadline_job=job.id)
        f.claude.script(Reply(text="Done once."))
        m.finish(session.id, "First pass done.")
        await m.settled()
        await settled(bot)

        m.hold_runs = True  # the follow-up waits a moment before it runs
        more = ToolCall("continue_background_job", {"job_id": job.id, "instructions": "Add tests."})
        f.claude.script(Reply(text="Continuing.", tool_calls=[more]), Reply(text="On it."))
        await bot.send_event(mention("add tests too", thread_ts=root))
        await settled(bot)
        url = bot.url + "/webhooks/anthropic"
        late: Any = m.webhook_event(session.id, "session.status_idled")
        assert (await m.deliver(late, url=url)).status == 200
        await settled(bot)
        running = await bot.store.get_job(job.id)
        assert running is not None and running.status == "running"

        m.begin(session.id)
        f.claude.script(Reply(text="Tests are in."))
        said = f"Tests added in {PR8}; how to run them: {DOCS}"
        m.finish(session.id, said)
        await m.settled()
        await settled(bot)
        done = await bot.store.get_job(job.id)
        assert done is not None and done.status == "succeeded" and done.result == said
        assert done.links == [PR8, DOCS]  # both told to Claude
        assert replies(f.slack, "C1", root)[-1] == "Tests are in."
        events = await bot.store.events_for(job.session_id)
        assert [e.cause for e in events if e.kind == "work_reported"] == [f"{job.id}: {PR8}"]
