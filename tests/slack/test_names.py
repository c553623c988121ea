"""Display names: looked up once, a failure remembered only briefly."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from app.slack.names import UserNames
from tests.fakes.slack import FakeSlack


async def test_names_are_cached_and_failures_do_not_stick(slack: FakeSlack) -> None:
    names = UserNames(AsyncWebClient(token="xoxb-test", base_url=slack.url), size=2)
    assert await names.name("U1") == "ada"
    assert await names.name("U1") == "ada"
    assert len(slack.calls_to("users.info")) == 1

    assert await names.name("U404") is None  # unknown: no name, no crash
    assert await names.name("U404") is None
    assert len(slack.calls_to("users.info")) == 2  # the failure is remembered for a while
    brief = UserNames(AsyncWebClient(token="xoxb-test", base_url=slack.url), failure_ttl=0)
    assert await brief.name("U404") is None
    assert await brief.name("U404") is None  # a failure kept for no time is asked again
    assert await brief.name("U1") == "ada"
    assert await brief.name("U1") == "ada"  # while a name is kept
    assert len(slack.calls_to("users.info")) == 5

    # the cache is bounded
    await names.name("U2")
    await names.name("U1")
    assert len(names._cache) <= 2
