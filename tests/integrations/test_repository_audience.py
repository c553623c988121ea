"""GitHubClient.repository_audience against the fake: asked once per ten minutes, public when
GitHub cannot tell, and the fake's repositories answering like GitHub's."""

from __future__ import annotations

import httpx
import pytest

from app.core import Audience
from app.integrations.github import AUDIENCE_TTL_SECONDS, GitHubClient
from tests.fakes.github import FakeGitHub

REPO_ROUTE = r"^GET /repos/[^/]+/[^/]+$"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(gh: FakeGitHub, http: httpx.AsyncClient, clock: Clock) -> GitHubClient:
    return GitHubClient(gh.settings(), http, clock=clock)


@pytest.mark.parametrize(
    ("visibility", "audience"),
    [("public", Audience.PUBLIC), ("private", Audience.INTERNAL), ("internal", Audience.INTERNAL)],
)
async def test_the_audience_follows_the_repository_visibility(
    gh: FakeGitHub, client: GitHubClient, visibility: str, audience: Audience
) -> None:
    gh.set_visibility("acme/widgets", visibility)
    assert await client.repository_audience("Acme/Widgets") is audience


async def test_an_answer_is_kept_for_ten_minutes(
    gh: FakeGitHub, client: GitHubClient, clock: Clock
) -> None:
    gh.set_visibility("acme/widgets", "private")
    assert await client.repository_audience("acme/widgets") is Audience.INTERNAL
    gh.set_visibility("acme/widgets", "public")  # made public meanwhile

    clock.now += AUDIENCE_TTL_SECONDS - 1
    kept = await client.repository_audience("ACME/widgets")
    clock.now += 1
    asked_again = await client.repository_audience("acme/widgets")

    assert (kept, asked_again) == (Audience.INTERNAL, Audience.PUBLIC)
    assert len(gh.requests_to(REPO_ROUTE)) == 2
    assert AUDIENCE_TTL_SECONDS == 600


@pytest.mark.parametrize("status", [500, 403, 429])
async def test_a_failure_counts_as_public_and_is_not_kept(
    gh: FakeGitHub, client: GitHubClient, status: int
) -> None:
    gh.set_visibility("acme/widgets", "private")
    gh.fail(REPO_ROUTE, status, times=1)

    during = await client.repository_audience("acme/widgets")
    after = await client.repository_audience("acme/widgets")

    assert (during, after) == (Audience.PUBLIC, Audience.INTERNAL)


async def test_a_repository_the_token_cannot_see_counts_as_public(
    gh: FakeGitHub, client: GitHubClient
) -> None:
    assert await client.repository_audience("someone/else") is Audience.PUBLIC
    assert await client.repository_audience("someone/else") is Audience.PUBLIC
    assert len(gh.requests_to(REPO_ROUTE)) == 2  # not kept: asked again


async def test_an_unreachable_github_counts_as_public(http: httpx.AsyncClient) -> None:
    async with FakeGitHub() as gh:
        settings = gh.settings()
    client = GitHubClient(settings, http, timeout=httpx.Timeout(1.0))
    assert await client.repository_audience("acme/widgets") is Audience.PUBLIC


# -- the fake's repositories -------------------------------------------------------------------


async def test_the_fake_describes_repositories_like_github(
    gh: FakeGitHub, http: httpx.AsyncClient
) -> None:
    gh.set_visibility("acme/gadgets", "internal")
    headers = {"Authorization": f"Bearer {gh.token}"}

    widgets = (await http.get(f"{gh.url}/repos/acme/widgets", headers=headers)).json()
    gadgets = (await http.get(f"{gh.url}/repos/acme/gadgets", headers=headers)).json()
    missing = await http.get(f"{gh.url}/repos/acme/nothing", headers=headers)
    unauthorized = await http.get(f"{gh.url}/repos/acme/widgets")

    assert (widgets["full_name"], widgets["private"], widgets["visibility"]) == (
        "acme/widgets",
        True,
        "private",
    )
    assert (gadgets["private"], gadgets["visibility"]) == (True, "internal")
    assert (missing.status_code, missing.json()["message"]) == (404, "Not Found")
    assert unauthorized.status_code == 401
    with pytest.raises(ValueError, match="visibility"):
        gh.set_visibility("acme/widgets", "secret")
