"""kill -9 after the answer started streaming: the retry finishes that same message."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.anthropic import FakeAnthropic, Reply
from tests.fakes.slack import FakeSlack
from tests.harness import base_env, event_body, inbox_drained, mention, new_ts, sign, store_on
from tests.process.bot import BotProcess

pytestmark = pytest.mark.slow

ANSWER = "\n".join(f"Line {i}: " + "detail " * 12 for i in range(40))


async def test_a_turn_killed_mid_stream_is_finished_in_the_same_message(
    tmp_path: Path,
) -> None:
    async with FakeSlack() as slack, FakeAnthropic() as claude:
        database_url = f"sqlite:///{tmp_path / 'tl.db'}"
        env = {
            **base_env(slack.url, claude.root_url, database_url),
            "LEASE_SECONDS": "2",
        }
        claude.stream_delay = 0.05  # the answer takes a few seconds to stream
        claude.script(Reply(text=ANSWER, times=2))
        bot = await BotProcess(env).start()
        root = new_ts()
        body = json.dumps(event_body(mention("explain it all", ts=root))).encode()
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                bot.url + "/slack/events",
                data=body,
                headers={"Content-Type": "application/json", **sign(body)},
            ) as response,
        ):
            assert response.status == 200
        await slack.wait_for(lambda s: s.calls_to("chat.appendStream"), timeout=15)
        assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL

        claude.stream_delay = 0.0
        restarted = await BotProcess(env).start()
        try:

            def finished(s: FakeSlack) -> bool:
                mine = [m for m in s.messages("C1", root) if m.user == s.user_id]
                return any("Line 39:" in m.text for m in mine)

            await slack.wait_for(finished, timeout=30)
            # drained: the delivery the killed process held is done, not waiting for a lease
            # to run out to be answered again
            async with store_on(database_url) as store:
                await inbox_drained(store)
            mine = [m for m in slack.messages("C1", root) if m.user == slack.user_id]
            assert len(mine) == 1  # the same message, finished, not a second answer
            assert mine[0].text.strip() == ANSWER.strip()
        finally:
            await restarted.stop()
