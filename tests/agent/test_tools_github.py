"""create_github_issue and link_github_issue, with the real client against the fake GitHub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.agent.tools.base import ToolRegistry
from app.agent.tools.github import CreateGitHubIssue, LinkGitHubIssue, github_tools
from app.integrations.github import GitHubClient
from tests.agent.conversation import THREAD, Conversation
from tests.fakes.github import FakeGitHub


@pytest.fixture
async def gh() -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub(repos=["acme/widgets", "acme/gadgets"]) as fake:
        yield fake


@pytest.fixture
async def client(gh: FakeGitHub) -> AsyncIterator[GitHubClient]:
    async with httpx.AsyncClient() as http:
        yield GitHubClient(gh.settings(repos=["acme/widgets", "Acme/Gadgets"]), http)


@pytest.fixture
def create(client: GitHubClient, gh: FakeGitHub) -> CreateGitHubIssue:
    return CreateGitHubIssue(client, gh.settings(repos=["acme/widgets", "Acme/Gadgets"]))


@pytest.fixture
def link(client: GitHubClient, gh: FakeGitHub) -> LinkGitHubIssue:
    return LinkGitHubIssue(client, gh.settings(repos=["acme/widgets", "Acme/Gadgets"]))


def issue_args(**overrides: Any) -> dict[str, Any]:
    return {"repo": "acme/widgets", "title": "Crash on save", "body": "Steps to reproduce"} | (
        overrides
    )


def test_definitions_describe_the_tools(client: GitHubClient, gh: FakeGitHub) -> None:
    tools = github_tools(client, gh.settings(repos=["acme/widgets"]))
    definitions = {t.name: t.definition() for t in tools}

    assert set(definitions) == {"create_github_issue", "link_github_issue"}
    create_def = definitions["create_github_issue"]
    assert create_def["input_schema"]["required"] == ["repo", "title", "body"]
    assert "acme/widgets" in create_def["description"]
    assert definitions["link_github_issue"]["input_schema"]["properties"]["number"] == {
        "type": "integer",
        "minimum": 1,
    }


async def test_create_files_the_issue_with_a_footer_and_links_it(
    create: CreateGitHubIssue, gh: FakeGitHub
) -> None:
    talk = Conversation()

    result = await create.run(issue_args(), talk.context())

    assert not result.is_error
    issue = gh.issues[("acme/widgets", 1)]
    assert issue["title"] == "Crash on save"
    assert issue["body"] == (
        f"Steps to reproduce\n\n---\n_Filed from Slack by Threadline: {THREAD} · session `sess-1`_"
    )
    assert talk.links == [
        ("threadline:github:acme/widgets#1", "https://github.com/acme/widgets/issues/1")
    ]
    assert "acme/widgets#1" in result.content
    assert "https://github.com/acme/widgets/issues/1" in result.content
    assert "come back here" in result.content


async def test_create_accepts_the_repo_in_any_case(
    create: CreateGitHubIssue, gh: FakeGitHub
) -> None:
    talk = Conversation()
    result = await create.run(issue_args(repo="ACME/Gadgets"), talk.context())

    assert not result.is_error
    assert ("acme/gadgets", 1) in gh.issues
    assert talk.links[0][0] == "threadline:github:acme/gadgets#1"


async def test_create_without_a_thread_link_still_names_the_session(
    create: CreateGitHubIssue, gh: FakeGitHub
) -> None:
    talk = Conversation(link=None)
    await create.run(issue_args(), talk.context())
    assert gh.issues[("acme/widgets", 1)]["body"].endswith(
        "_Filed by Threadline · session `sess-1`_"
    )


async def test_create_goes_on_when_the_thread_link_fails(
    create: CreateGitHubIssue, gh: FakeGitHub
) -> None:
    talk = Conversation()
    talk.thread_link_fails = True

    result = await create.run(issue_args(), talk.context())

    assert not result.is_error
    assert "Filed by Threadline" in gh.issues[("acme/widgets", 1)]["body"]


async def test_a_public_repository_gets_no_link_to_the_slack_thread(
    create: CreateGitHubIssue, gh: FakeGitHub
) -> None:
    gh.set_visibility("acme/widgets", "public")
    talk = Conversation()

    result = await create.run(issue_args(), talk.context())

    assert not result.is_error
    body = gh.issues[("acme/widgets", 1)]["body"]
    assert body == "Steps to reproduce\n\n---\n_Filed by Threadline · session `sess-1`_"
    assert THREAD not in body and "slack.com" not in body
    assert talk.links == [
        ("threadline:github:acme/widgets#1", "https://github.com/acme/widgets/issues/1")
    ]


@pytest.mark.parametrize("visibility", ["private", "internal"])
async def test_a_private_or_internal_repository_gets_the_link(
    create: CreateGitHubIssue, gh: FakeGitHub, visibility: str
) -> None:
    gh.set_visibility("acme/widgets", visibility)
    await create.run(issue_args(), Conversation().context())
    assert THREAD in gh.issues[("acme/widgets", 1)]["body"]


async def test_when_github_cannot_say_who_reads_the_repository_no_link_is_given(
    create: CreateGitHubIssue, gh: FakeGitHub
) -> None:
    gh.fail(r"^GET /repos/acme/widgets$", 503, times=1)

    result = await create.run(issue_args(), Conversation().context())

    assert not result.is_error
    assert THREAD not in gh.issues[("acme/widgets", 1)]["body"]


async def test_the_filed_body_mentions_nobody_and_loads_no_foreign_image(
    create: CreateGitHubIssue, gh: FakeGitHub
) -> None:
    body = (
        "Reported by @alice, cc @acme/oncall.\n\n"
        "![screenshot](https://evil.example/s.png)\n"
        "![ok](https://user-images.githubusercontent.com/1/a.png)\n"
        "```\n@decorator\n```"
    )

    await create.run(issue_args(body=body), Conversation().context())

    filed = gh.issues[("acme/widgets", 1)]["body"]
    assert filed.startswith(
        "Reported by @\u200dalice, cc @\u200dacme/oncall.\n\n"
        "screenshot\n"
        "![ok](https://user-images.githubusercontent.com/1/a.png)\n"
        "```\n@decorator\n```"
    )
    assert "evil.example" not in filed


async def test_repository_outside_the_allow_list_is_refused(
    create: CreateGitHubIssue, gh: FakeGitHub
) -> None:
    talk = Conversation()

    result = await create.run(issue_args(repo="evil/repo"), talk.context())

    assert result.is_error
    assert "'evil/repo' is not allowed" in result.content
    assert "acme/gadgets, acme/widgets" in result.content
    assert gh.requests == []
    assert talk.links == []


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"repo": "not-a-repo"}, "repo must look like 'owner/name'"),
        ({"repo": None}, "repo is required"),
        ({"title": ""}, "title must not be empty"),
        ({"title": "x" * 251}, "title must be at most 250 characters"),
        ({"title": 42}, "title must be a string"),
        ({"body": "x" * 60_001}, "body must be at most 60,000 characters"),
        ({"body": None}, "body is required"),
    ],
)
async def test_invalid_input_is_refused_without_calling_github(
    create: CreateGitHubIssue, gh: FakeGitHub, overrides: dict[str, Any], words: str
) -> None:
    result = await create.run(issue_args(**overrides), Conversation().context())

    assert result.is_error
    assert words in result.content
    assert gh.requests == []


async def test_a_title_at_the_limit_is_accepted(create: CreateGitHubIssue, gh: FakeGitHub) -> None:
    result = await create.run(issue_args(title="x" * 250, body=""), Conversation().context())
    assert not result.is_error


async def test_upstream_failure_is_an_error_result(
    create: CreateGitHubIssue, gh: FakeGitHub
) -> None:
    gh.fail("POST", 503)
    talk = Conversation()

    result = await create.run(issue_args(), talk.context())

    assert result.is_error
    assert "GitHub said: server error (503)" in result.content
    assert "trying again" in result.content
    assert talk.links == []


async def test_bad_credentials_are_reported_with_the_setting(
    client: GitHubClient, gh: FakeGitHub
) -> None:
    async with httpx.AsyncClient() as http:
        wrong = GitHubClient(gh.settings(token="ghp_wrong"), http)
        tool = CreateGitHubIssue(wrong, gh.settings())
        result = await tool.run(issue_args(), Conversation().context())

    assert result.is_error
    assert "GITHUB_TOKEN" in result.content
    assert "ghp_wrong" not in result.content


async def test_an_issue_owned_by_another_conversation_is_reported(
    create: CreateGitHubIssue, gh: FakeGitHub
) -> None:
    result = await create.run(issue_args(), Conversation(owner="sess-other").context())

    assert not result.is_error  # the issue exists; Claude must not file it again
    assert "already linked to another conversation (session sess-other)" in result.content
    assert "Do not create it again" in result.content


async def test_store_failure_after_creating_says_the_issue_exists(
    create: CreateGitHubIssue, gh: FakeGitHub
) -> None:
    talk = Conversation()
    talk.store_down = True

    result = await create.run(issue_args(), talk.context())

    assert not result.is_error
    assert "https://github.com/acme/widgets/issues/1" in result.content
    assert "could not be linked" in result.content


# -- link_github_issue -------------------------------------------------------------------------


async def test_link_verifies_the_issue_then_links_it(link: LinkGitHubIssue, gh: FakeGitHub) -> None:
    gh.add_issue("acme/widgets", "Old bug")
    talk = Conversation()

    result = await link.run({"repo": "acme/widgets", "number": 1}, talk.context())

    assert not result.is_error
    assert gh.requests_to("GET /repos/acme/widgets/issues/1$")
    assert talk.links == [
        ("threadline:github:acme/widgets#1", "https://github.com/acme/widgets/issues/1")
    ]
    assert "Linked GitHub issue acme/widgets#1 “Old bug” (open" in result.content


async def test_link_a_missing_issue_is_refused(link: LinkGitHubIssue, gh: FakeGitHub) -> None:
    talk = Conversation()

    result = await link.run({"repo": "acme/widgets", "number": 7}, talk.context())

    assert result.is_error
    assert "acme/widgets#7 does not exist" in result.content
    assert talk.links == []


async def test_link_an_issue_owned_elsewhere_is_an_error(
    link: LinkGitHubIssue, gh: FakeGitHub
) -> None:
    gh.add_issue("acme/widgets", "Old bug")

    result = await link.run(
        {"repo": "acme/widgets", "number": 1}, Conversation(owner="sess-other").context()
    )

    assert result.is_error
    assert "sess-other" in result.content
    assert "not linked here" in result.content


@pytest.mark.parametrize(
    "args",
    [
        {"repo": "acme/widgets", "number": 0},
        {"repo": "acme/widgets", "number": "12"},
        {"repo": "acme/widgets", "number": True},
        {"repo": "acme/widgets"},
        {"repo": "other/repo", "number": 1},
    ],
)
async def test_link_refuses_bad_input(
    link: LinkGitHubIssue, gh: FakeGitHub, args: dict[str, Any]
) -> None:
    result = await link.run(args, Conversation().context())
    assert result.is_error
    assert gh.requests == []


async def test_link_upstream_failure_is_an_error_result(
    link: LinkGitHubIssue, gh: FakeGitHub
) -> None:
    gh.fail("GET", 429, retry_after=60)

    result = await link.run({"repo": "acme/widgets", "number": 1}, Conversation().context())

    assert result.is_error
    assert "rate limited, retry after 60 s" in result.content


async def test_the_registry_runs_the_tools(client: GitHubClient, gh: FakeGitHub) -> None:
    registry = ToolRegistry(github_tools(client, gh.settings(repos=["acme/widgets"])))

    result = await registry.call("create_github_issue", issue_args(), Conversation().context())

    assert registry.names == ["create_github_issue", "link_github_issue"]
    assert not result.is_error
