"""The plan view through the running app: a model reply that calls two or more tools shows
its steps together as a plan (``task_display_mode`` "plan", a plan title, the tasks pending
then running); a single tool keeps the timeline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.anthropic import FakeAnthropic, Reply, ToolCall
from tests.fakes.github import FakeGitHub
from tests.fakes.slack import FakeSlack, Message
from tests.harness import Running, base_env, inbox_drained, mention, new_ts, run_app

REPO = "acme/widgets"


@pytest.fixture
async def github() -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub() as fake:
        yield fake


@pytest.fixture
async def bot(
    slack: FakeSlack, claude: FakeAnthropic, github: FakeGitHub, tmp_path: Path
) -> AsyncIterator[Running]:
    env = {
        **base_env(slack.url, claude.root_url, f"sqlite:///{tmp_path / 'threadline.db'}"),
        "GITHUB_TOKEN": github.token,
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOS": REPO,
    }
    async with run_app(env) as running:
        yield running


def issue(title: str) -> ToolCall:
    return ToolCall("create_github_issue", {"repo": REPO, "title": title, "body": "Steps."})


async def answer(bot: Running, slack: FakeSlack) -> list[Message]:
    """The bot's messages in a new thread after the scripted turn."""
    root = new_ts()
    await bot.send_event(mention("file these please", ts=root))
    await slack.wait_for(lambda s: any(m.stopped for m in s.messages("C1", root)))
    await inbox_drained(bot.store)
    await bot.idle()
    return [m for m in slack.messages("C1", root) if m.ts != root]


def statuses(message: Message, task: str) -> list[str]:
    return [c["status"] for c in message.chunks if c["type"] == "task_update" and c["id"] == task]


async def test_two_tools_in_one_reply_show_as_a_plan(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic, github: FakeGitHub
) -> None:
    claude.script(
        Reply(tool_calls=[issue("Login broken"), issue("Logout broken")]),
        Reply(text="Filed both."),
    )
    [message] = await answer(bot, slack)
    assert message.task_display_mode == "plan"
    kinds = [c["type"] for c in message.chunks]
    assert kinds[:3] == ["plan_update", "task_update", "task_update"]
    assert message.chunks[0]["title"] == "2 steps"
    first, second = message.chunks[1]["id"], message.chunks[2]["id"]
    assert statuses(message, first) == ["pending", "in_progress", "complete"]
    assert statuses(message, second) == ["pending", "in_progress", "complete"]
    assert "Filed both." in message.text
    assert len(github.issues) == 2


async def test_a_single_tool_keeps_the_timeline(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    claude.script(Reply(tool_calls=[issue("Login broken")]), Reply(text="Filed."))
    [message] = await answer(bot, slack)
    assert message.task_display_mode == "timeline"
    assert not any(c["type"] == "plan_update" for c in message.chunks)
    assert [c["status"] for c in message.chunks] == ["in_progress", "complete"]
    assert slack.calls_to("chat.startStream")[0].params.get("task_display_mode") is None


async def test_text_before_the_tools_stays_above_and_the_plan_follows(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    claude.script(
        Reply(text="Let me file both.", tool_calls=[issue("A"), issue("B")]),
        Reply(text="Done: two issues."),
    )
    said, plan = await answer(bot, slack)
    assert said.task_display_mode == "timeline" and said.text.strip() == "Let me file both."
    assert plan.task_display_mode == "plan" and "Done: two issues." in plan.text
    # only the answer's last message carries the feedback buttons
    assert not said.blocks
    assert [b["type"] for b in plan.blocks] == ["context_actions"]
