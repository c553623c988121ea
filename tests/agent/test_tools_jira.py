"""create_jira_ticket and link_jira_ticket, with the real client against the fake Jira."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.agent.tools.jira import CreateJiraTicket, LinkJiraTicket, jira_tools
from app.core import Audience
from app.integrations.adf import adf_to_text
from app.integrations.jira import JiraClient
from tests.agent.conversation import THREAD, Conversation
from tests.fakes.jira import FakeJira, adf_problem


@pytest.fixture
async def jira() -> AsyncIterator[FakeJira]:
    async with FakeJira(projects=["AD", "OPS", "SEC"]) as fake:
        yield fake


@pytest.fixture
async def client(jira: FakeJira) -> AsyncIterator[JiraClient]:
    async with httpx.AsyncClient() as http:
        yield JiraClient(jira.settings(projects=["AD", "OPS"]), http)


@pytest.fixture
def create(client: JiraClient, jira: FakeJira) -> CreateJiraTicket:
    return CreateJiraTicket(client, jira.settings(projects=["AD", "OPS"]))


@pytest.fixture
def link(client: JiraClient, jira: FakeJira) -> LinkJiraTicket:
    return LinkJiraTicket(client, jira.settings(projects=["AD", "OPS"]))


def ticket_args(**overrides: Any) -> dict[str, Any]:
    base = {"project_key": "AD", "summary": "Login fails", "description": "On **Safari** only."}
    return base | overrides


def test_definitions_describe_the_tools(client: JiraClient, jira: FakeJira) -> None:
    tools = jira_tools(client, jira.settings(projects=["AD", "OPS"]))
    definitions = {t.name: t.definition() for t in tools}

    assert set(definitions) == {"create_jira_ticket", "link_jira_ticket"}
    schema = definitions["create_jira_ticket"]["input_schema"]
    assert schema["required"] == ["project_key", "summary", "description"]
    assert "issue_type" in schema["properties"]
    assert "AD, OPS" in definitions["create_jira_ticket"]["description"]


async def test_create_files_the_ticket_with_an_adf_footer_and_links_it(
    create: CreateJiraTicket, jira: FakeJira
) -> None:
    talk = Conversation()

    result = await create.run(ticket_args(), talk.context())

    assert not result.is_error, result.content
    fields = jira.issues["AD-1"]["fields"]
    assert fields["summary"] == "Login fails"
    assert fields["issuetype"] == {"name": "Task"}
    description = fields["description"]
    assert adf_problem(description) is None
    *_, rule, footer = description["content"]
    assert rule == {"type": "rule"}
    hrefs = [
        mark["attrs"]["href"]
        for node in footer["content"]
        for mark in node.get("marks", [])
        if mark["type"] == "link"
    ]
    assert hrefs == [THREAD]
    assert "session `sess-1`" in adf_to_text(footer)
    assert talk.links == [("threadline:jira:AD-1", f"{jira.url}/browse/AD-1")]
    assert "AD-1" in result.content
    assert f"{jira.url}/browse/AD-1" in result.content
    assert "come back here" in result.content


async def test_project_and_issue_type_are_normalised(
    create: CreateJiraTicket, jira: FakeJira
) -> None:
    result = await create.run(
        ticket_args(project_key="ops", issue_type="bug"), Conversation().context()
    )

    assert not result.is_error
    assert jira.issues["OPS-1"]["fields"]["issuetype"] == {"name": "Bug"}


async def test_a_free_text_issue_type_is_passed_on_and_jira_decides(
    create: CreateJiraTicket, jira: FakeJira
) -> None:
    result = await create.run(ticket_args(issue_type="Spike"), Conversation().context())

    assert result.is_error
    assert "issuetype: Specify a valid issue type" in result.content
    assert "Fix what was rejected" in result.content


async def test_project_outside_the_allow_list_is_refused(
    create: CreateJiraTicket, jira: FakeJira
) -> None:
    talk = Conversation()

    result = await create.run(ticket_args(project_key="SEC"), talk.context())

    assert result.is_error
    assert "Project 'SEC' is not allowed: only AD, OPS" in result.content
    assert jira.requests == []
    assert talk.links == []


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"project_key": "A-D"}, "project_key must look like 'AD'"),
        ({"project_key": 5}, "project_key is required"),
        ({"summary": " "}, "summary must not be empty"),
        ({"summary": "s" * 251}, "summary must be at most 250 characters"),
        ({"description": "d" * 60_001}, "description must be at most 60,000 characters"),
        ({"description": {"type": "doc"}}, "description must be a string"),
        ({"issue_type": "x" * 51}, "issue_type must be at most 50 characters"),
        ({"issue_type": ""}, "issue_type must not be empty"),
    ],
)
async def test_invalid_input_is_refused_without_calling_jira(
    create: CreateJiraTicket, jira: FakeJira, overrides: dict[str, Any], words: str
) -> None:
    result = await create.run(ticket_args(**overrides), Conversation().context())

    assert result.is_error
    assert words in result.content
    assert jira.requests == []


async def test_multi_line_summaries_are_flattened(create: CreateJiraTicket, jira: FakeJira) -> None:
    result = await create.run(ticket_args(summary="Login\nfails"), Conversation().context())
    assert not result.is_error
    assert jira.issues["AD-1"]["fields"]["summary"] == "Login fails"


async def test_upstream_failure_is_an_error_result(
    create: CreateJiraTicket, jira: FakeJira
) -> None:
    jira.fail("POST", 500)
    talk = Conversation()

    result = await create.run(ticket_args(), talk.context())

    assert result.is_error
    assert "Jira said: server error (500)" in result.content
    assert talk.links == []


async def test_timeout_is_an_error_result(jira: FakeJira) -> None:
    jira.delay("POST", 2.0)
    async with httpx.AsyncClient() as http:
        slow = JiraClient(jira.settings(), http, timeout=httpx.Timeout(0.2))
        result = await CreateJiraTicket(slow, jira.settings()).run(
            ticket_args(), Conversation().context()
        )

    assert result.is_error
    assert "did not answer in time" in result.content


async def test_a_ticket_owned_by_another_conversation_is_reported(
    create: CreateJiraTicket, jira: FakeJira
) -> None:
    result = await create.run(ticket_args(), Conversation(owner="sess-other").context())

    assert not result.is_error
    assert "already linked to another conversation (session sess-other)" in result.content


async def test_store_failure_after_creating_says_the_ticket_exists(
    create: CreateJiraTicket, jira: FakeJira
) -> None:
    talk = Conversation()
    talk.store_down = True

    result = await create.run(ticket_args(), talk.context())

    assert not result.is_error
    assert "AD-1" in result.content
    assert "could not be linked" in result.content


# -- link_jira_ticket --------------------------------------------------------------------------


async def test_link_verifies_the_ticket_then_links_it(link: LinkJiraTicket, jira: FakeJira) -> None:
    jira.add_issue("AD", "Old bug", resolved=True)
    talk = Conversation()

    result = await link.run({"key": "ad-1"}, talk.context())

    assert not result.is_error
    assert jira.requests_to("GET /rest/api/3/issue/AD-1$")
    assert talk.links == [("threadline:jira:AD-1", f"{jira.url}/browse/AD-1")]
    assert "Linked Jira ticket AD-1 “Old bug” (Done" in result.content


async def test_link_a_missing_ticket_is_refused(link: LinkJiraTicket, jira: FakeJira) -> None:
    talk = Conversation()

    result = await link.run({"key": "AD-9"}, talk.context())

    assert result.is_error
    assert "AD-9 does not exist" in result.content
    assert talk.links == []


async def test_link_a_ticket_owned_elsewhere_is_an_error(
    link: LinkJiraTicket, jira: FakeJira
) -> None:
    jira.add_issue("AD", "Old bug")

    result = await link.run({"key": "AD-1"}, Conversation(owner="sess-other").context())

    assert result.is_error
    assert "sess-other" in result.content


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("AD12", "key must look like 'AD-123'"),
        ("AD-0", "key must look like 'AD-123'"),
        (12, "key is required"),
        ("SEC-1", "Project 'SEC' is not allowed"),
    ],
)
async def test_link_refuses_bad_keys(
    link: LinkJiraTicket, jira: FakeJira, key: Any, words: str
) -> None:
    result = await link.run({"key": key}, Conversation().context())
    assert result.is_error
    assert words in result.content
    assert jira.requests == []


async def test_link_with_bad_credentials_names_the_setting(jira: FakeJira) -> None:
    async with httpx.AsyncClient() as http:
        wrong = JiraClient(jira.settings(token="nope-nope"), http)
        result = await LinkJiraTicket(wrong, jira.settings()).run(
            {"key": "AD-1"}, Conversation().context()
        )

    assert result.is_error
    assert "JIRA_API_TOKEN" in result.content
    assert "nope-nope" not in result.content


async def test_a_service_desk_ticket_carries_no_link_to_the_slack_thread() -> None:
    async with FakeJira(projects=["AD"], service_desks=["HELP"]) as desk, httpx.AsyncClient() as h:
        settings = desk.settings(projects=["AD", "HELP"])
        client = JiraClient(settings, h)
        tool = CreateJiraTicket(client, settings)
        assert await tool.target_audience(ticket_args(project_key="HELP")) is Audience.PUBLIC
        assert await tool.target_audience(ticket_args(project_key="AD")) is Audience.INTERNAL
        assert await tool.target_audience(ticket_args(project_key="NOPE")) is None

        result = await tool.run(ticket_args(project_key="HELP"), Conversation().context())

        assert not result.is_error, result.content
        footer = adf_to_text(desk.issues["HELP-1"]["fields"]["description"])
        assert THREAD not in footer and "slack" not in footer.lower()
        assert "Filed by Threadline" in footer and "session `sess-1`" in footer


async def test_a_project_jira_cannot_describe_counts_as_public(jira: FakeJira) -> None:
    async with httpx.AsyncClient() as http:
        client = JiraClient(jira.settings(projects=["GONE"]), http)
        assert await client.project_audience("GONE") is Audience.PUBLIC
