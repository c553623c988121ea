"""The burst benchmark's own parts: the naive bot it compares with, the fake Slack that says
when a reply is visible, and the pure helpers (profile grouping, results splicing). The
benchmark itself runs with ``make bench``, never in the test suite."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bench.__main__ import splice
from bench.baseline.bot import build
from bench.burst import slack_events
from bench.profile import by_package
from bench.visible_slack import VisibleSlack
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import FakeSlack
from tests.harness import SIGNING_SECRET, eventually, sign


@pytest.fixture
async def naive() -> AsyncIterator[tuple[str, FakeSlack, FakeAnthropic]]:
    async with FakeSlack() as slack, FakeAnthropic() as claude:
        env = {
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_API_URL": slack.url,
            "ANTHROPIC_API_KEY": "sk-ant-bench",
            "ANTHROPIC_BASE_URL": claude.root_url,
        }
        runner = web.AppRunner(build(env))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}", slack, claude
        finally:
            await runner.cleanup()


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url + "/slack/events", data=body, headers=headers) as r,
    ):
        return r.status


async def test_the_naive_bot_answers_each_mention_once_in_its_thread_with_the_whole_history(
    naive: tuple[str, FakeSlack, FakeAnthropic],
) -> None:
    url, slack, claude = naive
    for n, thread in enumerate([None, "1763000001.000100"]):
        ts = "1763000001.000100" if thread is None else "1763000002.000200"
        # Slack sends a mention twice (app_mention and message): one answer.
        for body in slack_events("C1", "U1", f"<@UBOT> question {n}", ts, thread):
            assert await post(url, body, {"Content-Type": "application/json", **sign(body)}) == 200
        await eventually(lambda n=n: len(slack.calls_to("chat.postMessage")) == n + 1)

    assert slack.thread_texts("C1", "1763000001.000100") == ["echo: question 0", "echo: question 1"]
    assert [m["role"] for m in claude.requests[-1]["messages"]] == ["user", "assistant", "user"]
    assert claude.requests[-1].get("stream") is not True


async def test_the_naive_bot_refuses_a_forged_signature(
    naive: tuple[str, FakeSlack, FakeAnthropic],
) -> None:
    url, slack, claude = naive
    body = slack_events("C1", "U1", "<@UBOT> hi", "1763000001.000100", None)[0]
    headers = {"Content-Type": "application/json", **sign(body, secret="not-the-secret")}
    assert await post(url, body, headers) == 401
    assert claude.requests == [] and slack.calls == []


async def test_the_visible_slack_reports_a_reply_when_its_final_text_is_recorded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with VisibleSlack(people=2) as slack, aiohttp.ClientSession() as http:
        async with http.post(
            slack.root_url + "/bench/say",
            json={"channel": "C1", "user": "U100", "text": "<@UBOT> hi"},
        ) as r:
            root = (await r.json())["ts"]
        client = AsyncWebClient(token="xoxb-bench", base_url=slack.url)
        stream = await client.chat_startStream(channel="C1", thread_ts=root)
        await client.chat_appendStream(channel="C1", ts=stream["ts"], markdown_text="echo: ")
        await client.chat_stopStream(channel="C1", ts=stream["ts"], markdown_text="hi")
        await client.chat_postMessage(channel="C2", text="top level")
        thread = await client.conversations_replies(channel="C1", ts=root)
        person = await client.users_info(user="U101")

    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    finals = [r for r in records if "text" in r]
    assert [r["call"] for r in records][:3] == [
        "chat.startStream",
        "chat.appendStream",
        "chat.stopStream",
    ]
    assert [(r["call"], r["channel"], r["text"]) for r in finals] == [
        ("chat.stopStream", "C1", "echo: hi"),
        ("chat.postMessage", "C2", "top level"),
    ]
    assert finals[0]["thread"] == root and finals[1]["thread"] != root
    # Every call about the thread says so, with its time: the turn's first call can be found.
    about_thread = [r["call"] for r in records if r.get("thread") == root]
    assert about_thread == [
        "chat.startStream",
        "chat.appendStream",
        "chat.stopStream",
        "conversations.replies",
    ]
    assert all(isinstance(r["when"], float) for r in records)
    assert [m["text"] for m in thread["messages"]] == ["<@UBOT> hi", "echo: hi"]
    assert person["user"]["real_name"] == "Person 1"


def test_profile_samples_are_grouped_by_the_package_of_the_running_function() -> None:
    loop = "<module> (/r/app/__main__.py:5);_run_once (/py/lib/python3.11/asyncio/base_events.py:9)"
    folded = "\n".join(
        [
            f"{loop};execute (/v/site-packages/sqlalchemy/engine/base.py:10) 6",
            f"{loop};claim (/r/app/store/sql/inbox.py:3) 3",
            f"{loop};dumps (/py/lib/python3.11/json/__init__.py:1) 1",
            "run (/v/site-packages/aiosqlite/core.py:9) 50",  # another thread: left out
        ]
    )
    assert by_package(folded) == {"sqlalchemy": 0.6, "app.store": 0.3, "stdlib json": 0.1}


def test_a_section_of_the_results_is_replaced_in_place_or_appended() -> None:
    first = splice("# Results\n\ntable\n", "burst", "one")
    assert first == "# Results\n\ntable\n\n<!-- burst:start -->\none\n<!-- burst:end -->\n"
    again = splice(first + "\nafter\n", "burst", "two")
    assert again == "# Results\n\ntable\n\n<!-- burst:start -->\ntwo\n<!-- burst:end -->\n\nafter\n"
