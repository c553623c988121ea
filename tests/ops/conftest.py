"""Fixtures for the operator commands: a seeded store, ``python -m app`` run in-process, and
the loopback fakes ``doctor`` checks, with a healthy configuration pointing at them (``env``).

``cli(*argv)`` runs ``app.cli.main`` in a worker thread (it calls ``asyncio.run`` itself, and
the loopback fakes keep serving on the test's loop meanwhile) with the environment given by
the ``cli_env`` fixture, and returns the exit code with what went to stdout and stderr.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.core import Usage
from app.store import SqlStore
from app.store.base import (
    NewMessage,
    TurnCommit,
)
from tests.conftest import Clock
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.github import FakeGitHub
from tests.fakes.jira import FakeJira
from tests.fakes.slack import FakeSlack

AGENT = "threadline"
SLACK_THREAD = f"{AGENT}:slack:C01ABC::1763700000.000100"
SLACK_DM = f"{AGENT}:slack:D01XYZ::main"
JIRA_ITEM = f"{AGENT}:jira:AD-12"
JIRA_ENDED = f"{AGENT}:jira:OPS-7"
GITHUB_ITEM = f"{AGENT}:github:acme/widgets#42"
JIRA_URL = "https://acme.atlassian.net/browse/AD-12"
GITHUB_URL = "https://github.com/acme/widgets/issues/42"

# Settings the commands may read; removed from the environment so the developer's own
# configuration cannot leak into a test.
SETTING_NAMES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_MODEL",
    "DATABASE_URL",
    "PORT",
    "AGENT_NAME",
    "SESSION_TTL_DAYS",
    "SESSION_MAX_AGE_DAYS",
    "RETENTION_DAYS",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "JIRA_BASE_URL",
    "JIRA_EMAIL",
    "JIRA_API_TOKEN",
    "JIRA_PROJECTS",
    "JIRA_WEBHOOK_SECRET",
    "GITHUB_TOKEN",
    "GITHUB_API_URL",
    "GITHUB_REPOS",
    "GITHUB_WEBHOOK_SECRET",
    "THREADLINE_ENV_FILE",
)


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


Cli = Callable[..., Awaitable[Result]]


@dataclass
class Seeded:
    """The sessions the ``seeded`` fixture wrote (ids), with the store and its clock."""

    store: SqlStore
    url: str
    clock: Clock
    thread: str  # Slack thread + Jira ticket, active a day ago, two turns
    github: str  # GitHub issue, active ten days ago
    ended: str  # Jira ticket, reset twenty days ago
    stale: str  # Slack DM, idle 45 days: past the TTL, not yet marked expired
    turn_ids: list[str]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``main`` configures the root logger; put it back as pytest had it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment ``cli`` runs with; tests add to it before calling ``cli``."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    return {
        "THREADLINE_ENV_FILE": str(tmp_path / "no.env"),
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "AGENT_NAME": AGENT,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'threadline.db'}",
    }


@pytest.fixture
def cli(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Cli:
    async def run(*argv: str) -> Result:
        for name, value in cli_env.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


async def _turn(
    store: SqlStore,
    session_id: str,
    turn_id: str,
    messages: list[NewMessage],
    usage: Usage,
    started: datetime,
) -> None:
    fence = await store.acquire_lease(session_id, "seed", 30)
    assert fence is not None
    await store.commit_turn(
        TurnCommit(
            session_id=session_id,
            fence=fence,
            turn_id=turn_id,
            messages=messages,
            usage=usage,
            model="claude-sonnet-5-5",
            outcome="ok",
            holder="seed",
            started_at=started,
        )
    )


def _said(who: str, uid: str, text: str, source: str = "slack") -> NewMessage:
    where = {"slack": "Slack", "jira": "Jira", "github": "GitHub"}[source]
    return NewMessage(
        role="user",
        content=[{"type": "text", "text": f"[{who} ({uid}) in {where}]\n{text}"}],
        author_id=uid,
        author_name=who,
        source=source,
    )


def _answer(text: str, source: str = "slack") -> NewMessage:
    return NewMessage(role="assistant", content=[{"type": "text", "text": text}], source=source)


async def seed(store: SqlStore, clock: Clock) -> dict[str, Any]:
    """Four sessions across platforms and states, written through the Store API."""
    clock.advance(days=-45)
    stale = await store.create_session(AGENT, turn_id="t-stale-1")
    await store.register_key(SLACK_DM, stale.id, turn_id="t-stale-1")
    await _turn(
        store,
        stale.id,
        "t-stale-1",
        [_said("ada", "U1", "old question"), _answer("old answer")],
        Usage(100, 20, 0, 90),
        clock.now(),
    )

    clock.advance(days=25)  # 20 days ago
    ended = await store.create_session(AGENT, turn_id="t-ended-1")
    await store.register_key(JIRA_ENDED, ended.id, url="https://acme.atlassian.net/browse/OPS-7")
    await _turn(
        store,
        ended.id,
        "t-ended-1",
        [_said("grace", "U2", "status of OPS-7?", "jira"), _answer("In review.", "jira")],
        Usage(50, 10, 0, 0),
        clock.now(),
    )
    await store.end_session(ended.id, "reset", cause="reset by U2")

    clock.advance(days=10)  # 10 days ago
    github = await store.create_session(AGENT, turn_id="t-gh-1")
    await store.register_key(GITHUB_ITEM, github.id, url=GITHUB_URL)
    await _turn(
        store,
        github.id,
        "t-gh-1",
        [_said("octo", "octocat", "does this crash on 3.12?", "github"), _answer("No.", "github")],
        Usage(300, 40, 200, 0),
        clock.now(),
    )

    clock.advance(days=9)  # 1 day ago
    thread = await store.create_session(AGENT, turn_id="t-thread-1")
    await store.register_key(SLACK_THREAD, thread.id, turn_id="t-thread-1")
    started = clock.now()
    clock.advance(seconds=3)
    await _turn(
        store,
        thread.id,
        "t-thread-1",
        [
            _said("ada", "U1", "the export crashes, please file a ticket"),
            NewMessage(
                role="assistant",
                content=[
                    {"type": "text", "text": "Filing it."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "create_jira_ticket",
                        "input": {"project_key": "AD", "summary": "Export crashes"},
                    },
                ],
                source="slack",
            ),
            NewMessage(
                role="user",
                content=[
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": f"Created AD-12: {JIRA_URL}",
                    }
                ],
                source="slack",
            ),
            _answer("Filed AD-12."),
        ],
        Usage(1000, 200, 0, 800),
        started,
    )
    await store.register_key(JIRA_ITEM, thread.id, url=JIRA_URL, turn_id="t-thread-1")
    clock.advance(minutes=10)
    await _turn(
        store,
        thread.id,
        "t-thread-2",
        [_said("grace", "U2", "thanks! any update?"), _answer("Not yet.")],
        Usage(1200, 30, 900, 100),
        clock.now(),
    )
    await store.log_event(thread.id, "note", cause="seeded by the test")
    return {
        "thread": thread.id,
        "github": github.id,
        "ended": ended.id,
        "stale": stale.id,
        "turn_ids": ["t-thread-1", "t-thread-2"],
    }


@pytest.fixture
async def seeded(store_url: str, cli_env: dict[str, str]) -> AsyncIterator[Seeded]:
    """The store at ``store_url`` (SQLite and PostgreSQL), seeded relative to the real clock,
    since the commands read the real time."""
    clock = Clock(datetime.now(UTC))
    store = SqlStore(store_url, ttl_days=30, clock=clock.now)
    await store.migrate()
    ids = await seed(store, clock)
    cli_env["DATABASE_URL"] = store_url
    try:
        yield Seeded(store=store, url=store_url, clock=clock, **ids)
    finally:
        await store.close()


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def child_env(env: dict[str, str]) -> dict[str, str]:
    """A clean environment for ``python -m app`` in a subprocess."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(repo_root()),
        **env,
    }


# -- doctor: the services it checks --------------------------------------------------------


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def claude() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
async def jira() -> AsyncIterator[FakeJira]:
    async with FakeJira() as fake:
        yield fake


@pytest.fixture
async def github() -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub() as fake:
        yield fake


@pytest.fixture
async def env(
    cli_env: dict[str, str],
    slack: FakeSlack,
    claude: FakeAnthropic,
    jira: FakeJira,
    github: FakeGitHub,
) -> dict[str, str]:
    """A healthy configuration: every integration on, pointing at the fakes; DB migrated."""
    store = SqlStore(cli_env["DATABASE_URL"], ttl_days=30)
    await store.migrate()
    await store.close()
    cli_env.update(
        {
            "SLACK_API_URL": slack.url,
            "ANTHROPIC_BASE_URL": claude.root_url,
            "JIRA_BASE_URL": jira.url,
            "JIRA_EMAIL": jira.email,
            "JIRA_API_TOKEN": jira.token,
            "JIRA_PROJECTS": "AD,OPS",
            "JIRA_WEBHOOK_SECRET": "jira-hook-secret",
            "GITHUB_API_URL": github.url,
            "GITHUB_TOKEN": github.token,
            "GITHUB_REPOS": "acme/widgets",
            "GITHUB_WEBHOOK_SECRET": "github-hook-secret",
        }
    )
    return cli_env
