"""GitHubClient against the loopback fake: every call, and every class of failure."""

from __future__ import annotations

import re
import socket
import time

import httpx
import pytest

from app.errors import IntegrationError, NotFound
from app.integrations.github import GitHubClient
from app.integrations.item import Item
from tests.fakes.github import FakeGitHub


def client_for(gh: FakeGitHub, http: httpx.AsyncClient, **kwargs: object) -> GitHubClient:
    return GitHubClient(gh.settings(), http, **kwargs)  # type: ignore[arg-type]


async def test_create_issue_returns_the_item_and_sends_the_api_headers(
    gh: FakeGitHub, http: httpx.AsyncClient
) -> None:
    item = await client_for(gh, http).create_issue("acme/widgets", "Crash on save", "Steps…")

    assert item == Item(
        platform="github",
        ref="acme/widgets#1",
        url="https://github.com/acme/widgets/issues/1",
        title="Crash on save",
        state="open",
        number=1,
    )
    assert gh.issues[("acme/widgets", 1)]["body"] == "Steps…"
    (request,) = gh.requests_to("POST /repos/acme/widgets/issues$")
    assert request.json() == {"title": "Crash on save", "body": "Steps…"}
    assert request.headers["Authorization"] == f"Bearer {gh.token}"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert request.headers["User-Agent"].startswith("threadline/")


async def test_get_issue_reports_open_and_closed(gh: FakeGitHub, http: httpx.AsyncClient) -> None:
    gh.add_issue("acme/widgets", "Open one")
    gh.add_issue("acme/widgets", "Closed one", state="closed")
    client = client_for(gh, http)

    first = await client.get_issue("acme/widgets", 1)
    second = await client.get_issue("acme/widgets", 2)

    assert (first.state, first.title, first.is_open) == ("open", "Open one", True)
    assert (second.state, second.number, second.is_open) == ("closed", 2, False)


async def test_get_issue_of_a_pull_request(gh: FakeGitHub, http: httpx.AsyncClient) -> None:
    gh.add_issue("acme/widgets", "A PR", pull_request=True)
    item = await client_for(gh, http).get_issue("acme/widgets", 1)
    assert item.url == "https://github.com/acme/widgets/pull/1"


async def test_create_comment_returns_its_id(gh: FakeGitHub, http: httpx.AsyncClient) -> None:
    gh.add_issue("acme/widgets", "Crash")
    comment_id = await client_for(gh, http).create_comment("acme/widgets", 1, "On it.")

    (comment,) = gh.comments("acme/widgets", 1)
    assert comment_id == str(comment["id"])
    assert comment["body"] == "On it."


async def test_whoami_returns_the_login(gh: FakeGitHub, http: httpx.AsyncClient) -> None:
    assert await client_for(gh, http).whoami() == "threadline-bot"


async def test_missing_issue_is_not_found(gh: FakeGitHub, http: httpx.AsyncClient) -> None:
    with pytest.raises(NotFound) as caught:
        await client_for(gh, http).get_issue("acme/widgets", 99)
    assert caught.value.status == 404
    assert "acme/widgets#99" in caught.value.message


async def test_wrong_token_names_the_setting_and_hides_the_token(
    gh: FakeGitHub, http: httpx.AsyncClient
) -> None:
    client = GitHubClient(gh.settings(token="ghp_wrong_and_secret"), http)

    with pytest.raises(IntegrationError) as caught:
        await client.whoami()

    assert caught.value.status == 401
    assert "GITHUB_TOKEN" in caught.value.message
    assert "ghp_wrong_and_secret" not in str(caught.value) + repr(caught.value)
    assert "ghp_wrong_and_secret" not in repr(client)


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (401, IntegrationError, "check GITHUB_TOKEN"),
        (403, IntegrationError, "GITHUB_TOKEN has access"),
        (404, NotFound, "was not found"),
        (410, NotFound, "was deleted"),
        (422, IntegrationError, "Validation Failed; title invalid"),
        (500, IntegrationError, "server error (500)"),
        (502, IntegrationError, "server error (502)"),
    ],
)
async def test_failures_map_to_the_error_tree(
    gh: FakeGitHub,
    http: httpx.AsyncClient,
    status: int,
    kind: type[IntegrationError],
    words: str,
) -> None:
    gh.fail(r"POST /repos/acme/widgets/issues$", status)

    with pytest.raises(kind) as caught:
        await client_for(gh, http).create_issue("acme/widgets", "T", "B")

    assert type(caught.value) is kind
    assert caught.value.status == status
    assert caught.value.service == "GitHub"
    assert words in caught.value.message
    assert len(gh.requests) == 1  # nothing but a rate limit is retried


async def test_validation_message_is_condensed_and_scrubbed_of_the_token(
    gh: FakeGitHub, http: httpx.AsyncClient
) -> None:
    noisy = {
        "message": f"Validation   Failed\n for token {gh.token}",
        "errors": [{"message": "x" * 1000}],
    }
    gh.fail("POST", 422, body=noisy)

    with pytest.raises(IntegrationError) as caught:
        await client_for(gh, http).create_issue("acme/widgets", "T", "B")

    message = caught.value.message
    assert gh.token not in message
    assert "[redacted]" in message
    assert "\n" not in message
    assert len(message) < 400


async def test_rate_limit_with_a_short_retry_after_is_retried_once(
    gh: FakeGitHub, http: httpx.AsyncClient
) -> None:
    gh.fail("POST", 429, times=1, retry_after=0)

    item = await client_for(gh, http).create_issue("acme/widgets", "T", "B")

    assert item.number == 1
    assert len(gh.requests_to("POST")) == 2


async def test_rate_limit_that_persists_after_the_retry_is_an_error(
    gh: FakeGitHub, http: httpx.AsyncClient
) -> None:
    gh.fail("POST", 429, times=2, retry_after=1)

    with pytest.raises(IntegrationError) as caught:
        await client_for(gh, http).create_issue("acme/widgets", "T", "B")

    assert caught.value.status == 429
    assert caught.value.message == "rate limited, retry after 1 s"
    assert len(gh.requests) == 2
    assert not gh.issues


async def test_rate_limit_with_a_long_retry_after_is_not_retried(
    gh: FakeGitHub, http: httpx.AsyncClient
) -> None:
    gh.fail("POST", 429, retry_after=30)

    with pytest.raises(IntegrationError) as caught:
        await client_for(gh, http).create_issue("acme/widgets", "T", "B")

    assert caught.value.message == "rate limited, retry after 30 s"
    assert len(gh.requests) == 1


async def test_rate_limit_without_retry_after_is_not_retried(
    gh: FakeGitHub, http: httpx.AsyncClient
) -> None:
    gh.fail("POST", 429)

    with pytest.raises(IntegrationError) as caught:
        await client_for(gh, http).create_issue("acme/widgets", "T", "B")

    assert (caught.value.status, caught.value.message) == (429, "rate limited, retry later")
    assert len(gh.requests) == 1


async def test_exhausted_quota_403_is_a_rate_limit(gh: FakeGitHub, http: httpx.AsyncClient) -> None:
    reset = str(int(time.time()) + 600)
    gh.fail("GET /user", 403, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})

    with pytest.raises(IntegrationError) as caught:
        await client_for(gh, http).whoami()

    assert caught.value.status == 403
    assert re.fullmatch(r"rate limited, retry after (59\d|600) s", caught.value.message)
    assert len(gh.requests) == 1


async def test_exhausted_quota_that_resets_within_seconds_is_retried(
    gh: FakeGitHub, http: httpx.AsyncClient
) -> None:
    reset = str(int(time.time()))
    gh.fail("GET /user", 403, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})

    assert await client_for(gh, http).whoami() == "threadline-bot"
    assert len(gh.requests) == 2


async def test_timeout_is_an_integration_error(gh: FakeGitHub, http: httpx.AsyncClient) -> None:
    gh.delay("GET /user", 2.0)
    client = client_for(gh, http, timeout=httpx.Timeout(0.2, connect=0.2))

    with pytest.raises(IntegrationError) as caught:
        await client.whoami()

    assert caught.value.status is None
    assert "did not answer in time" in caught.value.message


async def test_connection_refused_is_an_integration_error(http: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with FakeGitHub() as gh:
        settings = gh.settings()
    dead = GitHubClient(
        type(settings)(f"http://127.0.0.1:{port}", settings.token, settings.repos, None), http
    )

    with pytest.raises(IntegrationError) as caught:
        await dead.whoami()

    assert caught.value.status is None
    assert "could not be reached" in caught.value.message


async def test_a_success_that_is_not_json_is_an_error(
    gh: FakeGitHub, http: httpx.AsyncClient
) -> None:
    gh.fail("GET /user", 200, body="<html>proxy login</html>")

    with pytest.raises(IntegrationError) as caught:
        await client_for(gh, http).whoami()
    assert caught.value.status == 200


async def test_a_success_without_the_expected_fields_is_an_error(
    gh: FakeGitHub, http: httpx.AsyncClient
) -> None:
    gh.fail("GET /user", 200, body={"id": 1})

    with pytest.raises(IntegrationError, match="login"):
        await client_for(gh, http).whoami()
