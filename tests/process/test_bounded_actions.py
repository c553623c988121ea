"""Limits and approvals as operators meet them: the bot run by its Procfile command, on SQLite
and on PostgreSQL, against fakes of Slack, Claude and GitHub, with ``USER_TURNS_PER_HOUR=2``
and ``TOOL_APPROVAL=always``.

* A person's third mention within the hour gets the limit note and no model call (on
  PostgreSQL after a restart: the count is in the database).
* A request to file an issue posts an approval card in the thread and files nothing. Someone
  else's click gets a private note; the asker's Approve (on PostgreSQL, clicked after the bot
  restarted: the card lives in the database) files the issue once, the card says so, and a new
  answer in the thread reports it. The same click delivered again, and a second click, change
  nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from app.slack.cards import APPROVE_ACTION
from app.store.base import Store
from tests.fakes.anthropic import FakeAnthropic, Reply, ToolCall
from tests.fakes.github import FakeGitHub
from tests.fakes.slack import FakeSlack, Message
from tests.harness import (
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
from tests.slack.test_approval_clicks import click_body

pytestmark = pytest.mark.slow

ISSUE = {"repo": "acme/widgets", "title": "Login crashes", "body": "Steps: log in twice."}
CREATE = "POST /repos/acme/widgets/issues"


@dataclass
class Fakes:
    slack: FakeSlack
    claude: FakeAnthropic
    github: FakeGitHub

    def env(self, database_url: str) -> dict[str, str]:
        return {
            **base_env(self.slack.url, self.claude.root_url, database_url),
            "GITHUB_TOKEN": self.github.token,
            "GITHUB_API_URL": self.github.url,
            "GITHUB_REPOS": "acme/widgets",
            "TOOL_APPROVAL": "always",
            "USER_TURNS_PER_HOUR": "2",
        }

    def creates(self) -> int:
        """Issues the bot asked GitHub to create."""
        return sum(1 for r in self.github.requests if r.route == CREATE)


@pytest.fixture
async def fakes() -> AsyncIterator[Fakes]:
    async with FakeSlack() as slack, FakeAnthropic() as claude, FakeGitHub() as github:
        slack.users["U1"] = {"real_name": "Ada Lovelace", "display_name": "ada"}
        slack.users["U2"] = {"real_name": "Grace Hopper", "display_name": "grace"}
        slack.users["U3"] = {"real_name": "Mallory", "display_name": "mallory"}
        yield Fakes(slack, claude, github)


@dataclass
class Bot:
    """The bot process, and a store of the test's own on its database."""

    process: BotProcess
    http: aiohttp.ClientSession
    store: Store

    async def post(self, raw: bytes, content_type: str) -> None:
        """Post a signed Slack request and wait until everything recorded is handled."""
        headers = {"Content-Type": content_type, **sign(raw)}
        url = self.process.url + "/slack/events"
        async with self.http.post(url, data=raw, headers=headers) as response:
            assert response.status == 200, await response.text()
        await inbox_drained(self.store)  # recorded before the 200: drained, it is handled

    async def mention(self, event: dict[str, Any]) -> None:
        await self.post(json.dumps(event_body(event)).encode(), "application/json")

    async def click(self, body: dict[str, Any]) -> None:
        raw = urlencode({"payload": json.dumps(body)}).encode()
        await self.post(raw, "application/x-www-form-urlencoded")

    async def restart(self) -> None:
        assert await self.process.stop() == 0, await self.process.output()
        self.process = await BotProcess(self.process.env, port=self.process.port).start()


@pytest.fixture
async def bot(store_url: str, fakes: Fakes) -> AsyncIterator[Bot]:
    """The Procfile command on ``store_url``; stopped with SIGTERM afterwards, exiting 0."""
    process = await BotProcess(fakes.env(store_url)).start()
    try:
        async with aiohttp.ClientSession() as http, store_on(store_url) as store:
            running = Bot(process, http, store)
            try:
                yield running
            finally:
                process = running.process  # the one running now, after any restart
    finally:
        code = await process.stop()
    assert code == 0, await process.output()


def card_in(slack: FakeSlack, root: str) -> Message:
    """The approval card in a thread: the one message with buttons."""
    [card] = [m for m in slack.messages("C1", root) if buttons(m)]
    return card


def answers(slack: FakeSlack, root: str) -> list[str]:
    """The bot's answers in a thread (streamed), without cards or notes."""
    return [m.text for m in slack.messages("C1", root) if m.streamed and m.stopped]


def buttons(card: Message) -> list[dict[str, Any]]:
    return [e for b in card.blocks if b.get("type") == "actions" for e in b["elements"]]


async def test_a_person_over_the_hour_is_told_and_a_card_files_once_when_the_asker_approves(
    store_url: str, fakes: Fakes, bot: Bot
) -> None:
    f = fakes
    restart = store_url.startswith("postgresql")

    # Ada's first two mentions are answered.
    chat = new_ts()
    await bot.mention(mention("hello there", ts=chat))
    await bot.mention(mention("and again", thread_ts=chat))
    assert len(f.claude.requests) == 2
    assert [a.split("\n")[-1] for a in replies(f.slack, "C1", chat)] == ["hello there", "and again"]

    # Grace asks for an issue: a card in her thread, nothing filed.
    f.claude.script(
        Reply(text="Filing it.", tool_calls=[ToolCall("create_github_issue", ISSUE)]),
        Reply(text="It waits for your approval."),
    )
    root = new_ts()
    await bot.mention(mention("please file the login crash", user="U2", ts=root))
    card = card_in(f.slack, root)
    [approve] = [b for b in buttons(card) if b["action_id"] == APPROVE_ACTION]
    assert card.text.startswith("Approval needed: Create a GitHub issue in acme/widgets")
    assert "Login crashes" in json.dumps(card.blocks) and "grace (U2)" in json.dumps(card.blocks)
    [waiting] = f.claude.tool_results()
    assert f"(approval {approve['value']})" in str(waiting["content"])
    assert answers(f.slack, root) == ["Filing it.\n\nIt waits for your approval."]
    assert f.creates() == 0 and f.github.issues == {}
    assert len(f.claude.requests) == 4

    if restart:
        await bot.restart()

    # Ada's third mention within the hour: the limit note, no model call.
    other = new_ts()
    await bot.mention(mention("one more thing", channel="C2", ts=other))
    [limited] = replies(f.slack, "C2", other)
    assert limited.startswith("_You've reached 2 messages an hour; you can ask again by ")
    assert len(f.claude.requests) == 4

    def click(user: str) -> dict[str, Any]:
        return click_body(value=approve["value"], user=user, card_ts=card.ts, thread_ts=root)

    # Someone else may not decide: a private note, nothing runs.
    await bot.click(click("U3"))
    [refused] = f.slack.ephemerals("C1", "U3")
    assert refused.text == "Only <@U2> or an approver can decide this."
    assert f.creates() == 0 and len(f.claude.requests) == 4

    # The asker approves: filed once, the card says so, a new answer reports the issue.
    approval = click("U2")
    await bot.click(approval)
    [(repo_number, issue)] = f.github.issues.items()
    assert repo_number == ("acme/widgets", 1) and issue["title"] == "Login crashes"
    assert f.creates() == 1
    decided = f.slack.message("C1", card.ts)
    assert decided is not None
    assert decided.text.startswith("Approved by <@U2>: Create a GitHub issue in acme/widgets")
    assert buttons(decided) == []
    assert len(f.claude.requests) == 5
    told = f.claude.newest_user_text()
    assert told.startswith("[grace (U2) in Slack]\n[Approval] grace approved create_github_issue")
    assert "acme/widgets#1" in told
    [_, answer] = answers(f.slack, root)
    assert "grace approved create_github_issue" in answer and "acme/widgets#1" in answer

    # The same click delivered again, then a second click: nothing more.
    shown = len(replies(f.slack, "C1", root))
    await bot.click(approval)
    await bot.click(click("U2"))
    assert f.creates() == 1 and len(f.github.issues) == 1
    assert len(f.claude.requests) == 5
    assert len(replies(f.slack, "C1", root)) == shown
