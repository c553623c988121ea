"""The running app for the background-job tests: the fakes of Slack, Anthropic (with Managed
Agents), GitHub, Jira and a callback runner's dispatch endpoint, and helpers to start a job from
a Slack thread and to wait for its result.

``start(fakes, database_url, runner=..., **env)`` runs the real app over HTTP on loopback;
a managed runner gets the fake's webhook subscribed to the app (unless ``webhook=False``:
then it polls).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from app.store import SqlStore
from app.store.base import Job, Store
from tests.actions.conftest import ShiftedClock
from tests.fakes.anthropic import FakeAnthropic, Reply, ToolCall
from tests.fakes.anthropic_agents import DEFAULT_AGENT_ID, DEFAULT_ENVIRONMENT_ID
from tests.fakes.dispatch import FakeDispatch
from tests.fakes.github import FakeGitHub
from tests.fakes.jira import FakeJira
from tests.fakes.slack import FakeSlack
from tests.harness import Running, base_env, inbox_drained, mention, new_ts, run_app

REPO = "acme/widgets"  # private
PUBLIC_REPO = "acme/site"  # made public by the fixture
PR = "https://github.com/acme/widgets/pull/7"


@dataclass
class Fakes:
    slack: FakeSlack
    claude: FakeAnthropic
    github: FakeGitHub
    jira: FakeJira
    dispatch: FakeDispatch


@pytest.fixture
async def fakes() -> AsyncIterator[Fakes]:
    async with (
        FakeSlack() as slack,
        FakeAnthropic() as claude,
        FakeGitHub() as github,
        FakeJira() as jira,
        FakeDispatch() as dispatch,
    ):
        slack.users.update({"U1": {"real_name": "Ada Lovelace", "display_name": "ada"}})
        github.set_visibility(PUBLIC_REPO, "public")
        yield Fakes(slack, claude, github, jira, dispatch)
        await claude.managed.close()


def env_for(
    f: Fakes, database_url: str, *, runner: str = "managed", webhook: bool = True, **extra: str
) -> dict[str, str]:
    env = {
        **base_env(f.slack.url, f.claude.root_url, database_url),
        "GITHUB_TOKEN": f.github.token,
        "GITHUB_API_URL": f.github.url,
        "GITHUB_REPOS": f"{REPO},{PUBLIC_REPO}",
        "JIRA_BASE_URL": f.jira.url,
        "JIRA_EMAIL": f.jira.email,
        "JIRA_API_TOKEN": f.jira.token,
        "JIRA_PROJECTS": "AD",
        "JOB_POLL_SECONDS": "1",
        # Where runners are told to report; the tests report to the app's own address.
        "PUBLIC_URL": "https://threadline.example.com",
    }
    if runner == "managed":
        env |= {"JOBS_AGENT_ID": DEFAULT_AGENT_ID, "JOBS_ENVIRONMENT_ID": DEFAULT_ENVIRONMENT_ID}
        if webhook:
            env["ANTHROPIC_WEBHOOK_SECRET"] = f.claude.managed.webhook_secret
    else:
        env |= {"JOBS_RUNNER": "callback", "JOBS_DISPATCH_URL": f.dispatch.url}
    return env | extra


@asynccontextmanager
async def start(
    f: Fakes,
    database_url: str,
    *,
    runner: str = "managed",
    webhook: bool = True,
    clock: ShiftedClock | None = None,
    **extra: str,
) -> AsyncIterator[Running]:
    """The real app on ``database_url`` (with ``clock``, on a store of the test's that reads
    that clock too)."""
    env = env_for(f, database_url, runner=runner, webhook=webhook, **extra)
    store = SqlStore(database_url, ttl_days=30, clock=clock.now) if clock else None
    overrides: dict[str, Any] = {"store": store, "clock": clock.now} if clock else {}
    try:
        async with run_app(env, **overrides) as bot:
            if runner == "managed" and webhook:
                f.claude.managed.subscribe(bot.url + "/webhooks/anthropic")
            yield bot
    finally:
        if store is not None:
            await store.close()


def start_call(title: str = "Refactor the parser", repo: str | None = REPO) -> ToolCall:
    args: dict[str, Any] = {"title": title, "instructions": "Split parse() in two; open a PR."}
    if repo is not None:
        args["repo"] = repo
    return ToolCall("start_background_job", args)


async def settled(bot: Running) -> None:
    await inbox_drained(bot.store)
    await bot.idle()


async def start_job(bot: Running, f: Fakes, *, channel: str = "C1", **call: Any) -> tuple[str, Job]:
    """A Slack thread whose first turn starts a job; returns the thread's root ts and the job."""
    f.claude.script(
        Reply(text="Starting it.", tool_calls=[start_call(**call)]), Reply(text="It runs.")
    )
    root = new_ts()
    await bot.send_event(mention("please refactor the parser", channel=channel, ts=root))
    await settled(bot)
    (job,) = await jobs_of_thread(bot.store, bot.app.settings.agent_name, channel, root)
    return root, job


async def jobs_of_thread(store: Store, agent: str, channel: str, root: str) -> list[Job]:
    session = await store.resolve(f"{agent}:slack:{channel}::{root}")
    assert session is not None, "the thread has no conversation"
    return await store.jobs_of_session(session.id)
