"""Resets racing a running turn, and answers that could not be shown at first."""

from __future__ import annotations

from tests.fakes.anthropic import FakeAnthropic, Hang, Reply
from tests.fakes.slack import FakeSlack
from tests.harness import Running, mention, new_ts, replies


async def test_a_reset_while_a_turn_runs_is_honoured_and_the_turn_is_not_rerun(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    root = new_ts()
    await bot.send_event(mention("remember teal", ts=root, channel="C7"))
    await slack.wait_for(lambda s: len(replies(s, "C7", root)) == 1)
    # slower than a heartbeat (every LEASE_SECONDS/3): the reset must not look like a
    # lost lease that cancels the turn and runs it again
    claude.script(Hang(4.0))
    await bot.send_event(mention("a slow question", thread_ts=root, channel="C7"))
    await claude.wait_for_requests(2)
    link = f"https://acme.slack.com/archives/C7/p{root.replace('.', '')}"
    status, body = await bot.slash("/reset", link, channel_id="C7")
    assert status == 200 and "forgotten" in body
    await slack.wait_for(lambda s: len(replies(s, "C7", root)) == 2)  # the slow answer shows
    await bot.idle()
    stats = await bot.store.stats()
    assert stats.extra["processing_deliveries"] == 0  # handled, not left to be re-run
    assert stats.extra["failed_deliveries"] == 0
    assert len(claude.requests) == 2
    # the reset holds: the next message starts fresh
    await bot.send_event(mention("what colour?", thread_ts=root, channel="C7"))
    await slack.wait_for(lambda s: len(replies(s, "C7", root)) == 3)
    assert len(claude.requests[-1]["messages"]) == 1


async def test_an_answer_slack_would_not_take_is_retried_into_the_same_message(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    claude.script(Reply(text="Here is the full answer.\nSecond line.", times=2))
    slack.fail("chat.stopStream", status=500, times=3)  # the SDK's retries included
    slack.fail("chat.update", status=500, times=3)
    root = new_ts()
    await bot.send_event(mention("hello", ts=root))
    # the first attempt could not finish its message; after the lease runs out the turn is
    # retried and completes that same message instead of posting another
    await slack.wait_for(
        lambda s: any("Second line." in m.text and m.updates for m in s.messages("C1", root)),
        timeout=20,
    )
    await bot.idle(timeout=20)
    bot_messages = [m for m in slack.messages("C1", root) if m.ts != root]
    assert len(bot_messages) == 1
    assert "Here is the full answer." in bot_messages[0].text
    turns = await bot.store.turns_for(
        (await bot.store.resolve(f"threadline:slack:C1::{root}")).id  # type: ignore[union-attr]
    )
    assert [t.outcome for t in turns][-1] == "ok"


async def test_interactivity_payloads_are_acknowledged(bot: Running) -> None:
    import json
    from urllib.parse import urlencode

    from tests.harness import sign

    payload = {
        "type": "block_actions",
        "team": {"id": "T1"},
        "user": {"id": "U1"},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": "1.2.3",
        "actions": [{"action_id": "anything", "block_id": "b", "type": "button", "value": "v"}],
        "channel": {"id": "C1"},
        "container": {"type": "message", "message_ts": "1.1", "channel_id": "C1"},
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    response = await bot.post_raw("/slack/events", body, headers)
    assert response.status == 200
