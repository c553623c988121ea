"""Which tools write, and where: the write marks on the tracker tools, ``WRITE_TOOLS``, and
``target_audience`` (a public repository is PUBLIC) through the real clients and the fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.agent.tools.base import (
    WRITE_TOOLS,
    ToolContext,
    ToolRegistry,
    ToolResult,
    WriteAware,
    is_write_tool,
)
from app.agent.tools.github import github_tools
from app.agent.tools.jira import jira_tools
from app.core import Audience
from app.integrations.github import GitHubClient
from app.integrations.jira import JiraClient
from tests.fakes.github import FakeGitHub
from tests.fakes.jira import FakeJira


class Reader:
    name = "search_docs"

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "description": "", "input_schema": {"type": "object"}}

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return ToolResult("found")


class Broken(Reader):
    name = "create_thing"
    writes = True

    async def target_audience(self, args: dict[str, Any]) -> Audience | None:
        raise RuntimeError("cannot tell")


@pytest.fixture
async def registry() -> AsyncIterator[ToolRegistry]:
    async with (
        FakeGitHub(repos=["acme/widgets", "acme/site"]) as gh,
        FakeJira(projects=["AD"]) as jira,
        httpx.AsyncClient() as http,
    ):
        gh.set_visibility("acme/site", "public")
        gh_settings = gh.settings(repos=["acme/widgets", "acme/site"])
        jira_settings = jira.settings(projects=["AD"])
        yield ToolRegistry(
            [
                *github_tools(GitHubClient(gh_settings, http), gh_settings),
                *jira_tools(JiraClient(jira_settings, http), jira_settings),
                Reader(),
                Broken(),
            ]
        )


def test_the_tracker_tools_are_write_tools_and_readers_are_not(registry: ToolRegistry) -> None:
    assert isinstance(registry, WriteAware)
    assert [n for n in registry.names if registry.writes(n)] == [
        "create_github_issue",
        "create_jira_ticket",
        "create_thing",
        "link_github_issue",
        "link_jira_ticket",
    ]
    assert not registry.writes("search_docs")


def test_the_job_tools_are_writes_by_name_before_they_exist(registry: ToolRegistry) -> None:
    for name in ("start_background_job", "continue_background_job", "cancel_background_job"):
        assert name in WRITE_TOOLS and registry.writes(name)
    unmarked = Reader()
    unmarked.name = "cancel_background_job"
    assert is_write_tool(unmarked) and not is_write_tool(Reader())


@pytest.mark.parametrize(
    ("name", "args", "audience"),
    [
        ("create_github_issue", {"repo": "acme/site", "title": "t", "body": ""}, Audience.PUBLIC),
        ("create_github_issue", {"repo": "Acme/Widgets"}, Audience.INTERNAL),
        ("link_github_issue", {"repo": "acme/site", "number": 2}, Audience.PUBLIC),
        ("create_github_issue", {"repo": "acme/elsewhere"}, None),  # refused by the tool
        ("create_github_issue", {"repo": 42}, None),
        ("create_jira_ticket", {"project_key": "AD"}, Audience.INTERNAL),  # a software project
        ("search_docs", {}, None),
        ("no_such_tool", {}, None),
        ("create_github_issue", "not an object", None),
    ],
)
async def test_the_target_audience_of_a_call(
    registry: ToolRegistry, name: str, args: Any, audience: Audience | None
) -> None:
    assert await registry.target_audience(name, args) is audience


async def test_a_tool_that_cannot_tell_its_audience_counts_as_public(
    registry: ToolRegistry,
) -> None:
    assert await registry.target_audience("create_thing", {}) is Audience.PUBLIC
