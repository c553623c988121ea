"""The fake Slack's ``views.publish``, through the real client: the Home tab it keeps per
user, and the refusals Slack answers (bad views, a disabled Home tab, a stale hash, an
unknown user, a rate limit)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import FakeSlack


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.users["U1"] = {"real_name": "Ada"}
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=slack.url)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


async def error_of(client: AsyncWebClient, **args: Any) -> str:
    with pytest.raises(SlackApiError) as raised:
        await client.views_publish(**args)
    return str(raised.value.response["error"])


async def test_a_published_view_is_the_users_home_tab_until_the_next(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    first = await client.views_publish(
        user_id="U1", view={"type": "home", "blocks": [section("a")]}
    )
    assert first["view"]["type"] == "home" and first["view"]["hash"]
    assert slack.home_views["U1"]["blocks"] == [section("a")]
    # publishing with the current hash replaces it; with a stale one is refused
    view = {"type": "home", "blocks": [section("b")]}
    await client.views_publish(user_id="U1", view=view, hash=first["view"]["hash"])
    assert slack.home_views["U1"]["blocks"] == [section("b")]
    assert await error_of(client, user_id="U1", view=view, hash=first["view"]["hash"]) == (
        "hash_conflict"
    )


@pytest.mark.parametrize(
    ("view", "error"),
    [
        ({"type": "modal", "blocks": []}, "invalid_arguments"),
        ({"type": "home"}, "invalid_arguments"),
        ({"type": "home", "blocks": [section("x")] * 101}, "invalid_arguments"),
        ({"type": "home", "blocks": [{"type": "nonsense"}]}, "invalid_arguments"),
        ({"type": "home", "blocks": [section("x" * 3001)]}, "invalid_arguments"),
        ({"type": "home", "blocks": [section("")]}, "invalid_arguments"),
        (
            {
                "type": "home",
                "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}],
            },
            "invalid_arguments",
        ),
        ({"type": "home", "blocks": [section("y" * 2900)] * 90}, "view_too_large"),
    ],
)
async def test_views_slack_would_refuse_are_refused(
    client: AsyncWebClient, view: dict[str, Any], error: str
) -> None:
    assert await error_of(client, user_id="U1", view=view) == error


async def test_an_unknown_user_a_disabled_home_tab_and_a_rate_limit(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    view = {"type": "home", "blocks": [section("a")]}
    assert await error_of(client, user_id="U404", view=view) == "user_not_found"
    slack.home_tab_enabled = False
    assert await error_of(client, user_id="U1", view=view) == "not_enabled"
    slack.home_tab_enabled = True
    slack.fail("views.publish", status=429, retry_after=1)
    assert await error_of(client, user_id="U1", view=view) == "ratelimited"
    assert slack.calls_to("views.publish")[-1].status == 429
    assert "U1" not in slack.home_views
