"""Who can read a Slack channel, asked of Slack (the fake Web API) and kept for a while."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from app.core import Audience
from app.slack.channels import ChannelAudiences, channel_audience
from tests.fakes.slack import FakeSlack


@pytest.mark.parametrize(
    ("flags", "audience"),
    [
        ({}, Audience.INTERNAL),
        ({"is_private": True}, Audience.INTERNAL),
        ({"is_shared": True, "is_org_shared": True}, Audience.INTERNAL),  # one organisation
        ({"is_shared": True, "is_ext_shared": True}, Audience.PUBLIC),
        ({"is_private": True, "is_ext_shared": True}, Audience.PUBLIC),
        ({"is_pending_ext_shared": True}, Audience.PUBLIC),
        ({"is_im": True}, Audience.INTERNAL),
    ],
)
def test_channel_audience(flags: dict[str, bool], audience: Audience) -> None:
    assert channel_audience(flags) is audience


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_answers_are_kept_ten_minutes_per_channel(slack: FakeSlack) -> None:
    clock = Clock()
    places = ChannelAudiences(AsyncWebClient(token="xoxb-test", base_url=slack.url), clock=clock)
    slack.set_channel("C2", is_shared=True, is_ext_shared=True)
    assert await places.of("C1") is Audience.INTERNAL
    assert await places.of("C2") is Audience.PUBLIC
    assert await places.of("C1") is Audience.INTERNAL
    assert [c.params["channel"] for c in slack.calls_to("conversations.info")] == ["C1", "C2"]

    slack.set_channel("C1", is_ext_shared=True)  # shared since: seen once the answer is old
    clock.now += 599
    assert await places.of("C1") is Audience.INTERNAL
    clock.now += 2
    assert await places.of("C1") is Audience.PUBLIC
    assert len(slack.calls_to("conversations.info")) == 3


async def test_a_failed_lookup_reads_public_and_is_not_kept(slack: FakeSlack) -> None:
    places = ChannelAudiences(AsyncWebClient(token="xoxb-test", base_url=slack.url))
    slack.fail("conversations.info", status=200, error="missing_scope")
    assert await places.of("C1") is Audience.PUBLIC
    slack.set_channel("C3", not_found=True)
    assert await places.of("C3") is Audience.PUBLIC
    assert await places.of("C1") is Audience.INTERNAL  # asked again, and now answered
    assert len(slack.calls_to("conversations.info")) == 3
