"""Background jobs across processes' lives and replicas, through the running app: a restart
between dispatch and completion (the job is found by polling and answered once), and two
replicas on one PostgreSQL database told of the same end (webhook and callback): one answer.
"""

from __future__ import annotations

import asyncio
import json

from tests.fakes.anthropic import Reply
from tests.harness import replies
from tests.jobs.conftest import PR, Fakes, settled, start, start_job


async def test_a_restart_between_dispatch_and_completion(fakes: Fakes, sqlite_url: str) -> None:
    f = fakes
    m = f.claude.managed
    async with start(f, sqlite_url, webhook=False) as bot:
        root, job = await start_job(bot, f)
    # the bot is down while the job ends
    m.finish(m.session_for(threadline_job=job.id).id, f"Opened {PR}")
    f.claude.script(Reply(text="It finished while I was away: PR 7."))
    async with start(f, sqlite_url, webhook=False) as bot:
        for _ in range(100):  # polled every second
            done = await bot.store.get_job(job.id)
            if done is not None and done.status == "succeeded":
                break
            await asyncio.sleep(0.1)
        await settled(bot)
        await asyncio.sleep(1.5)  # another poll: nothing more
        await settled(bot)
        answers = [r for r in replies(f.slack, "C1", root) if "PR 7" in r]
        assert answers == ["It finished while I was away: PR 7."]


async def test_two_replicas_one_webhook_end(fakes: Fakes, postgres_url: str) -> None:
    f = fakes
    m = f.claude.managed
    async with start(f, postgres_url) as a, start(f, postgres_url) as b:
        m.unsubscribe()
        root, job = await start_job(a, f)
        session = m.session_for(threadline_job=job.id)
        f.claude.script(Reply(text="Done, once."))
        m.finish(session.id, "Finished.")
        event = next(e for e in m.webhook_events if e["data"]["type"] == "session.status_idled")
        sent = await asyncio.gather(
            m.deliver(event, url=a.url + "/webhooks/anthropic"),
            m.deliver(event, url=b.url + "/webhooks/anthropic"),
        )
        assert [d.status for d in sent] == [200, 200]
        await settled(a)
        await settled(b)
        assert [r for r in replies(f.slack, "C1", root) if "once" in r] == ["Done, once."]


async def test_two_replicas_one_callback_report(fakes: Fakes, postgres_url: str) -> None:
    f = fakes
    async with (
        start(f, postgres_url, runner="callback") as a,
        start(f, postgres_url, runner="callback") as b,
    ):
        root, job = await start_job(a, f)
        (d,) = f.dispatch.dispatches
        f.claude.script(Reply(text="Reported once."))
        answers = await asyncio.gather(
            *(
                f.dispatch.report(d, summary="ok", url=f"{bot.url}/jobs/{job.id}/callback")
                for bot in (a, b, a, b)
            )
        )
        results = sorted(json.loads(text)["result"] for _, text in answers)
        assert results == ["duplicate", "duplicate", "duplicate", "recorded"]
        await settled(a)
        await settled(b)
        assert [r for r in replies(f.slack, "C1", root) if "once" in r] == ["Reported once."]


async def test_an_end_left_untold_by_a_crash_is_told(fakes: Fakes, sqlite_url: str) -> None:
    f = fakes
    async with start(f, sqlite_url, runner="callback") as bot:
        root, job = await start_job(bot, f)
        # a replica ended the run and died before recording its result
        assert await bot.store.finish_job(job.id, "succeeded", result="Done.", links=[])
        f.claude.script(Reply(text="Told after all."))
        for _ in range(100):  # the next upkeep pass (every second)
            if "Told after all." in replies(f.slack, "C1", root):
                break
            await asyncio.sleep(0.1)
        await settled(bot)
        assert replies(f.slack, "C1", root)[-1] == "Told after all."
        told = await bot.store.get_job(job.id)
        assert told is not None and told.told
        assert await bot.store.untold_jobs(limit=10) == []
