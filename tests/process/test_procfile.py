"""The bot as operators run it: the Procfile command, against fakes of Slack and Claude."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import FakeSlack
from tests.harness import base_env, event_body, mention, new_ts, replies, sign
from tests.process.bot import BotProcess


async def post_event(url: str, event: dict[str, object]) -> int:
    body = json.dumps(event_body(event)).encode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            url + "/slack/events",
            data=body,
            headers={"Content-Type": "application/json", **sign(body)},
        ) as r,
    ):
        return r.status


async def test_missing_tokens_stop_the_start_with_one_line_per_missing_setting() -> None:
    bot = BotProcess({})
    await bot.start(wait=False)
    code = await asyncio.wait_for(bot.proc.wait(), 30)  # type: ignore[union-attr]
    out = (await bot.output()).strip()
    assert code == 2
    assert out.splitlines() == [
        f"threadline: configuration error: {name}: is required but not set (see .env.example)"
        for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "ANTHROPIC_API_KEY")
    ]


async def test_malformed_setting_is_named() -> None:
    bot = BotProcess(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_SIGNING_SECRET": "s",
            "ANTHROPIC_API_KEY": "k",
            "SESSION_TTL_DAYS": "soon",
        }
    )
    await bot.start(wait=False)
    code = await asyncio.wait_for(bot.proc.wait(), 30)  # type: ignore[union-attr]
    out = (await bot.output()).strip()
    assert code == 2 and "SESSION_TTL_DAYS" in out and "Traceback" not in out


async def test_the_procfile_command_answers_a_mention_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    async with FakeSlack() as slack, FakeAnthropic() as claude:
        env = base_env(slack.url, claude.root_url, f"sqlite:///{tmp_path / 'tl.db'}")
        bot = await BotProcess(env).start()
        try:
            root = new_ts()
            assert await post_event(bot.url, mention("hello from a process", ts=root)) == 200
            await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1, timeout=15)
            assert "hello from a process" in replies(slack, "C1", root)[0]
        finally:
            code = await bot.stop(signal.SIGTERM)
        out = await bot.output()
        assert code == 0, out
        assert "Traceback" not in out
        assert "xoxb-test-token" not in out and "sk-ant-test" not in out
