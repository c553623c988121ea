"""The bot as operators run it (the Procfile), with the dashboard's settings in its environment.

Bolt's ``AsyncApp`` reads ``SLACK_CLIENT_ID`` and ``SLACK_CLIENT_SECRET`` from the process
environment and then sets itself up for OAuth installs. Threadline hands Bolt its own
``authorize`` (the bot token), so the bot must go on answering with that token, serve no
install pages, and write no installation files; and Sign in with Slack must work.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.dashboard.conftest import TOKEN
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import FakeSlack
from tests.harness import base_env, event_body, mention, new_ts, replies, sign
from tests.process.bot import BotProcess, free_port

pytestmark = pytest.mark.slow


def bolt_files(home: Path) -> list[Path]:
    """What Bolt's OAuth defaults would have written (installations, OAuth states)."""
    return list(home.glob(".bolt-app-*"))


async def test_the_bot_keeps_its_bot_token_with_slack_sign_in_configured(
    tmp_path: Path, store_url: str
) -> None:
    async with FakeSlack() as slack, FakeAnthropic() as claude:
        port = free_port()
        env = {
            **base_env(slack.url, claude.root_url, store_url),
            "HOME": str(tmp_path),  # where Bolt's OAuth defaults would keep installations
            "SLACK_CLIENT_ID": slack.oidc.client_id,
            "SLACK_CLIENT_SECRET": slack.oidc.client_secret,
            "DASHBOARD_TOKEN": TOKEN,
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
        }
        bot = await BotProcess(env, port=port).start()
        try:
            jar = aiohttp.CookieJar(unsafe=True)  # keeps cookies of an IP-address host
            async with aiohttp.ClientSession(cookie_jar=jar) as http:
                root = new_ts()
                body = json.dumps(event_body(mention("still here?", ts=root))).encode()
                headers = {"Content-Type": "application/json", **sign(body)}
                async with http.post(bot.url + "/slack/events", data=body, headers=headers) as r:
                    assert r.status == 200
                await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1, timeout=15)
                async with http.get(bot.url + "/slack/install", allow_redirects=False) as r:
                    assert r.status == 404  # no OAuth install page

                slack.oidc.sign_in_as("U2", name="Grace Hopper")
                async with http.get(bot.url + "/dashboard/signin/slack") as r:
                    assert r.status == 200
                    assert str(r.url) == bot.url + "/dashboard/"
                    assert "Grace Hopper" in await r.text()
        finally:
            code = await bot.stop(signal.SIGTERM)
        out = await bot.output()
    assert code == 0, out
    writes = [c for c in slack.calls if c.method.startswith(("chat.", "assistant."))]
    assert writes and all(
        c.headers.get("authorization") == "Bearer xoxb-test-token" for c in writes
    )
    assert bolt_files(tmp_path) == []
    assert slack.oidc.client_secret not in out and TOKEN not in out
    assert "Traceback" not in out
