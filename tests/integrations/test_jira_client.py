"""JiraClient against the loopback fake: every call, and every class of failure."""

from __future__ import annotations

import base64

import httpx
import pytest

from app.errors import IntegrationError, NotFound
from app.integrations.adf import adf_to_text
from app.integrations.item import Item
from app.integrations.jira import JiraClient
from tests.fakes.jira import FakeJira, adf_problem


def client_for(jira: FakeJira, http: httpx.AsyncClient, **kwargs: object) -> JiraClient:
    return JiraClient(jira.settings(), http, **kwargs)  # type: ignore[arg-type]


async def test_create_issue_sends_adf_and_returns_the_item(
    jira: FakeJira, http: httpx.AsyncClient
) -> None:
    item = await client_for(jira, http).create_issue(
        "AD", "Login fails", "It **fails** with `500`:\n\n- on Safari\n- on Firefox", "Bug"
    )

    assert item == Item(
        platform="jira",
        ref="AD-1",
        url=f"{jira.url}/browse/AD-1",
        title="Login fails",
        state="open",
        key="AD-1",
    )
    fields = jira.issues["AD-1"]["fields"]
    assert fields["issuetype"] == {"name": "Bug"}
    assert adf_problem(fields["description"]) is None
    assert "on Safari" in adf_to_text(fields["description"])
    (request,) = jira.requests_to("POST /rest/api/3/issue$")
    expected = base64.b64encode(f"{jira.email}:{jira.token}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert request.headers["User-Agent"].startswith("threadline/")


async def test_issue_type_defaults_to_task(jira: FakeJira, http: httpx.AsyncClient) -> None:
    await client_for(jira, http).create_issue("AD", "Chore", "")
    assert jira.issues["AD-1"]["fields"]["issuetype"] == {"name": "Task"}


async def test_get_issue_reports_status_and_resolution(
    jira: FakeJira, http: httpx.AsyncClient
) -> None:
    jira.add_issue("AD", "Still open")
    jira.add_issue("AD", "All done", resolved=True)
    client = client_for(jira, http)

    open_item = await client.get_issue("ad-1")
    done = await client.get_issue("AD-2")

    assert (open_item.key, open_item.state, open_item.status) == ("AD-1", "open", "To Do")
    assert (done.title, done.state, done.status) == ("All done", "closed", "Done")
    assert jira.requests_to("GET /rest/api/3/issue/AD-2")[0].query == {
        "fields": "summary,status,resolution"
    }


async def test_add_comment_posts_adf_and_returns_its_id(
    jira: FakeJira, http: httpx.AsyncClient
) -> None:
    jira.add_issue("AD", "Crash")
    comment_id = await client_for(jira, http).add_comment("AD-1", "Fixed in **1.2**.")

    (comment,) = jira.comments("AD-1")
    assert comment["id"] == comment_id
    assert adf_problem(comment["body"]) is None
    assert adf_to_text(comment["body"]) == "Fixed in **1.2**."


async def test_myself_returns_the_account_id(jira: FakeJira, http: httpx.AsyncClient) -> None:
    assert await client_for(jira, http).myself() == "557058:bot-account"


async def test_validation_errors_are_condensed(jira: FakeJira, http: httpx.AsyncClient) -> None:
    with pytest.raises(IntegrationError) as caught:
        await client_for(jira, http).create_issue("AD", "T", "", "Spike")

    assert caught.value.status == 400
    assert (
        caught.value.message == "rejected the request (400): issuetype: Specify a valid issue type"
    )


async def test_missing_issue_is_not_found(jira: FakeJira, http: httpx.AsyncClient) -> None:
    with pytest.raises(NotFound) as caught:
        await client_for(jira, http).get_issue("AD-404")
    assert caught.value.status == 404
    assert caught.value.message == "issue AD-404 was not found"


async def test_wrong_token_names_the_setting_and_hides_the_token(
    jira: FakeJira, http: httpx.AsyncClient
) -> None:
    client = JiraClient(jira.settings(token="wrong-secret-token"), http)

    with pytest.raises(IntegrationError) as caught:
        await client.myself()

    assert caught.value.status == 401
    assert "JIRA_API_TOKEN" in caught.value.message
    assert "wrong-secret-token" not in str(caught.value) + repr(caught.value) + repr(client)


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (401, IntegrationError, "check JIRA_API_TOKEN"),
        (403, IntegrationError, "JIRA_API_TOKEN has access"),
        (404, NotFound, "issue AD-1 was not found"),
        (410, NotFound, "issue AD-1 was deleted"),
        (400, IntegrationError, "summary: Field is invalid."),
        (422, IntegrationError, "rejected the request (422): scripted failure 422"),
        (500, IntegrationError, "server error (500)"),
        (503, IntegrationError, "server error (503)"),
    ],
)
async def test_failures_map_to_the_error_tree(
    jira: FakeJira,
    http: httpx.AsyncClient,
    status: int,
    kind: type[IntegrationError],
    words: str,
) -> None:
    jira.add_issue("AD", "Crash")
    jira.fail("POST /rest/api/3/issue/AD-1/comment", status)

    with pytest.raises(kind) as caught:
        await client_for(jira, http).add_comment("AD-1", "hello")

    assert type(caught.value) is kind
    assert (caught.value.service, caught.value.status) == ("Jira", status)
    assert words in caught.value.message
    assert not jira.comments("AD-1")
    assert len(jira.requests) == 1


async def test_upstream_text_echoing_the_credentials_is_scrubbed(
    jira: FakeJira, http: httpx.AsyncClient
) -> None:
    basic = base64.b64encode(f"{jira.email}:{jira.token}".encode()).decode()
    jira.fail("POST", 400, body={"errorMessages": [f"bad header Basic {basic} ({jira.token})"]})

    with pytest.raises(IntegrationError) as caught:
        await client_for(jira, http).create_issue("AD", "T", "D")

    assert jira.token not in caught.value.message
    assert basic not in caught.value.message


async def test_rate_limit_with_a_short_retry_after_is_retried_once(
    jira: FakeJira, http: httpx.AsyncClient
) -> None:
    jira.fail("POST /rest/api/3/issue$", 429, times=1, retry_after=0)

    item = await client_for(jira, http).create_issue("AD", "T", "D")

    assert item.key == "AD-1"
    assert len(jira.requests) == 2


async def test_rate_limit_with_a_long_retry_after_is_reported(
    jira: FakeJira, http: httpx.AsyncClient
) -> None:
    jira.fail("GET", 429, retry_after=120)

    with pytest.raises(IntegrationError) as caught:
        await client_for(jira, http).myself()

    assert (caught.value.status, caught.value.message) == (429, "rate limited, retry after 120 s")
    assert len(jira.requests) == 1


async def test_rate_limit_without_retry_after_is_reported(
    jira: FakeJira, http: httpx.AsyncClient
) -> None:
    jira.fail("GET", 429)

    with pytest.raises(IntegrationError, match="rate limited, retry later"):
        await client_for(jira, http).myself()
    assert len(jira.requests) == 1


async def test_timeout_is_an_integration_error(jira: FakeJira, http: httpx.AsyncClient) -> None:
    jira.delay("POST", 2.0)
    client = client_for(jira, http, timeout=httpx.Timeout(0.2, connect=0.2))

    with pytest.raises(IntegrationError) as caught:
        await client.create_issue("AD", "T", "D")

    assert caught.value.status is None
    assert caught.value.message == "did not answer in time (project AD)"


async def test_the_fake_gives_projects_a_type_and_comments_jsd_public(
    http: httpx.AsyncClient,
) -> None:
    async with FakeJira(projects=["AD"], service_desks=["HELP"]) as jira:
        jira.add_issue("AD", "Crash")
        jira.add_issue("HELP", "Cannot log in")
        client = client_for(jira, http)
        await client.add_comment("HELP-1", "We are on it.", public=True)
        internal = await http.post(
            f"{jira.url}/rest/api/3/issue/HELP-1/comment",
            auth=(jira.email, jira.token),
            json={
                "body": {"type": "doc", "version": 1, "content": []},
                "properties": [{"key": "sd.public.comment", "value": {"internal": True}}],
            },
        )

    types = {k: i["fields"]["project"]["projectTypeKey"] for k, i in jira.issues.items()}
    assert types == {"AD-1": "software", "HELP-1": "service_desk"}
    public, note = jira.comments("HELP-1")
    assert internal.status_code == 201
    assert (public["jsdPublic"], note["jsdPublic"]) == (True, False)
    assert public["author"]["accountType"] == "atlassian"


async def test_comments_are_internal_unless_asked_to_be_public(http: httpx.AsyncClient) -> None:
    async with FakeJira(projects=["AD"], service_desks=["HELP"]) as jira:
        jira.add_issue("HELP", "Cannot log in")
        client = client_for(jira, http)
        await client.add_comment("HELP-1", "Internal: the fix is in review.")
        await client.add_comment("HELP-1", "Thanks, we are on it.", public=True)

    internal, public = jira.comments("HELP-1")
    assert (internal["jsdPublic"], public["jsdPublic"]) == (False, True)
