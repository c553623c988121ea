"""Each failure class of a turn, seen from Slack and the store: a rejected transcript is
dropped and retried fresh, transient and configuration failures keep the session."""

from __future__ import annotations

import logging

import pytest

from tests.fakes.anthropic import Fail, FakeAnthropic, Hang, Reply
from tests.fakes.slack import FakeSlack
from tests.harness import Running, mention, new_ts, replies, run_app

# What the API answers when a replayed transcript is structurally invalid (not too long:
# a long one is compacted and kept).
BROKEN_TRANSCRIPT = (
    "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1"
)


async def start_thread(bot: Running, slack: FakeSlack, text: str = "first") -> str:
    root = new_ts()
    await bot.send_event(mention(text, ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    return root


def key(root: str) -> str:
    return f"threadline:slack:C1::{root}"


async def test_rejected_transcript_drops_the_session_and_answers_fresh_with_a_note(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    root = await start_thread(bot, slack)
    old = await bot.store.resolve(key(root))
    claude.script(
        Fail(400, "invalid_request_error", BROKEN_TRANSCRIPT), Reply(text="Fresh answer.")
    )
    await bot.send_event(mention("second", thread_ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)

    answer = replies(slack, "C1", root)[1]
    assert answer.startswith("Fresh answer.")
    assert "start this conversation over" in answer
    assert len(claude.requests[2]["messages"]) == 1  # the retry carried no history
    new = await bot.store.resolve(key(root))
    assert old is not None and new is not None and new.id != old.id
    assert (await bot.store.get_session(old.id)).status == "dropped"  # type: ignore[union-attr]
    events = [e.kind for e in await bot.store.events_for(old.id)]
    assert "dropped" in events
    # the next message resumes the new session, which holds the fresh exchange
    await bot.send_event(mention("third", thread_ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 3)
    assert len(claude.requests[3]["messages"]) == 3


@pytest.mark.parametrize(
    ("failure", "label"),
    [
        (Fail(529, "overloaded_error", "Overloaded", retry_after=0.01, times=3), "overloaded"),
        (Fail(429, "rate_limit_error", "Slow down", retry_after=0.01, times=3), "rate limited"),
        (Fail(500, "api_error", "Internal error", retry_after=0.01, times=3), "server error"),
    ],
)
async def test_transient_failures_keep_the_session_and_ask_to_try_again(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic, failure: Fail, label: str
) -> None:
    root = await start_thread(bot, slack)
    before = await bot.store.resolve(key(root))
    claude.script(failure)
    await bot.send_event(mention("second", thread_ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
    note = replies(slack, "C1", root)[1]
    assert "try again" in note, label
    assert "turn `t-" in note
    assert "Error" not in note and "Traceback" not in note
    assert len(claude.requests) == 4  # the SDK retried twice after the first attempt
    after = await bot.store.resolve(key(root))
    assert before is not None and after is not None
    assert (after.id, after.status) == (before.id, "active")  # same session, kept
    assert len(await bot.store.load_transcript(before.id)) == 2  # type: ignore[union-attr]

    await bot.send_event(mention("third", thread_ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 3)
    assert len(claude.requests[-1]["messages"]) == 3  # the earlier exchange is still there


async def test_a_turn_that_takes_too_long_is_cut_off_with_a_note(
    env: dict[str, str], slack: FakeSlack, claude: FakeAnthropic
) -> None:
    env = {**env, "TURN_TIMEOUT_SECONDS": "5"}
    async with run_app(env) as bot:
        claude.script(Hang(30))
        root = new_ts()
        await bot.send_event(mention("slow one", ts=root))
        await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1, timeout=15)
        assert "try again" in replies(slack, "C1", root)[0]


@pytest.mark.parametrize(
    ("failure", "setting"),
    [
        (Fail(401, "authentication_error", "invalid x-api-key"), "ANTHROPIC_API_KEY"),
        (Fail(403, "permission_error", "not allowed"), "ANTHROPIC_API_KEY"),
        (Fail(404, "not_found_error", "model: claude-nope"), "ANTHROPIC_MODEL"),
    ],
)
async def test_configuration_errors_post_a_note_and_log_the_setting(
    bot: Running,
    slack: FakeSlack,
    claude: FakeAnthropic,
    caplog: pytest.LogCaptureFixture,
    failure: Fail,
    setting: str,
) -> None:
    root = await start_thread(bot, slack)
    claude.script(failure)
    with caplog.at_level(logging.ERROR, logger="app.turn"):
        await bot.send_event(mention("second", thread_ts=root))
        await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
    note = replies(slack, "C1", root)[1]
    assert "configuration" in note and "turn `t-" in note
    turn_id = note.split("turn `")[1].split("`")[0]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any(setting in r.getMessage() and getattr(r, "turn_id", None) == turn_id for r in errors)
    assert await bot.store.resolve(key(root)) is not None


async def test_a_message_far_over_the_context_gets_a_polite_answer_and_keeps_the_session(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    root = await start_thread(bot, slack)
    before = await bot.store.resolve(key(root))
    claude.context_limit = 2_000
    await bot.send_event(mention("lorem ipsum " * 2_000, thread_ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
    note = replies(slack, "C1", root)[1]
    assert "too large" in note
    after = await bot.store.resolve(key(root))
    assert before is not None and after is not None and after.id == before.id
    claude.context_limit = 200_000
    await bot.send_event(mention("short again", thread_ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 3)
    assert len(claude.requests[-1]["messages"]) == 3
