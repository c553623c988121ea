"""Background jobs as operators meet them: the bot run by its Procfile command, on SQLite and
on PostgreSQL, against fakes of Slack, Claude (with Managed Agents) and a callback runner.

* A mention whose turn starts a managed job; forged webhooks are refused while it runs; the
  signed webhook of its end brings the result to the thread, once, however often it is
  delivered.
* The callback runner: the dispatch carries a callback URL on ``PUBLIC_URL`` and a token;
  wrong tokens are refused; the report step of the GitHub Actions example, run for real,
  brings the result home; the same report again changes nothing.
* The bot stops between dispatch and completion; restarted, it polls the job and answers
  once.
* Two replicas on one PostgreSQL database both get the end's webhook, or both poll: one
  answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.anthropic import FakeAnthropic, Reply, ToolCall
from tests.fakes.anthropic_agents import DEFAULT_AGENT_ID, DEFAULT_ENVIRONMENT_ID, FakeSession
from tests.fakes.dispatch import FakeDispatch
from tests.fakes.slack import FakeSlack
from tests.harness import base_env, event_body, inbox_drained, mention, new_ts, sign, store_on
from tests.harness import replies as thread_replies
from tests.process.bot import BotProcess, free_port
from tests.test_examples_github_actions import run_report

pytestmark = pytest.mark.slow

PR = "https://github.com/acme/widgets/pull/7"
DONE = "The refactor is done: PR 7."


@dataclass
class Fakes:
    slack: FakeSlack
    claude: FakeAnthropic
    dispatch: FakeDispatch

    def bot(
        self, database_url: str, *, runner: str = "managed", webhook: bool = True
    ) -> BotProcess:
        port = free_port()
        env = {
            **base_env(self.slack.url, self.claude.root_url, database_url),
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "JOB_POLL_SECONDS": "1",
        }
        if runner == "managed":
            env |= {
                "JOBS_AGENT_ID": DEFAULT_AGENT_ID,
                "JOBS_ENVIRONMENT_ID": DEFAULT_ENVIRONMENT_ID,
            }
            if webhook:
                env["ANTHROPIC_WEBHOOK_SECRET"] = self.claude.managed.webhook_secret
        else:
            env |= {"JOBS_RUNNER": "callback", "JOBS_DISPATCH_URL": self.dispatch.url}
        return BotProcess(env, port=port)

    def said(self, root: str, text: str) -> int:
        """How many of the bot's messages in the thread say ``text``."""
        return sum(text in reply for reply in thread_replies(self.slack, "C1", root))

    async def start_job(self, bot: BotProcess) -> str:
        """A mention whose turn starts a job; returns the thread's root once answered."""
        start = ToolCall(
            "start_background_job",
            {"title": "Refactor the parser", "instructions": "Split parse() in two; open a PR."},
        )
        self.claude.script(Reply(text="Starting it.", tool_calls=[start]), Reply(text="It runs."))
        root = new_ts()
        assert await post_event(bot.url, mention("please refactor the parser", ts=root)) == 200
        await self.slack.wait_for(lambda s: self.said(root, "It runs."), timeout=20)
        (answer,) = [m for m in self.slack.messages("C1", root) if m.ts != root]
        steps = [c.get("title") for c in answer.chunks if c["type"] == "task_update"]
        assert "Start background job" in steps  # the hand-over shows as a task step
        return root


@pytest.fixture
async def fakes() -> AsyncIterator[Fakes]:
    async with FakeSlack() as slack, FakeAnthropic() as claude, FakeDispatch() as dispatch:
        slack.users["U1"] = {"real_name": "Ada Lovelace", "display_name": "ada"}
        yield Fakes(slack, claude, dispatch)


async def post_event(url: str, event: dict[str, object]) -> int:
    body = json.dumps(event_body(event)).encode()
    headers = {"Content-Type": "application/json", **sign(body)}
    async with (
        aiohttp.ClientSession() as http,
        http.post(url + "/slack/events", data=body, headers=headers) as response,
    ):
        return response.status


def only_session(claude: FakeAnthropic) -> FakeSession:
    (session,) = claude.managed.sessions.values()
    return session


async def test_a_job_started_in_slack_comes_home_by_its_signed_webhook_once(
    store_url: str, fakes: Fakes
) -> None:
    f, managed = fakes, fakes.claude.managed
    bot = await f.bot(store_url).start()
    try:
        managed.subscribe(bot.url + "/webhooks/anthropic")
        root = await f.start_job(bot)
        session = only_session(f.claude)
        assert session.status == "running" and session.title == "Refactor the parser"
        assert session.user_texts() == ["Split parse() in two; open a PR."]
        job_id = session.metadata["threadline_job"]

        # forged ends while it runs: refused, and nothing is asked of Claude
        asked = len(f.claude.requests)
        fake_end = managed.webhook_event(session.id, "session.status_idled")
        for forgery in ("bad_signature", "stale", "unsigned", "tampered"):
            delivery = await managed.deliver(fake_end, forge=forgery)
            assert delivery.status == 401, (forgery, delivery.answer)

        f.claude.script(Reply(text=DONE))
        managed.finish(session.id, f"Done. Opened {PR}.")
        await managed.settled()
        await f.slack.wait_for(lambda s: f.said(root, DONE), timeout=20)
        assert f"> Done. Opened {PR}." in f.claude.newest_user_text()
        assert len(f.claude.requests) == asked + 1

        # the end's webhook again, byte for byte and as a retry: acknowledged, no new answer
        (idled,) = [
            d
            for d in managed.deliveries
            if d.event["data"]["type"] == "session.status_idled" and d.status == 200
        ]
        assert (await managed.replay(idled)).status == 200
        assert (await managed.deliver(idled.event)).status == 200
        async with store_on(store_url) as store:
            await inbox_drained(store)
            job = await store.get_job(job_id)
        assert job is not None and job.status == "succeeded" and job.links == [PR]
        assert f.said(root, DONE) == 1 and len(f.claude.requests) == asked + 1
    finally:
        assert await bot.stop() == 0


async def test_the_callback_runner_and_the_github_actions_report_step(
    sqlite_url: str, fakes: Fakes, tmp_path: Path
) -> None:
    f = fakes
    bot = await f.bot(sqlite_url, runner="callback").start()
    try:
        root = await f.start_job(bot)
        (job,) = await f.dispatch.wait_for_dispatches(1)
        assert job["title"] == "Refactor the parser" and job["repo"] is None
        assert job.callback_url == f"{bot.url}/jobs/{job.job_id}/callback"

        assert (await f.dispatch.report(job, token=""))[0] == 401
        assert (await f.dispatch.report(job, token="guessed"))[0] == 403
        other = job.callback_url.replace(job.job_id, "0" * 20)
        assert (await f.dispatch.report(job, url=other))[0] == 403

        # the example workflow's last step, as GitHub runs it after Claude Code succeeded
        f.claude.script(Reply(text=DONE))
        result = json.dumps({"summary": f"Split parse(); opened {PR}", "links": [PR]})
        code, out = await run_report(
            tmp_path, job.callback_url, "success", result, token=job.callback_token
        )
        assert code == 0 and '"recorded"' in out, out
        await f.slack.wait_for(lambda s: f.said(root, DONE), timeout=20)

        status, text = await f.dispatch.report(job, summary="again")
        assert status == 200 and '"duplicate"' in text
        async with store_on(sqlite_url) as store:
            await inbox_drained(store)
            stored = await store.get_job(job.job_id)
            assert stored is not None and stored.status == "succeeded" and stored.links == [PR]
            assert stored.token_hash and job.callback_token not in json.dumps(
                stored.__dict__, default=str
            )
        assert f.said(root, DONE) == 1
    finally:
        assert await bot.stop() == 0


async def test_a_restart_between_dispatch_and_completion_is_answered_once(
    store_url: str, fakes: Fakes
) -> None:
    f = fakes
    first = await f.bot(store_url, webhook=False).start()
    try:
        root = await f.start_job(first)
    finally:
        assert await first.stop() == 0
    session = only_session(f.claude)
    f.claude.script(Reply(text=DONE))
    f.claude.managed.finish(session.id, f"Done while you were away: {PR}")

    restarted = await f.bot(store_url, webhook=False).start()
    try:
        await f.slack.wait_for(lambda s: f.said(root, DONE), timeout=30)
        async with store_on(store_url) as store:
            await inbox_drained(store)
            await asyncio.sleep(1.5)  # another poll round finds nothing left to report
            await inbox_drained(store)
        assert f.said(root, DONE) == 1
    finally:
        assert await restarted.stop() == 0


@pytest.mark.postgres
@pytest.mark.parametrize("told_by", ["webhook", "polling"])
async def test_two_replicas_answer_a_job_end_once(
    postgres_url: str, fakes: Fakes, told_by: str
) -> None:
    """Both replicas get the end's webhook, or both poll the job: one answer."""
    f, managed = fakes, fakes.claude.managed
    webhook = told_by == "webhook"
    a, b = f.bot(postgres_url, webhook=webhook), f.bot(postgres_url, webhook=webhook)
    await asyncio.gather(a.start(), b.start())
    try:
        root = await f.start_job(a)
        session = only_session(f.claude)
        f.claude.script(Reply(text=DONE))
        ends = managed.finish(session.id, f"Done: {PR}")
        if webhook:
            deliveries = await asyncio.gather(
                *(
                    managed.deliver(e, url=r.url + "/webhooks/anthropic")
                    for e in ends
                    for r in (a, b)
                )
            )
            assert [d.status for d in deliveries] == [200, 200]
        await f.slack.wait_for(lambda s: f.said(root, DONE), timeout=20)
        async with store_on(postgres_url) as store:
            await inbox_drained(store)
            if not webhook:
                await asyncio.sleep(1.5)  # another round of both pollers
                await inbox_drained(store)
        assert f.said(root, DONE) == 1
        assert len(f.claude.requests) == 3  # the starting turn's two calls, one report
    finally:
        assert await asyncio.gather(a.stop(), b.stop()) == [0, 0]
