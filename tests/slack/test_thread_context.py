"""A mention in a thread brings along what people said there without mentioning the bot."""

from __future__ import annotations

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import FakeSlack
from tests.harness import Running, mention


def replies(slack: FakeSlack, channel: str, root: str) -> list[str]:
    """The bot's finished answers in the thread (people's seeded messages excluded)."""
    return [
        m.text
        for m in slack.messages(channel, root)
        if m.user == slack.user_id and (m.stopped or not m.streamed)
    ]


def user_turn_text(request: dict[str, object]) -> str:
    last = request["messages"][-1]  # type: ignore[index]
    return "\n".join(b["text"] for b in last["content"] if b.get("type") == "text")


async def test_thread_messages_between_mentions_reach_claude_once(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    root = "1763800000.000100"
    slack.add_message("C1", "The deploy failed at step 3", user="U2", ts=root)
    slack.add_message("C1", "Logs say OOM", user="U1", thread_ts=root, ts="1763800000.000200")
    slack.add_message(
        "C1", "<@UBOT> earlier mention", user="U1", thread_ts=root, ts="1763800000.000250"
    )
    await bot.send_event(mention("what do you think?", thread_ts=root, ts="1763800000.000300"))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    first = user_turn_text(claude.requests[0])
    assert first.startswith("[ada (U1) in Slack]\nwhat do you think?")
    # each message quoted under its author: nothing said there can pass for a header
    assert "- grace (U2):\n> The deploy failed at step 3" in first
    assert "- ada (U1):\n> Logs say OOM" in first
    assert "earlier mention" not in first  # mentions are turns of their own

    slack.add_message("C1", "Raised the limit", user="U2", thread_ts=root, ts="1763800000.000400")
    await bot.send_event(mention("fixed now?", thread_ts=root, ts="1763800000.000500"))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
    second = user_turn_text(claude.requests[1])
    assert "- grace (U2):\n> Raised the limit" in second
    assert "Logs say OOM" not in second  # already seen in the first turn
    # and the first turn's context stays in the conversation's memory
    remembered = "\n".join(
        b["text"]
        for m in claude.requests[1]["messages"][:-1]
        for b in m["content"]
        if b.get("type") == "text"
    )
    assert "Logs say OOM" in remembered


async def test_a_new_thread_needs_no_context_lookup(bot: Running, slack: FakeSlack) -> None:
    root = "1763800001.000100"
    await bot.send_event(mention("hello", ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    assert slack.calls_to("conversations.replies") == []


async def test_a_busy_thread_passes_on_its_newest_messages(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    root = "1763900000.000100"
    slack.add_message("C1", "kick-off", user="U2", ts=root)
    for i in range(1, 251):
        slack.add_message("C1", f"note {i}", user="U2", thread_ts=root, ts=f"1763900001.{i:06d}")
    await bot.send_event(mention("summarise", thread_ts=root, ts="1763900002.000000"))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    text = user_turn_text(claude.requests[0])
    assert "note 250" in text and "note 151" in text  # the newest hundred
    assert "note 150\n" not in text and "kick-off" not in text
    assert len(slack.calls_to("conversations.replies")) == 3
