"""Conversations end to end: signed Slack events in, the real app, fakes of Slack and Claude."""

from __future__ import annotations

import asyncio

from tests.fakes.anthropic import FakeAnthropic, Hang, Reply
from tests.fakes.slack import FakeSlack
from tests.harness import Running, dm, inbox_drained, mention, new_ts, replies, run_app, said


async def test_top_level_mention_is_answered_in_a_thread_under_it(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    claude.script(Reply(text="Hello **Ada**, the build is green.\nAnything else?"))
    root = new_ts()
    assert await bot.send_event(mention("is the build green?", ts=root)) == 200

    await slack.wait_for(lambda s: any(m.stopped for m in s.messages("C1", root)))
    [answer] = [m for m in slack.messages("C1", root) if m.ts != root]
    assert answer.thread_ts == root
    assert answer.streamed
    assert answer.text.strip() == "Hello **Ada**, the build is green.\nAnything else?"
    start = slack.calls_to("chat.startStream")[0].params
    assert start["thread_ts"] == root
    assert start["recipient_user_id"] == "U1" and start["recipient_team_id"] == "T1"
    # Claude saw who wrote the message, without the bot's own mention
    text, audience = claude.last_user_texts(0)
    assert audience == "[Your answer will be read inside the organisation, on Slack.]"
    assert text.startswith("[ada (U1) in Slack]")
    assert text.endswith("is the build green?")
    assert "<@UBOT>" not in text
    assert "Slack" in claude.system_of(0)


async def test_next_message_in_thread_resumes_and_other_threads_start_fresh(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    root = new_ts()
    await bot.send_event(mention("remember the number 42", ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    await bot.send_event(mention("what number?", thread_ts=root, user="U2"))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)

    second = claude.requests[1]
    texts = [
        block["text"]
        for message in second["messages"]
        for block in message["content"]
        if block.get("type") == "text"
    ]
    audience = "[Your answer will be read inside the organisation, on Slack.]"
    assert "remember the number 42" in texts[0] and texts[1] == audience
    assert texts[2] == said("remember the number 42")
    assert texts[3].startswith("[grace (U2) in Slack]") and texts[4] == audience
    # who is talking is in the message header: the cached system prompt stays the same
    assert claude.system_of(0) == claude.system_of(1)

    other = new_ts()
    await bot.send_event(mention("fresh start?", ts=other))
    await slack.wait_for(lambda s: len(replies(s, "C1", other)) == 1)
    assert len(claude.requests[2]["messages"]) == 1


async def test_dms_share_one_rolling_conversation_and_dm_threads_their_own(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    first, second = new_ts(), new_ts()
    await bot.send_event(dm("my favourite colour is teal", ts=first))
    await slack.wait_for(
        lambda s: any(m.text == said("my favourite colour is teal") for m in s.messages("D1"))
    )
    await bot.send_event(dm("and my favourite colour?", ts=second))
    await slack.wait_for(lambda s: claude.requests and len(claude.requests) == 2)
    await slack.wait_for(
        lambda s: any(m.text == said("and my favourite colour?") for m in s.messages("D1"))
    )
    assert len(claude.requests[1]["messages"]) == 3  # the earlier DM exchange + this one
    # top-level DM answers are top-level messages, not thread replies
    assert all(m.thread_ts is None for m in slack.messages("D1"))

    await bot.send_event(dm("a side topic", thread_ts=second))
    await slack.wait_for(lambda s: len(claude.requests) == 3)
    assert len(claude.requests[2]["messages"]) == 1
    await slack.wait_for(lambda s: replies(s, "D1", second) == [said("a side topic")])


async def test_ignores_bots_itself_edits_deletions_and_joins(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    ignored = [
        dm("from another bot", bot_id="B2"),
        dm("from myself", user="UBOT"),
        dm("edited", subtype="message_changed"),
        dm("deleted", subtype="message_deleted"),
        dm("joined", subtype="channel_join"),
        {"type": "message", "channel": "C1", "user": "U1", "text": "chatter", "ts": new_ts()},
    ]
    for event in ignored:
        assert await bot.send_event(event) == 200
    await bot.send_event(dm("a real question"))
    await slack.wait_for(lambda s: any(m.text == said("a real question") for m in s.messages("D1")))
    assert len(claude.requests) == 1


async def test_mention_arriving_as_app_mention_and_message_is_answered_once(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    root = new_ts()
    await bot.send_event(mention("start", ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    ts = new_ts()
    as_mention = mention("once please", ts=ts, thread_ts=root)
    as_message = {**as_mention, "type": "message", "channel_type": "channel"}
    results = await asyncio.gather(bot.send_event(as_mention), bot.send_event(as_message))
    assert results == [200, 200]
    # a redelivery of the same event id is acknowledged and dropped too
    assert await bot.send_event(as_mention, event_id="EvSAME") == 200
    assert await bot.send_event(as_mention, event_id="EvSAME") == 200
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
    # every copy was recorded (or dropped) before it was acknowledged: once the inbox is
    # drained, a duplicate that slipped through would have been answered by now
    await inbox_drained(bot.store)
    assert len(replies(slack, "C1", root)) == 2
    assert len(claude.requests) == 2


async def test_messages_sent_during_a_turn_are_answered_in_order_each_seeing_the_last(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    claude.script(Hang(1.0))  # the first turn is slow (then the default echo)
    root = new_ts()
    assert await bot.send_event(mention("one", ts=root)) == 200
    await claude.wait_for_requests(1)
    for word in ("two", "three", "four"):
        assert await bot.send_event(mention(word, thread_ts=root)) == 200
    # the later messages all arrived while the first turn was still waiting for the model
    assert len(claude.requests) == 1
    assert replies(slack, "C1", root) == []

    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 4, timeout=10)
    await bot.idle()
    assert [r.strip() for r in replies(slack, "C1", root)] == [
        said("one"),
        said("two"),
        said("three"),
        said("four"),
    ]
    # each request saw all earlier exchanges (in request order): 1, 3, 5, 7 messages
    assert [len(r["messages"]) for r in claude.requests] == [1, 3, 5, 7]
    assert [claude.newest_user_text(i).split("\n")[-1] for i in range(4)] == [
        "one",
        "two",
        "three",
        "four",
    ]


async def test_memory_survives_a_restart_on_the_same_database(
    env: dict[str, str], slack: FakeSlack, claude: FakeAnthropic
) -> None:
    root = new_ts()
    async with run_app(env) as first:
        await first.send_event(mention("the codename is BLUEBIRD", ts=root))
        await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    async with run_app(env) as second:
        await second.send_event(mention("what was the codename?", thread_ts=root))
        await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
    texts = [b["text"] for m in claude.requests[1]["messages"] for b in m["content"]]
    assert any("BLUEBIRD" in t for t in texts)


async def test_usage_is_recorded_per_turn_and_prompt_caching_is_requested(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    root = new_ts()
    await bot.send_event(mention("hello", ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    await bot.send_event(mention("again", thread_ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
    await bot.idle()
    session = await bot.store.resolve(f"threadline:slack:C1::{root}")
    assert session is not None
    turns = await bot.store.turns_for(session.id)
    assert len(turns) == 2
    assert all(t.usage.input_tokens + t.usage.cache_write_tokens > 0 for t in turns)
    assert turns[1].usage.cache_read_tokens > 0  # the second request reused the cached prefix
    request = claude.requests[1]
    assert request["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert request["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert request["model"] == "claude-sonnet-5-5"
    assert "temperature" not in request and "tool_choice" not in request
