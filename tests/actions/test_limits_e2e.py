"""Limits of a turn through the running app: the cap on write calls per turn, the hourly rates
of a person and of a channel (held across two replicas sharing one PostgreSQL database), the
daily token budgets, the refusals counted on ``/metrics``, and a message cut to
``MAX_MESSAGE_CHARS`` before it reaches Claude.

Refused messages are counted by the model requests the fake Anthropic API received: a refused
message costs none.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.actions.conftest import (
    Fakes,
    issue_call,
    issues_in,
    refused,
    settled,
    start,
    thread_answers,
)
from tests.fakes.anthropic import Reply
from tests.harness import Running, dm, mention, new_ts, said

# -- the cap on write calls ------------------------------------------------------------------


async def test_ten_write_calls_in_one_round_file_three_and_the_turn_still_answers(
    fakes: Fakes, tmp_path: Path
) -> None:
    f = fakes
    async with start(f, f"sqlite:///{tmp_path / 'tl.db'}", TOOL_APPROVAL="never") as bot:
        titles = [f"Bug {n}" for n in range(1, 11)]
        f.claude.script(
            Reply(text="Filing them.", tool_calls=[issue_call(t) for t in titles]),
            Reply(text="I filed three; ask again for the other seven."),
        )
        root = new_ts()
        await bot.send_event(mention("file these ten bugs", ts=root))
        await settled(bot)

        assert issues_in(f.github) == ["Bug 1", "Bug 2", "Bug 3"]
        results = f.claude.tool_results(-1)
        assert len(results) == 10
        assert [r["is_error"] for r in results] == [False] * 3 + [True] * 7
        for done, number in zip(results[:3], (1, 2, 3), strict=True):
            assert f"Created GitHub issue acme/widgets#{number}" in done["content"]
        for capped in results[3:]:
            assert "the limit of 3 write actions per turn was reached" in capped["content"]
            assert "MAX_WRITES_PER_TURN" in capped["content"]
        assert len(f.claude.requests) == 2
        answer = thread_answers(f.slack, "C1", root)[-1]
        assert answer.endswith("I filed three; ask again for the other seven.")


# -- hourly rates ----------------------------------------------------------------------------


async def ask(bot: Running, text: str, *, user: str = "U1", channel: str = "C1") -> str:
    """Mention the bot at the top of ``channel``; returns the new thread's root."""
    root = new_ts()
    assert await bot.send_event(mention(text, ts=root, user=user, channel=channel)) == 200
    await settled(bot)
    return root


async def test_a_persons_third_message_in_an_hour_gets_a_note_and_no_model_call(
    fakes: Fakes, tmp_path: Path
) -> None:
    f = fakes
    async with start(f, f"sqlite:///{tmp_path / 'tl.db'}", USER_TURNS_PER_HOUR="2") as bot:
        first = await ask(bot, "one")
        second = await ask(bot, "two")
        third = await ask(bot, "three")

        assert len(f.claude.requests) == 2
        assert thread_answers(f.slack, "C1", first) == [said("one")]
        assert thread_answers(f.slack, "C1", second) == [said("two")]
        [note] = thread_answers(f.slack, "C1", third)
        assert note.startswith("_You've reached 2 messages an hour; you can ask again by ")
        assert note.endswith(" UTC._")

        other = await ask(bot, "four", user="U2")

        assert len(f.claude.requests) == 3
        assert thread_answers(f.slack, "C1", other) == [said("four", "grace (U2)")]
        assert await refused(bot, "user_rate") == 1
        assert await refused(bot, "channel_rate") == 0


async def test_a_channels_third_message_in_an_hour_gets_a_note_and_no_model_call(
    fakes: Fakes, tmp_path: Path
) -> None:
    f = fakes
    async with start(f, f"sqlite:///{tmp_path / 'tl.db'}", CHANNEL_TURNS_PER_HOUR="2") as bot:
        await ask(bot, "one", user="U1")
        await ask(bot, "two", user="U2")
        third = await ask(bot, "three", user="U3")

        assert len(f.claude.requests) == 2
        [note] = thread_answers(f.slack, "C1", third)
        assert note.startswith("_This channel has reached 2 messages an hour; ")

        elsewhere = await ask(bot, "four", user="U3", channel="C2")

        assert len(f.claude.requests) == 3
        assert thread_answers(f.slack, "C2", elsewhere) == [said("four", "alan (U3)")]
        assert await refused(bot, "channel_rate") == 1
        assert await refused(bot, "user_rate") == 0


async def test_a_persons_rate_holds_across_two_replicas_on_one_database(
    fakes: Fakes, postgres_url: str
) -> None:
    f = fakes
    async with (
        start(f, postgres_url, USER_TURNS_PER_HOUR="2") as a,
        start(f, postgres_url, USER_TURNS_PER_HOUR="2") as b,
    ):
        # Alternating between the replicas, one message at a time.
        first = await ask(a, "one")
        second = await ask(b, "two")
        third = await ask(a, "three")
        await settled(b)

        assert len(f.claude.requests) == 2
        assert thread_answers(f.slack, "C1", first) == [said("one")]
        assert thread_answers(f.slack, "C1", second) == [said("two")]
        [note] = thread_answers(f.slack, "C1", third)
        assert "You've reached 2 messages an hour" in note

        # Four at once from another person, two to each replica: two are answered.
        roots = [new_ts() for _ in range(4)]
        events = [mention(f"burst {n}", ts=root, user="U2") for n, root in enumerate(roots)]
        statuses = await asyncio.gather(
            *(bot.send_event(e) for bot, e in zip([a, b, a, b], events, strict=True))
        )
        await settled(a)
        await settled(b)

        assert statuses == [200] * 4
        assert len(f.claude.requests) == 4
        answers = [thread_answers(f.slack, "C1", root) for root in roots]
        notes = [t for [t] in answers if "You've reached 2 messages an hour" in t]
        assert len(notes) == 2 and all(len(a) == 1 for a in answers)
        assert await refused(a, "user_rate") + await refused(b, "user_rate") == 3


# -- daily token budgets ---------------------------------------------------------------------

# An answer of about 200 output tokens (the fake counts 4 characters a token).
LONG_ANSWER = " ".join(["The deployment notes, read and summarised."] * 20)


def spent(f: Fakes, i: int) -> int:
    """Input and output tokens of the model's answer ``i``, as the budgets count them."""
    usage = f.claude.usages[i]
    return int(usage["input_tokens"]) + int(usage["output_tokens"])


async def test_after_a_turn_spends_the_daily_budget_the_next_gets_the_budget_note(
    fakes: Fakes, tmp_path: Path
) -> None:
    f = fakes
    async with start(f, f"sqlite:///{tmp_path / 'tl.db'}", DAILY_TOKEN_BUDGET="100") as bot:
        f.claude.script(Reply(text=LONG_ANSWER))
        first = await ask(bot, "one")
        assert thread_answers(f.slack, "C1", first) == [LONG_ANSWER]
        assert spent(f, 0) > 100

        second = await ask(bot, "two")
        third = await ask(bot, "three", user="U2")

        assert len(f.claude.requests) == 1
        budget = (
            "_The team's daily budget of 100 tokens is used up; "
            "I can answer again after midnight UTC._"
        )
        assert thread_answers(f.slack, "C1", second) == [budget]
        assert thread_answers(f.slack, "C1", third) == [budget]
        assert await refused(bot, "daily_budget") == 2


async def test_a_persons_daily_budget_stops_only_that_person(fakes: Fakes, tmp_path: Path) -> None:
    f = fakes
    db = f"sqlite:///{tmp_path / 'tl.db'}"
    async with start(f, db, USER_DAILY_TOKEN_BUDGET="100") as bot:
        f.claude.script(Reply(text=LONG_ANSWER))
        await ask(bot, "one")
        assert spent(f, 0) > 100
        second = await ask(bot, "two")
        other = await ask(bot, "three", user="U2")

        assert len(f.claude.requests) == 2
        assert thread_answers(f.slack, "C1", second) == [
            "_You've used your daily budget of 100 tokens; you can ask again after midnight UTC._"
        ]
        assert thread_answers(f.slack, "C1", other) == [said("three", "grace (U2)")]
        assert await refused(bot, "user_daily_budget") == 1


async def test_a_long_messages_input_counts_against_the_daily_budget(
    fakes: Fakes, tmp_path: Path
) -> None:
    f = fakes
    f.claude.min_cacheable_tokens = 1024  # as the real API: shorter prefixes are not cached
    async with start(f, f"sqlite:///{tmp_path / 'tl.db'}", DAILY_TOKEN_BUDGET="1000") as bot:
        f.claude.script(Reply(text="Noted."))
        await ask(bot, "Here are the deployment notes:\n" + "step and check\n" * 600)
        usage = f.claude.usages[0]
        processed = sum(
            int(usage[k])
            for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        assert processed > 2000  # the model read more than twice the budget

        second = await ask(bot, "and now?")

        assert len(f.claude.requests) == 1
        assert "daily budget of 1,000 tokens is used up" in thread_answers(f.slack, "C1", second)[0]


# -- a message cut to MAX_MESSAGE_CHARS ------------------------------------------------------


@pytest.fixture
def long_text() -> str:
    """100,000 characters: 900 numbered lines of 99 characters, then a line of 10,000 y."""
    lines = [f"line {n:05d} " + "x" * 88 for n in range(900)]
    text = "\n".join(lines)
    text += "\n" + "y" * 10_000
    assert len(text) == 100_000
    return text


async def test_a_dm_of_100000_characters_reaches_claude_cut_and_the_answer_says_so(
    fakes: Fakes, tmp_path: Path, long_text: str
) -> None:
    f = fakes
    async with start(f, f"sqlite:///{tmp_path / 'tl.db'}") as bot:
        f.claude.script(Reply(text="Here is what I read."))
        assert await bot.send_event(dm(long_text, channel="D1")) == 200
        await settled(bot)

        [request] = f.claude.requests
        [user] = [m for m in request["messages"] if m["role"] == "user"]
        texts = [b["text"] for b in user["content"] if b.get("type") == "text"]
        message, marker = texts[0], texts[1]
        assert message.startswith("[ada (U1) in Slack]\nline 00000 ")
        assert "y" * 10 not in message  # the end was not kept
        assert marker == (
            "[This message was cut: it had 100,000 characters, over the limit of 40,000. Only "
            "its beginning is shown; the rest was not kept. Say so if the rest could matter "
            "to your answer.]"
        )
        assert len(message) + len(marker) <= 42_000
        assert len(message) > 20_000  # the cut kept at least half of the limit
        [answer] = [m.text for m in f.slack.messages("D1") if m.user == f.slack.user_id]
        assert answer == (
            "Here is what I read.\n\n_Your message was too long (100,000 characters, over the "
            "limit of 40,000), so I read only its beginning._"
        )
