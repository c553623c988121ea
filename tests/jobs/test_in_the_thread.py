"""A job in its Slack thread, through the running app against the fakes: the result turn is
the asker's (their quotas and the channel's count it, its answer streams to them), the link
the start gives Claude to show, and the safety-net poll that finds the end of a job whose
webhook was lost."""

from __future__ import annotations

import asyncio

from app.turns.limits import day_start
from tests.actions.conftest import ShiftedClock
from tests.fakes.anthropic import Reply
from tests.harness import Running, eventually, replies
from tests.jobs.conftest import Fakes, settled, start, start_job


async def _spent(bot: Running, scope: str) -> int:
    return await bot.store.tokens_since(scope, day_start(bot.app.clock()))


def _tokens(usage: dict[str, int]) -> int:
    """What a model call costs against the quotas: input (cached or not) and output."""
    kinds = ("input", "output", "cache_read_input", "cache_creation_input")
    return sum(usage.get(f"{kind}_tokens") or 0 for kind in kinds)


async def test_the_result_turn_counts_against_the_asker_and_streams_to_them(
    fakes: Fakes, sqlite_url: str
) -> None:
    f = fakes
    m = f.claude.managed
    async with start(f, sqlite_url) as bot:
        root, job = await start_job(bot, f)
        before = {s: await _spent(bot, s) for s in ("user:U1", "channel:C1", "workspace")}
        assert before["user:U1"] > 0  # the turn that started the job

        f.claude.script(Reply(text="It is done."))
        m.finish(m.session_for(threadline_job=job.id).id, "Finished.")
        await m.settled()
        await settled(bot)

        assert replies(f.slack, "C1", root)[-1] == "It is done."
        result_turn = _tokens(f.claude.usages[-1])
        for scope, spent in before.items():
            assert await _spent(bot, scope) == spent + result_turn, scope
        assert await _spent(bot, f"user:job:{job.id}") == 0
        # Slack streams in a channel only to a user: the one who asked, not the job
        start_stream = f.slack.calls_to("chat.startStream")[-1]
        assert start_stream.ok and start_stream.params["recipient_user_id"] == "U1"
        assert [c.error for c in f.slack.calls_to("chat.startStream")] == [None, None]


async def test_the_start_gives_a_link_to_show(fakes: Fakes, sqlite_url: str) -> None:
    f = fakes
    async with start(f, sqlite_url) as bot:
        _, job = await start_job(bot, f)
        tool_result = str(f.claude.requests[-1]["messages"][-1]["content"][0]["content"])
        session = f.claude.managed.session_for(threadline_job=job.id)
        # no dashboard: what names the job, its key and the managed session's id
        assert f"Job key: threadline:job:{job.id}" in tool_result
        assert f"Claude Managed Agents session: {session.id}" in tool_result

    async with start(f, sqlite_url, DASHBOARD_TOKEN="a-dashboard-password") as bot:
        root, job = await start_job(bot, f)
        page = f"https://threadline.example.com/dashboard/sessions/{job.session_id}"
        tool_result = str(f.claude.requests[-1]["messages"][-1]["content"][0]["content"])
        assert f"Link: {page} " in tool_result
        # ... and the running step links to it
        (started,) = [m for m in f.slack.messages("C1", root) if m.streamed]
        assert started.chunks[-1]["sources"] == [{"type": "url", "url": page, "text": "Follow it"}]


async def test_a_lost_webhook_is_made_up_for_by_the_safety_net(
    fakes: Fakes, store_url: str
) -> None:
    f = fakes
    m = f.claude.managed
    clock = ShiftedClock()
    # JOB_POLL_SECONDS is 1: with webhooks, each job is asked about every 10 seconds
    async with start(f, store_url, clock=clock) as bot:
        root, job = await start_job(bot, f)
        session = m.session_for(threadline_job=job.id)

        def looks() -> int:
            return sum(c.op == "sessions.retrieve" and session.id in c.path for c in m.calls)

        await eventually(lambda: looks() == 1, what="the safety net's first look")
        m.unsubscribe()  # the end's webhook never arrives
        f.claude.script(Reply(text="Found it finished."))
        m.finish(session.id, "Finished.")
        await asyncio.sleep(2.5)  # upkeep passes every second: not one asks again yet
        assert looks() == 1
        running = await bot.store.get_job(job.id)
        assert running is not None and running.status == "running"

        clock.advance(seconds=11)
        await eventually(lambda: looks() == 2, what="the safety net's next look")
        await eventually(lambda: "Found it finished." in replies(f.slack, "C1", root))
        await settled(bot)
        done = await bot.store.get_job(job.id)
        assert done is not None and done.status == "succeeded" and done.result == "Finished."
