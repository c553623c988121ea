"""The app's Slack client keeps one connection pool for all its calls and closes it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError

from app.integrations.clients import CountingWebClient
from app.metrics import Metrics
from tests.fakes.slack import FakeSlack


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


async def test_calls_share_one_connection_until_closed(slack: FakeSlack) -> None:
    metrics = Metrics()
    client = CountingWebClient(token="xoxb-test", base_url=slack.url)
    client.metrics = metrics
    try:
        for _ in range(5):
            await client.auth_test()
        await client.chat_postMessage(channel="C1", text="hello")
        assert len(slack.calls) == 6
        assert len(slack.connections) == 1
        session = client.session
        assert session is not None and not session.closed
    finally:
        await client.close()
    assert session.closed and client.session is None
    # Counted by method as well as by outcome.
    page = metrics.render().decode()
    assert 'threadline_slack_calls_total{method="auth.test"} 5.0' in page
    assert 'threadline_slack_calls_total{method="chat.postMessage"} 1.0' in page


async def test_a_closed_client_opens_a_new_session_on_its_next_call(slack: FakeSlack) -> None:
    client = CountingWebClient(token="xoxb-test", base_url=slack.url)
    try:
        await client.auth_test()
        await client.close()
        await client.auth_test()
        assert client.session is not None and not client.session.closed
        assert len(slack.connections) == 2
    finally:
        await client.close()


async def test_errors_keep_the_session_usable(slack: FakeSlack) -> None:
    client = CountingWebClient(token="xoxb-test", base_url=slack.url)
    try:
        slack.set_channel("C404", not_found=True)
        with pytest.raises(SlackApiError):
            await client.conversations_info(channel="C404")
        assert (await client.auth_test())["ok"]
        assert len(slack.connections) == 1
    finally:
        await client.close()
