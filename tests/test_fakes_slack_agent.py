"""The fake Slack Web API's agent methods through the real client: suggested prompts, thread
titles, modals, feedback blocks and stream display modes, checked as Slack checks them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from app.slack.feedback import Answer, VoteClick, feedback_block, reason_modal
from tests.fakes.slack import FakeSlack


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=slack.url)


async def refused(call: Any) -> str:
    with pytest.raises(SlackApiError) as raised:
        await call
    return str(raised.value.response["error"])


async def test_suggested_prompts_are_one_to_four_titled_messages(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    prompts = [{"title": "Sum up", "message": "Summarise this thread"}]
    await client.assistant_threads_setSuggestedPrompts(channel_id="D1", prompts=prompts)
    await client.assistant_threads_setSuggestedPrompts(
        channel_id="D1", thread_ts="1.0", prompts=prompts * 4
    )
    assert slack.suggested_prompts[("D1", None)] == prompts
    assert len(slack.suggested_prompts[("D1", "1.0")]) == 4
    for bad in ([], prompts * 5, [{"title": "no message"}], ["plain"]):
        call = client.assistant_threads_setSuggestedPrompts(channel_id="D1", prompts=bad)
        assert await refused(call) == "invalid_arguments"


async def test_a_thread_title_needs_a_title(slack: FakeSlack, client: AsyncWebClient) -> None:
    await client.assistant_threads_setTitle(channel_id="D1", thread_ts="1.0", title="Hi")
    assert slack.titles[("D1", "1.0")] == "Hi"
    call = client.assistant_threads_setTitle(channel_id="D1", thread_ts="1.0", title="")
    assert await refused(call) == "invalid_arguments"


async def test_views_open_checks_the_modal_and_its_trigger(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    click = VoteClick(Answer("C1", "1.2", "1.0"), "U1", "down", "t-1", "1.3")
    modal = reason_modal(click)
    opened = await client.views_open(trigger_id="1.2.3", view=modal)
    assert opened["view"]["id"] == slack.views_opened[0]["id"]
    assert slack.views_opened[0]["private_metadata"] == modal["private_metadata"]
    slack.expired_triggers.add("9.9.9")
    assert await refused(client.views_open(trigger_id="9.9.9", view=modal)) == "expired_trigger_id"
    long_title = {**modal, "title": {"type": "plain_text", "text": "x" * 25}}
    call = client.views_open(trigger_id="1.2.4", view=long_title)
    assert await refused(call) == "invalid_arguments"
    no_submit = {k: v for k, v in modal.items() if k != "submit"}
    assert await refused(client.views_open(trigger_id="1.2.5", view=no_submit)) == (
        "invalid_arguments"
    )
    huge = {**modal, "private_metadata": "x" * 3001}
    assert await refused(client.views_open(trigger_id="1.2.6", view=huge)) == "invalid_arguments"


async def test_feedback_blocks_are_checked_on_every_way_a_message_is_written(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    good = feedback_block("t-1")
    posted = await client.chat_postMessage(channel="C1", text="hi", blocks=[good])
    assert slack.message("C1", posted["ts"]).blocks == [good]  # type: ignore[union-attr]
    bad_value = {
        **good,
        "elements": [
            {
                **good["elements"][0],
                "positive_button": {"text": good["elements"][0]["positive_button"]["text"]},
            }
        ],
    }
    empty: dict[str, Any] = {"type": "context_actions", "elements": []}
    for bad in (bad_value, empty):
        assert await refused(client.chat_postMessage(channel="C1", text="x", blocks=[bad])) == (
            "invalid_blocks"
        )
        call = client.chat_update(channel="C1", ts=posted["ts"], text="x", blocks=[bad])
        assert await refused(call) == "invalid_blocks"
    stream = await client.chat_startStream(channel="C1", thread_ts="1.0", markdown_text="a")
    call = client.chat_stopStream(channel="C1", ts=stream["ts"], blocks=[empty])
    assert await refused(call) == "invalid_blocks"
    await client.chat_stopStream(channel="C1", ts=stream["ts"], blocks=[good])
    assert slack.message("C1", stream["ts"]).blocks == [good]  # type: ignore[union-attr]


async def test_a_stream_keeps_the_display_mode_it_started_with(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    plan = await client.chat_startStream(channel="C1", thread_ts="1.0", task_display_mode="plan")
    timeline = await client.chat_startStream(channel="C1", thread_ts="1.0", markdown_text="a")
    assert slack.message("C1", plan["ts"]).task_display_mode == "plan"  # type: ignore[union-attr]
    assert slack.message("C1", timeline["ts"]).task_display_mode == "timeline"  # type: ignore[union-attr]
    call = client.chat_startStream(channel="C1", thread_ts="1.0", task_display_mode="grid")
    assert await refused(call) == "invalid_arguments"


async def test_a_stream_is_for_a_user(slack: FakeSlack, client: AsyncWebClient) -> None:
    to_person = client.chat_startStream(
        channel="C1", thread_ts="1.0", recipient_team_id="T1", recipient_user_id="U1"
    )
    assert (await to_person)["ok"]
    for nobody in ("job:0123456789abcdef0123", "octocat", ""):
        call = client.chat_startStream(
            channel="C1", thread_ts="1.0", recipient_team_id="T1", recipient_user_id=nobody
        )
        assert await refused(call) == "user_not_found", nobody
