"""The running app wired to all four fakes, shared by the tests that drive it end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.anthropic import FakeAnthropic, Reply, ToolCall
from tests.fakes.github import FakeGitHub
from tests.fakes.jira import FakeJira
from tests.fakes.slack import FakeSlack
from tests.harness import Running, base_env, mention, new_ts, replies, run_app

GH_SECRET = "gh-webhook-secret"
JIRA_SECRET = "jira-webhook-secret"
# acme/site is made public by the tests that need one; every repository is private otherwise
REPOS = "acme/widgets,acme/site"


@dataclass
class World:
    bot: Running
    slack: FakeSlack
    claude: FakeAnthropic
    github: FakeGitHub
    jira: FakeJira


@asynccontextmanager
async def running_world(tmp_path: Path) -> AsyncIterator[World]:
    async with (
        FakeSlack() as slack,
        FakeAnthropic() as claude,
        FakeGitHub() as github,
        FakeJira(projects=["AD"], service_desks=["HELP"]) as jira,
    ):
        slack.users["U1"] = {"real_name": "Ada Lovelace", "display_name": "ada"}
        env = {
            **base_env(slack.url, claude.root_url, f"sqlite:///{tmp_path / 'tl.db'}"),
            "GITHUB_TOKEN": github.token,
            "GITHUB_API_URL": github.url,
            "GITHUB_REPOS": REPOS,
            "GITHUB_WEBHOOK_SECRET": GH_SECRET,
            "JIRA_BASE_URL": jira.url,
            "JIRA_EMAIL": jira.email,
            "JIRA_API_TOKEN": jira.token,
            "JIRA_PROJECTS": "AD,HELP",
            "JIRA_WEBHOOK_SECRET": JIRA_SECRET,
            # These worlds show the round trip; approval cards have their own tests
            # (tests/actions), so writes run at once here, wherever they go.
            "TOOL_APPROVAL": "never",
        }
        async with run_app(env) as bot:
            yield World(bot, slack, claude, github, jira)


def all_texts(request: dict[str, object]) -> str:
    parts = []
    for message in request["messages"]:  # type: ignore[attr-defined]
        for block in message["content"]:
            if block.get("type") == "text":
                parts.append(block["text"])
            elif block.get("type") == "tool_result":
                parts.append(str(block["content"]))
    return "\n".join(parts)


async def file_github_issue(w: World, repo: str = "acme/widgets") -> tuple[str, int]:
    """Ask in a Slack thread for an issue in ``repo``; returns the thread and the number."""
    w.claude.script(
        Reply(
            text="Filing it.",
            tool_calls=[
                ToolCall(
                    "create_github_issue",
                    {"repo": repo, "title": "Login broken", "body": "Steps: log in."},
                )
            ],
        ),
        Reply(text=f"Filed it in {repo}."),
    )
    root = new_ts()
    await w.bot.send_event(mention("the login page 500s, please file an issue", ts=root))
    await w.slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    await w.bot.idle()
    [number] = [n for (r, n) in w.github.issues if r == repo]
    return root, number
