"""Background jobs on a callback runner, through the running app against the fake dispatch
receiver: what the dispatch carries, the job-bound token (401 without it, 403 when wrong or
for another job), a report bringing the result home once, a repeated report, malformed
reports, a follow-up with a new token, and a report after expiry."""

from __future__ import annotations

import asyncio
import hashlib
import json

from tests.actions.conftest import ShiftedClock
from tests.fakes.anthropic import Reply, ToolCall
from tests.fakes.dispatch import Dispatch
from tests.harness import Running, mention, replies
from tests.jobs.conftest import PR, REPO, Fakes, settled, start, start_job


def report_url(bot: Running, d: Dispatch) -> str:
    # The dispatch names PUBLIC_URL; in the tests the app listens on its own port.
    return f"{bot.url}/jobs/{d.job_id}/callback"


async def test_dispatch_report_and_result(fakes: Fakes, sqlite_url: str) -> None:
    f = fakes
    async with start(f, sqlite_url, runner="callback") as bot:
        root, job = await start_job(bot, f)
        (d,) = f.dispatch.dispatches
        assert d.body["job_id"] == job.id and d.body["repo"] == REPO
        assert d.body["title"] == "Refactor the parser"
        assert d.callback_url == f"https://threadline.example.com/jobs/{job.id}/callback"
        # only the token's SHA-256 is kept
        assert job.token_hash == hashlib.sha256(d.callback_token.encode()).hexdigest()
        assert d.callback_token not in json.dumps(job.__dict__, default=str)

        f.claude.script(Reply(text="Done: PR 7 is up."))
        status, text = await f.dispatch.report(
            d, summary="Opened the PR.", links=[PR, "not a link"], url=report_url(bot, d)
        )
        assert status == 200 and json.loads(text)["result"] == "recorded"
        await settled(bot)
        done = await bot.store.get_job(job.id)
        assert done is not None and done.status == "succeeded"
        assert (done.result, done.links) == ("Opened the PR.", [PR])
        assert replies(f.slack, "C1", root)[-1] == "Done: PR 7 is up."

        # the same report again: acknowledged, nothing more happens
        status, text = await f.dispatch.report(d, summary="Opened the PR.", url=report_url(bot, d))
        assert status == 200 and json.loads(text)["result"] == "duplicate"
        # another outcome after the end: acknowledged, logged, nothing changes
        status, text = await f.dispatch.report(d, status="failed", url=report_url(bot, d))
        assert status == 200 and json.loads(text)["result"] == "late"
        await settled(bot)
        assert replies(f.slack, "C1", root)[-1] == "Done: PR 7 is up."
        kinds = [e.kind for e in await bot.store.events_for(job.session_id)]
        assert kinds.count("job_succeeded") == 1 and "job_late_report" in kinds


async def test_the_token_guards_the_route(fakes: Fakes, sqlite_url: str) -> None:
    f = fakes
    async with start(f, sqlite_url, runner="callback") as bot:
        _, job = await start_job(bot, f)
        _, other = await start_job(bot, f, title="Another")
        d, d2 = f.dispatch.dispatches
        url = report_url(bot, d)
        assert (await f.dispatch.report(d, token="", url=url))[0] == 401
        assert (await f.dispatch.report(d, token="wrong-token", url=url))[0] == 403
        # the other job's token does not report this one
        assert (await f.dispatch.report(d, token=d2.callback_token, url=url))[0] == 403
        # an unknown job answers like a wrong token
        unknown = f"{bot.url}/jobs/{'0' * 20}/callback"
        assert (await f.dispatch.report(d, url=unknown))[0] == 403
        for body in ({"status": "done"}, {"status": "succeeded", "summary": 3}, [1], "x"):
            assert (await f.dispatch.report(d, body=body, url=url))[0] == 400
        response = await bot.post_raw(
            f"/jobs/{job.id}/callback",
            b"\xff\xfe not json",
            {"Authorization": f"Bearer {d.callback_token}"},
        )
        assert response.status == 400
        await settled(bot)
        for j in (job, other):
            still = await bot.store.get_job(j.id)
            assert still is not None and still.status == "running"


async def test_a_follow_up_gets_a_new_token(fakes: Fakes, sqlite_url: str) -> None:
    f = fakes
    async with start(f, sqlite_url, runner="callback") as bot:
        root, job = await start_job(bot, f)
        (d,) = f.dispatch.dispatches
        f.claude.script(Reply(text="First pass done."))
        await f.dispatch.report(d, summary="First pass.", url=report_url(bot, d))
        await settled(bot)
        more = ToolCall("continue_background_job", {"job_id": job.id, "instructions": "More."})
        f.claude.script(Reply(text="Continuing.", tool_calls=[more]), Reply(text="On it."))
        await bot.send_event(mention("and add tests", thread_ts=root))
        await settled(bot)
        d1, d2 = f.dispatch.dispatches
        assert d2.job_id == job.id and d2.body["instructions"] == "More."
        assert d2.callback_token != d1.callback_token
        # the first run's token no longer reports
        assert (await f.dispatch.report(d1, url=report_url(bot, d1)))[0] == 403
        f.claude.script(Reply(text="Second pass done."))
        status, _ = await f.dispatch.report(d2, summary="Tests added.", url=report_url(bot, d2))
        assert status == 200
        await settled(bot)
        done = await bot.store.get_job(job.id)
        assert done is not None and done.status == "succeeded" and done.resume_count == 1
        assert replies(f.slack, "C1", root)[-1] == "Second pass done."


async def test_expiry_and_a_late_report(fakes: Fakes, sqlite_url: str) -> None:
    f = fakes
    clock = ShiftedClock()
    async with start(f, sqlite_url, runner="callback", clock=clock) as bot:
        root, job = await start_job(bot, f)
        (d,) = f.dispatch.dispatches
        f.claude.script(Reply(text="The job timed out; want me to retry?"))
        clock.advance(seconds=3601)
        for _ in range(100):  # the upkeep runs every JOB_POLL_SECONDS (1 s)
            expired = await bot.store.get_job(job.id)
            if expired is not None and expired.status == "expired":
                break
            await asyncio.sleep(0.1)
        await settled(bot)
        expired = await bot.store.get_job(job.id)
        assert expired is not None and expired.status == "expired"
        assert await bot.store.resolve(f"threadline:job:{job.id}") is None
        assert replies(f.slack, "C1", root)[-1] == "The job timed out; want me to retry?"
        last = f.claude.requests[-1]["messages"][-1]["content"][0]["text"]
        assert "expired" in last and "no report within 60 minutes" in last
        # a report after expiry is acknowledged and changes nothing
        status, text = await f.dispatch.report(d, url=report_url(bot, d))
        assert status == 200 and json.loads(text)["result"] == "late"
        await settled(bot)
        still = await bot.store.get_job(job.id)
        assert still is not None and still.status == "expired"
        assert replies(f.slack, "C1", root)[-1] == "The job timed out; want me to retry?"


async def test_the_job_comes_with_a_link_to_its_dashboard_page(
    fakes: Fakes, sqlite_url: str
) -> None:
    f = fakes
    token = "operator-token-0123456789"
    async with start(f, sqlite_url, runner="callback", DASHBOARD_TOKEN=token) as bot:
        _, job = await start_job(bot, f)
        tool_result = f.claude.requests[-1]["messages"][-1]["content"][0]
        page = f"https://threadline.example.com/dashboard/sessions/{job.session_id}"
        assert job.id in str(tool_result["content"]) and page in str(tool_result["content"])
