"""Approval of jobs on a public repository (``TOOL_APPROVAL=untrusted``), through the running
app: continuing such a job waits for a person as starting it did (a job on a private
repository continues at once: ``test_managed``)."""

from __future__ import annotations

from tests.actions.conftest import click, the_card
from tests.fakes.anthropic import Reply, ToolCall
from tests.harness import mention, replies
from tests.jobs.conftest import PUBLIC_REPO, Fakes, settled, start, start_job


async def test_continuing_a_job_on_a_public_repository_waits_for_approval(
    fakes: Fakes, sqlite_url: str
) -> None:
    f = fakes
    m = f.claude.managed
    async with start(f, sqlite_url, TOOL_APPROVAL="never") as trusting:
        root, job = await start_job(trusting, f, repo=PUBLIC_REPO)
    async with start(f, sqlite_url) as bot:  # TOOL_APPROVAL=untrusted, the default
        session = m.session_for(threadline_job=job.id)
        f.claude.script(Reply(text="Done once."))
        m.finish(session.id, "First pass done.")
        await m.settled()
        await settled(bot)

        more = ToolCall("continue_background_job", {"job_id": job.id, "instructions": "Add tests."})
        f.claude.script(Reply(text="Continuing.", tool_calls=[more]), Reply(text="Waiting."))
        await bot.send_event(mention("add tests too", thread_ts=root))
        await settled(bot)
        tool_result = f.claude.requests[-1]["messages"][-1]["content"][0]
        assert "Waiting for approval" in str(tool_result["content"])
        assert session.user_texts() == ["Split parse() in two; open a PR."]  # nothing sent
        waiting = await bot.store.get_job(job.id)
        assert waiting is not None and waiting.status == "succeeded"

        f.claude.script(Reply(text="Approved; it continues."))
        await click(bot, the_card(f.slack, "C1", root), user="U1")
        await settled(bot)
        resumed = await bot.store.get_job(job.id)
        assert resumed is not None and resumed.status == "running" and resumed.resume_count == 1
        assert session.user_texts()[-1] == "Add tests."
        assert replies(f.slack, "C1", root)[-1] == "Approved; it continues."
