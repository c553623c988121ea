"""The fake Slack Web API's channel descriptions and ephemeral messages, through the real
client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import FakeSlack


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=slack.url)


async def test_conversations_info_describes_channels_as_tests_set_them(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    plain = (await client.conversations_info(channel="C1"))["channel"]
    assert plain["id"] == "C1" and plain["is_channel"] is True
    assert not any(plain[f] for f in ("is_private", "is_im", "is_shared", "is_ext_shared"))
    dm = (await client.conversations_info(channel="D1"))["channel"]
    assert dm["is_im"] is True and dm["is_channel"] is False

    slack.set_channel("C2", is_private=True, is_shared=True, is_ext_shared=True)
    shared = (await client.conversations_info(channel="C2"))["channel"]
    assert shared["is_private"] and shared["is_shared"] and shared["is_ext_shared"]

    slack.set_channel("C404", not_found=True)
    with pytest.raises(SlackApiError) as raised:
        await client.conversations_info(channel="C404")
    assert raised.value.response["error"] == "channel_not_found"


async def test_ephemeral_messages_are_recorded_for_their_one_reader(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    await client.chat_postEphemeral(channel="C1", user="U1", text="only you", thread_ts="1.0")
    await client.chat_postMessage(
        channel="C1", text="everyone", unfurl_links=False, unfurl_media=False
    )
    [note] = slack.ephemerals("C1", "U1")
    assert (note.text, note.ephemeral_to, note.thread_ts) == ("only you", "U1", "1.0")
    assert slack.ephemerals(user="U2") == []
    posted = slack.calls_to("chat.postMessage")[0].params
    assert posted["unfurl_links"] is False and posted["unfurl_media"] is False
