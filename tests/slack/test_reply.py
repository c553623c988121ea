"""SlackReply against the fake Slack Web API: nothing is lost when Slack fails mid-answer."""

from __future__ import annotations

import asyncio

from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import FakeSlack


async def _reply(slack: FakeSlack, posted: list[str], limit: int):  # type: ignore[no-untyped-def]
    from app.slack.reply import SlackReply

    async def on_posted(ref: dict[str, object]) -> None:
        posted.append(str(ref["ts"]))

    client = AsyncWebClient(token="xoxb-test", base_url=slack.url)
    return SlackReply(
        client,
        channel="C1",
        thread_ts="1.0",
        team_id="T1",
        user_id="U1",
        on_posted=on_posted,
        limit=limit,
    )


async def test_a_failed_stop_while_rolling_over_keeps_every_line(slack: FakeSlack) -> None:
    posted: list[str] = []
    reply = await _reply(slack, posted, limit=50)
    slack.fail("chat.stopStream", status=200, error="internal_error", times=1)
    lines = ["line one is here\n", "LINE TWO is longer than the rest\n", "line three\n"]
    for line in lines:
        await reply.text(line)
    await reply.finish()
    shown = " ".join(m.text for m in slack.messages("C1") if m.user == slack.user_id)
    for line in lines:
        assert line.strip() in shown
    assert all(len(m.text) <= 50 for m in slack.messages("C1"))


async def test_retry_reuses_posted_messages_and_removes_the_rest(slack: FakeSlack) -> None:
    first = slack.add_message("C1", "old part 1", user=slack.user_id, thread_ts="1.0")
    second = slack.add_message("C1", "old part 2", user=slack.user_id, thread_ts="1.0")
    from app.slack.reply import SlackReply

    async def on_posted(ref: dict[str, object]) -> None:
        return None

    reply = SlackReply(
        AsyncWebClient(token="xoxb-test", base_url=slack.url),
        channel="C1",
        thread_ts="1.0",
        team_id="T1",
        user_id="U1",
        on_posted=on_posted,
        existing_ts=[first.ts, second.ts],
    )
    await reply.text("the new, shorter answer\n")
    await reply.finish()
    visible = [m for m in slack.messages("C1") if m.user == slack.user_id]
    assert [m.ts for m in visible] == [first.ts]
    assert visible[0].text.strip() == "the new, shorter answer"
    assert slack.calls_to("chat.postMessage") == []


async def test_the_thread_status_does_not_hold_up_the_answer(slack: FakeSlack) -> None:
    from app.slack.reply import SlackReply

    async def on_posted(ref: dict[str, object]) -> None:
        return None

    slack.delay("assistant.threads.setStatus", 0.3)
    reply = SlackReply(
        AsyncWebClient(token="xoxb-test", base_url=slack.url),
        channel="C1",
        thread_ts="1.000100",
        team_id="T1",
        user_id="U1",
        on_posted=on_posted,
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    await reply.begin()
    assert loop.time() - started < 0.2  # the turn goes on while the status is on its way
    await reply.text("Hello.\n")
    await reply.finish()
    methods = [c.method for c in slack.calls]
    # ... and the answer is written only once the status is shown, never before it.
    assert methods[0] == "assistant.threads.setStatus"
    assert methods[1] == "chat.startStream" and methods[-1] == "chat.stopStream"
