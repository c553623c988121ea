"""Durability as operators meet it: replicas on one database, kill -9, a database that fails."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.conftest import _asyncpg_dsn
from tests.fakes.anthropic import FakeAnthropic, Hang
from tests.fakes.slack import FakeSlack
from tests.harness import (
    base_env,
    event_body,
    inbox_drained,
    mention,
    new_ts,
    replies,
    run_app,
    sign,
    store_on,
)
from tests.process.bot import BotProcess

pytestmark = pytest.mark.slow


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeSlack, FakeAnthropic]]:
    async with FakeSlack() as slack, FakeAnthropic() as claude:
        yield slack, claude


async def post(url: str, body: bytes) -> int:
    headers = {"Content-Type": "application/json", **sign(body)}
    async with (
        aiohttp.ClientSession() as http,
        http.post(url + "/slack/events", data=body, headers=headers) as response,
    ):
        return response.status


def encoded(event: dict[str, object]) -> bytes:
    return json.dumps(event_body(event)).encode()


@pytest.mark.postgres
async def test_one_delivery_sent_to_two_replicas_is_answered_once(
    postgres_url: str, fakes: tuple[FakeSlack, FakeAnthropic]
) -> None:
    slack, claude = fakes
    env = base_env(slack.url, claude.root_url, postgres_url)
    a, b = BotProcess(env), BotProcess(env)
    await asyncio.gather(a.start(), b.start())  # migrations race safely on start
    try:
        root = new_ts()
        body = encoded(mention("answer me once", ts=root))
        assert await asyncio.gather(post(a.url, body), post(b.url, body)) == [200, 200]
        await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1, timeout=15)
        # both copies were recorded (or dropped) before the 200s: once the inbox is drained,
        # neither replica has anything left to claim
        async with store_on(postgres_url) as store:
            await inbox_drained(store)
        assert len(replies(slack, "C1", root)) == 1
        assert len(claude.requests) == 1
    finally:
        assert await asyncio.gather(a.stop(), b.stop()) == [0, 0]


@pytest.mark.postgres
async def test_a_burst_into_one_thread_over_two_replicas_is_answered_in_order(
    postgres_url: str, fakes: tuple[FakeSlack, FakeAnthropic]
) -> None:
    slack, claude = fakes
    # every model answer takes a while, so the burst lands while turns are running
    claude.default_step = lambda body: Hang(0.3)
    env = base_env(slack.url, claude.root_url, postgres_url)
    replicas = [BotProcess(env), BotProcess(env)]
    await asyncio.gather(*(r.start() for r in replicas))
    try:
        root = new_ts()
        words = [f"message-{i:02d}" for i in range(10)]
        # posted one after another (so the intended order is defined), alternating replicas,
        # without waiting for any answer
        for i, word in enumerate(words):
            event = mention(word, ts=root) if i == 0 else mention(word, thread_ts=root)
            assert await post(replicas[i % 2].url, encoded(event)) == 200
        # the whole burst was in before the turns were done: they overlapped
        assert len(claude.requests) < len(words)
        assert len(replies(slack, "C1", root)) < len(words)

        await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 10, timeout=60)
        answers = replies(slack, "C1", root)
        assert [next(w for w in words if w in a) for a in answers] == words
        # one turn per message, in the sent order, each seeing all the turns before it
        assert [len(r["messages"]) for r in claude.requests] == list(range(1, 20, 2))
        assert [claude.newest_user_text(i).split("\n")[-1] for i in range(10)] == words
    finally:
        await asyncio.gather(*(r.stop() for r in replicas))


async def test_a_turn_killed_mid_way_is_answered_exactly_once_after_restart(
    store_url: str, fakes: tuple[FakeSlack, FakeAnthropic]
) -> None:
    url = store_url  # SQLite and PostgreSQL
    slack, claude = fakes
    env = {**base_env(slack.url, claude.root_url, url), "LEASE_SECONDS": "2"}
    claude.script(Hang(120))  # the model is slow: the process dies mid-turn
    bot = await BotProcess(env).start()
    root = new_ts()
    assert await post(bot.url, encoded(mention("survive this", ts=root))) == 200
    await claude.wait_for_requests(1, timeout=15)
    assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL

    restarted = await BotProcess(env).start()
    try:
        await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1, timeout=30)
        # drained: the delivery the killed process held is done, not waiting for a lease to
        # run out to be answered a second time
        async with store_on(url) as store:
            await inbox_drained(store)
        assert len(replies(slack, "C1", root)) == 1
        assert "survive this" in replies(slack, "C1", root)[0]
        assert len([m for m in slack.messages("C1", root) if m.ts != root]) == 1
    finally:
        await restarted.stop()


async def test_an_unreachable_database_at_start_is_one_line_and_a_non_zero_exit(
    tmp_path: Path, fakes: tuple[FakeSlack, FakeAnthropic]
) -> None:
    slack, claude = fakes
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    for url in ("postgresql://postgres@127.0.0.1:1/nowhere", f"sqlite:///{blocker}/x/tl.db"):
        bot = BotProcess(base_env(slack.url, claude.root_url, url))
        await bot.start(wait=False)
        code = await asyncio.wait_for(bot.proc.wait(), 60)  # type: ignore[union-attr]
        out = (await bot.output()).strip()
        assert code == 3, out
        last = out.splitlines()[-1]
        assert last.startswith("threadline: database error:") and "DATABASE_URL" in last
        assert "Traceback" not in out


@pytest.mark.postgres
async def test_database_down_mid_run_refuses_deliveries_then_recovers_by_itself(
    postgres_url: str, fakes: tuple[FakeSlack, FakeAnthropic]
) -> None:
    slack, claude = fakes
    name = postgres_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(_asyncpg_dsn(postgres_url.rsplit("/", 1)[0] + "/postgres"))
    try:
        async with run_app(base_env(slack.url, claude.root_url, postgres_url)) as bot:
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                name,
            )
            root = new_ts()
            event = mention("are you there?", ts=root)
            assert await bot.send_event(event, event_id="EvDOWN") == 503
            status, _ = await bot.get("/healthz")
            assert status == 503

            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            assert await bot.send_event(event, event_id="EvDOWN") == 200  # Slack's retry
            await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1, timeout=20)
            status, _ = await bot.get("/healthz")
            assert status == 200
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await admin.close()
