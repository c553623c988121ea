"""Background jobs on Claude Managed Agents, through the running app against the fakes: a
mention whose turn starts a job, its end reported by a signed webhook or found by polling, the
result told in the thread and kept in the conversation, continue and cancel, forged and
replayed webhooks."""

from __future__ import annotations

import asyncio

from tests.actions.conftest import ShiftedClock, click, the_card
from tests.fakes.anthropic import Reply, ToolCall
from tests.fakes.anthropic_steps import Fail
from tests.harness import eventually, mention, new_ts, replies
from tests.jobs.conftest import PR, PUBLIC_REPO, REPO, Fakes, settled, start, start_call, start_job


async def test_a_mention_starts_a_job_and_its_result_comes_home(
    fakes: Fakes, sqlite_url: str
) -> None:
    f = fakes
    async with start(f, sqlite_url) as bot:
        root, job = await start_job(bot, f)
        assert job.status == "running" and job.runner == "managed" and job.asked_by == "U1"
        session = f.claude.managed.session_for(threadline_job=job.id)
        assert job.runner_id == session.id
        assert session.metadata == {"threadline_session": job.session_id, "threadline_job": job.id}
        assert session.resources[0]["url"] == f"https://github.com/{REPO}"
        assert session.user_texts() == ["Split parse() in two; open a PR."]
        assert await bot.store.resolve(f"threadline:job:{job.id}") is not None
        # the turn showed the hand-over as a task step of its answer: the job, still running
        # when the answer's stream stopped, with its ids as the step's details
        (started,) = [m for m in f.slack.messages("C1", root) if m.streamed]
        assert started.stopped
        step = started.chunks[-1]
        assert (step["type"], step["title"], step["status"]) == (
            "task_update",
            "Background job: Refactor the parser",
            "in_progress",
        )
        assert job.id in step["details"] and session.id in step["details"]
        assert {c["id"] for c in started.chunks} == {step["id"]}  # one step, updated

        f.claude.script(Reply(text="The refactor is done: PR 7."))
        f.claude.managed.finish(session.id, f"Done. Opened {PR}.")
        await f.claude.managed.settled()
        await settled(bot)

        done = await bot.store.get_job(job.id)
        assert done is not None and done.status == "succeeded"
        assert done.result == f"Done. Opened {PR}." and done.links == [PR]
        assert replies(f.slack, "C1", root)[-1] == "The refactor is done: PR 7."
        # the answer streamed to the person who asked, and opened with the job's step, done
        told = [m for m in f.slack.messages("C1", root) if m.streamed][-1]
        assert told.text == "The refactor is done: PR 7." and told is not started
        assert f.slack.calls_to("chat.startStream")[-1].params["recipient_user_id"] == "U1"
        assert [(c["title"], c["status"]) for c in told.chunks] == [
            ("Background job: Refactor the parser", "complete")
        ]
        assert told.chunks[0]["details"] == f"Job {job.id} finished."
        # the result entered the conversation as a message of the job, quoted verbatim
        last_user = f.claude.requests[-1]["messages"][-1]
        text = "\n".join(b["text"] for b in last_user["content"] if b["type"] == "text")
        assert "[job Refactor the parser (U1) in Slack]" in text
        assert f"> Done. Opened {PR}." in text
        events = [(e.kind, e.cause) for e in await bot.store.events_for(job.session_id)]
        assert ("work_reported", f"{job.id}: {PR}") in events
        assert ("job_succeeded", f"{job.id}: Refactor the parser") in events


async def test_polling_finds_the_end_without_a_webhook(fakes: Fakes, sqlite_url: str) -> None:
    f = fakes
    async with start(f, sqlite_url, webhook=False) as bot:
        root, job = await start_job(bot, f)
        session = f.claude.managed.session_for(threadline_job=job.id)
        f.claude.script(Reply(text="Finished, see the PR."))
        f.claude.managed.finish(session.id, f"Opened {PR}")

        async def ended() -> bool:
            found = await bot.store.get_job(job.id)
            return found is not None and found.status == "succeeded"

        for _ in range(100):  # polled every second: a wait, not a timing assertion
            if await ended():
                break
            await asyncio.sleep(0.1)
        assert await ended()
        await settled(bot)
        await eventually(lambda: "Finished, see the PR." in replies(f.slack, "C1", root))


async def test_forged_and_replayed_webhooks(fakes: Fakes, sqlite_url: str) -> None:
    f = fakes
    m = f.claude.managed
    async with start(f, sqlite_url) as bot:
        _, job = await start_job(bot, f)
        session = m.session_for(threadline_job=job.id)
        url = bot.url + "/webhooks/anthropic"
        event = m.webhook_event(session.id, "session.status_idled")
        for forge in ("bad_signature", "stale", "unsigned", "tampered"):
            delivery = await m.deliver(event, url=url, forge=forge)
            assert delivery.status == 401, forge
        delivery = await m.deliver(event, url=url, forge="malformed")
        assert delivery.status is not None and 400 <= delivery.status < 500
        # a genuine event of a session still running changes nothing
        first = await m.deliver(event, url=url)
        assert first.status == 200
        await settled(bot)
        running = await bot.store.get_job(job.id)
        assert running is not None and running.status == "running"
        # the same event again is acknowledged and dropped
        again = await m.replay(first)
        assert again.status == 200 and '"duplicate": true' in again.answer


async def test_continue_and_cancel(fakes: Fakes, sqlite_url: str) -> None:
    f = fakes
    m = f.claude.managed
    async with start(f, sqlite_url) as bot:
        root, job = await start_job(bot, f)
        session = m.session_for(threadline_job=job.id)
        f.claude.script(Reply(text="Done once."))
        m.finish(session.id, "First pass done.")
        await m.settled()
        await settled(bot)

        more = ToolCall("continue_background_job", {"job_id": job.id, "instructions": "Add tests."})
        f.claude.script(Reply(text="Continuing.", tool_calls=[more]), Reply(text="On it."))
        await bot.send_event(mention("add tests too", thread_ts=root))
        await settled(bot)
        resumed = await bot.store.get_job(job.id)
        assert resumed is not None and resumed.status == "running" and resumed.resume_count == 1
        assert session.user_texts()[-1] == "Add tests."  # a new user message, same session
        continued = [m for m in f.slack.messages("C1", root) if m.streamed][-1]
        assert (continued.chunks[-1]["title"], continued.chunks[-1]["status"]) == (
            "Background job: Refactor the parser",
            "in_progress",
        )

        stop = ToolCall("cancel_background_job", {"job_id": job.id})
        f.claude.script(Reply(text="Stopping.", tool_calls=[stop]), Reply(text="Stopped."))
        await bot.send_event(mention("stop it", thread_ts=root))
        await settled(bot)
        cancelled = await bot.store.get_job(job.id)
        assert cancelled is not None and cancelled.status == "cancelled"
        assert session.archived and session.status == "terminated"
        assert await bot.store.resolve(f"threadline:job:{job.id}") is None
        assert replies(f.slack, "C1", root)[-1] == "Stopping.\n\nStopped."  # told once


async def test_the_jobs_command_lists_a_threads_jobs(fakes: Fakes, sqlite_url: str) -> None:
    f = fakes
    async with start(f, sqlite_url) as bot:
        root, job = await start_job(bot, f)
        await bot.send_event(mention("jobs", thread_ts=root))
        await settled(bot)
        listing = replies(f.slack, "C1", root)[-1]
        assert f"Refactor the parser (`{job.id}`): running" in listing
        await bot.send_event(mention("links", thread_ts=root))
        await settled(bot)
        assert job.id not in replies(f.slack, "C1", root)[-1]  # jobs are not linked items


async def test_a_runner_that_refuses_leaves_no_job_running(fakes: Fakes, sqlite_url: str) -> None:
    f = fakes
    f.claude.managed.fail("sessions.create", Fail(500, "api_error", "down", times=3))
    async with start(f, sqlite_url) as bot:
        f.claude.script(
            Reply(text="Starting.", tool_calls=[start_call()]), Reply(text="It did not start.")
        )
        root = new_ts()
        await bot.send_event(mention("do it", ts=root))
        await settled(bot)
        assert replies(f.slack, "C1", root)[-1] == "Starting.\n\nIt did not start."
        tool_result = f.claude.requests[-1]["messages"][-1]["content"][0]
        assert tool_result["is_error"] is True and "answered 500" in str(tool_result["content"])
        session = await bot.store.resolve(f"threadline:slack:C1::{root}")
        assert session is not None
        (job,) = await bot.store.jobs_of_session(session.id)
        assert job.status == "failed" and job.result is not None
        assert await bot.store.resolve(f"threadline:job:{job.id}") is None


async def test_a_session_that_stops_short_fails_the_job_with_why(
    fakes: Fakes, sqlite_url: str
) -> None:
    f = fakes
    m = f.claude.managed
    async with start(f, sqlite_url) as bot:
        _, waiting = await start_job(bot, f)
        _, broken = await start_job(bot, f, title="Other")
        f.claude.script(Reply(text="It needs a hand."), Reply(text="It broke."))
        m.say(m.session_for(threadline_job=waiting.id).id, "Almost there.")
        m.require_action(m.session_for(threadline_job=waiting.id).id)
        await m.settled()
        await settled(bot)
        m.terminate(m.session_for(threadline_job=broken.id).id)
        await m.settled()
        await settled(bot)
        first = await bot.store.get_job(waiting.id)
        assert first is not None and first.status == "failed" and first.result is not None
        assert "waiting for a confirmation" in first.result and "Almost there." in first.result
        second = await bot.store.get_job(broken.id)
        assert second is not None and second.status == "failed" and second.result is not None
        assert "The session failed." in second.result
        status, page = await bot.get("/metrics")
        assert status == 200
        assert 'threadline_jobs_total{outcome="started",runner="managed"} 2.0' in page
        assert 'threadline_jobs_total{outcome="failed",runner="managed"} 2.0' in page
        assert 'threadline_job_seconds_count{runner="managed"} 2.0' in page


async def test_an_expired_job_stops_its_session_and_is_told(fakes: Fakes, sqlite_url: str) -> None:
    f = fakes
    m = f.claude.managed
    clock = ShiftedClock()
    async with start(f, sqlite_url, clock=clock) as bot:
        root, job = await start_job(bot, f)
        session = m.session_for(threadline_job=job.id)
        f.claude.script(Reply(text="The job ran out of time."))
        clock.advance(seconds=3601)
        for _ in range(100):  # the upkeep runs every JOB_POLL_SECONDS (1 s)
            expired = await bot.store.get_job(job.id)
            if expired is not None and expired.status == "expired":
                break
            await asyncio.sleep(0.1)
        await m.settled()
        await settled(bot)
        assert session.archived and session.status == "terminated"
        assert replies(f.slack, "C1", root)[-1] == "The job ran out of time."
        # the session's own end, reported after expiry, changes nothing
        late = m.webhook_event(session.id, "session.status_terminated")
        assert (await m.deliver(late, url=bot.url + "/webhooks/anthropic")).status == 200
        await settled(bot)
        still = await bot.store.get_job(job.id)
        assert still is not None and still.status == "expired"
        kinds = [e.kind for e in await bot.store.events_for(job.session_id)]
        assert kinds.count("job_expired") == 1 and "job_late_report" in kinds
        assert replies(f.slack, "C1", root)[-1] == "The job ran out of time."


async def test_a_job_on_a_public_repository_waits_for_approval(
    fakes: Fakes, sqlite_url: str
) -> None:
    f = fakes
    async with start(f, sqlite_url) as bot:
        f.claude.script(
            Reply(text="Starting.", tool_calls=[start_call(repo=PUBLIC_REPO)]),
            Reply(text="Waiting for approval."),
        )
        root = new_ts()
        await bot.send_event(mention("do it on the site repo", ts=root))
        await settled(bot)
        tool_result = f.claude.requests[-1]["messages"][-1]["content"][0]
        assert "Waiting for approval" in str(tool_result["content"])
        assert f.claude.managed.sessions == {}  # nothing dispatched yet
        session = await bot.store.resolve(f"threadline:slack:C1::{root}")
        assert session is not None and await bot.store.jobs_of_session(session.id) == []

        # the person who asked approves: the job starts, asked by them, and the thread is told
        f.claude.script(Reply(text="Approved and started."))
        await click(bot, the_card(f.slack, "C1", root), user="U1")
        await settled(bot)
        (job,) = await bot.store.jobs_of_session(session.id)
        assert job.status == "running" and job.asked_by == "U1" and job.repo == PUBLIC_REPO
        assert f.claude.managed.session_for(threadline_job=job.id) is not None
        assert replies(f.slack, "C1", root)[-1] == "Approved and started."
