"""Following a thread and the App Home tab over two replicas on one PostgreSQL database, each
run by the Procfile command: what one replica decides (a mute, a tab being watched) holds on
the other, because it is kept in the database."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import FakeSlack
from tests.harness import (
    TEAM,
    base_env,
    event_body,
    inbox_drained,
    mention,
    new_ts,
    replies,
    sign,
    store_on,
)
from tests.process.bot import BotProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


async def post(url: str, event: dict[str, Any]) -> int:
    body = json.dumps(event_body(event)).encode()
    headers = {"Content-Type": "application/json", **sign(body)}
    async with (
        aiohttp.ClientSession() as http,
        http.post(url + "/slack/events", data=body, headers=headers) as response,
    ):
        return response.status


def in_thread(text: str, root: str, user: str = "U2") -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "channel",
        "user": user,
        "text": text,
        "ts": new_ts(),
        "thread_ts": root,
        "channel": "C1",
        "team": TEAM,
    }


async def test_a_mute_and_a_watched_home_tab_hold_across_replicas(postgres_url: str) -> None:
    async with FakeSlack() as slack, FakeAnthropic() as claude:
        slack.users.update({"U1": {"real_name": "Ada"}, "U2": {"real_name": "Grace"}})
        env = {**base_env(slack.url, claude.root_url, postgres_url), "FOLLOW_THREADS": "true"}
        a, b = BotProcess(env), BotProcess(env)
        await asyncio.gather(a.start(), b.start())
        try:
            root = new_ts()
            assert await post(a.url, mention("hello", ts=root)) == 200
            await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1, timeout=15)
            # the thread is followed through the other replica too
            assert await post(b.url, in_thread("and Tuesday?", root)) == 200
            await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2, timeout=15)
            # muted through one replica, quiet through the other
            assert await post(a.url, mention("mute", thread_ts=root)) == 200
            await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 3, timeout=15)
            assert replies(slack, "C1", root)[2].startswith("Muted:")
            assert await post(b.url, in_thread("anyone?", root)) == 200
            async with store_on(postgres_url) as store:
                await inbox_drained(store)
            assert len(replies(slack, "C1", root)) == 3

            # the tab opened through one replica is refreshed after a turn on the other
            home = {"type": "app_home_opened", "user": "U1", "tab": "home", "channel": "D1"}
            assert await post(a.url, home) == 200
            await slack.wait_for(lambda s: "U1" in s.home_views, timeout=15)
            assert await post(b.url, mention("again", thread_ts=root)) == 200
            await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 4, timeout=15)
            await slack.wait_for(lambda s: len(s.calls_to("views.publish")) == 2, timeout=15)
        finally:
            codes = await asyncio.gather(a.stop(), b.stop())
        assert codes == [0, 0], (await a.output()) + (await b.output())
