"""Long conversations through the whole app: Slack events over HTTP, the real SDK against the
fake Messages API (its context limit, its server-side compaction, its refusal of compaction),
the fake Slack's thread for re-seeding, and the fake GitHub for a long tool result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.slack.history import SEED_HEADER
from app.turns import compaction
from app.turns.outcome import compacted_note
from tests.fakes.anthropic import Fail, FakeAnthropic, Reply, ToolCall
from tests.fakes.slack import FakeSlack
from tests.harness import BOT_USER, Running, mention, new_ts, replies, run_app
from tests.integrations.world import running_world

FIRST = "first-message-marker: the launch code is ZEBRA-42."
FILLER = " lorem ipsum dolor sit amet" * 1_100  # about 30,000 characters


def key(root: str) -> str:
    return f"threadline:slack:C1::{root}"


def short_answers(body: dict[str, Any]) -> Reply | None:
    """A short answer to every turn, the echo (what it was sent) to the summariser."""
    system = body.get("system") or [{}]
    return None if system[0].get("text") == compaction.SUMMARISER else Reply(text="Noted.")


async def converse(bot: Running, slack: FakeSlack, root: str, texts: list[str]) -> None:
    """Send each text in the thread and wait for its answer."""
    for text in texts:
        before = len(replies(slack, "C1", root))
        await bot.send_event(
            mention(text, ts=root if before == 0 else None, thread_ts=None if before == 0 else root)
        )
        await slack.wait_for(lambda s, n=before: len(replies(s, "C1", root)) > n, timeout=20)


def bot_messages(slack: FakeSlack, root: str) -> list[str]:
    """The bot's finished messages in the thread (people's are in the fake's thread too)."""
    return [m.text for m in slack.messages("C1", root) if m.user == slack.user_id and m.stopped]


async def metric(bot: Running, line: str) -> bool:
    status, text = await bot.get("/metrics")
    assert status == 200
    return line in text.splitlines()


async def test_server_compaction_keeps_the_session_and_its_first_message(
    env: dict[str, str], slack: FakeSlack, claude: FakeAnthropic
) -> None:
    claude.chars_per_token = 1  # every character a token: the trigger is reached in a few turns
    claude.default_step = short_answers
    root = new_ts()
    async with run_app({**env, "COMPACT_AT_TOKENS": "50000"}) as bot:
        await converse(bot, slack, root, [FIRST + FILLER[:10_000]])
        session = await bot.store.resolve(key(root))
        turns = 1
        while not claude.compactions and turns < 8:
            await converse(bot, slack, root, [f"more {turns}" + FILLER[:14_000]])
            turns += 1
        assert claude.compactions, "the fake never compacted"
        assert replies(slack, "C1", root)[-1].endswith(compacted_note())

        await converse(bot, slack, root, ["what was the launch code?"])
        sent = claude.requests[-1]
        # Replayed from the compaction: the compacting turn, then this one. The first message
        # is not sent again; its summary is.
        assert len(sent["messages"]) == 3
        said = [b.get("text", "") for m in sent["messages"] for b in m["content"]]
        assert not any(FIRST in t for t in said)
        block = sent["messages"][1]["content"][0]
        assert block["type"] == "compaction" and "ZEBRA-42" in block["content"]
        assert block["cache_control"] == {"type": "ephemeral"}
        after = await bot.store.resolve(key(root))
        assert session is not None and after is not None and after.id == session.id
        events = [(e.kind, e.cause) for e in await bot.store.events_for(session.id)]
        assert events.count(("compacted", "server")) == 1
        assert await metric(bot, 'threadline_compactions_total{kind="server"} 1.0')


async def test_refused_compaction_falls_back_and_a_too_long_conversation_is_summarised_here(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    claude.refuse_compaction = True
    claude.context_limit = 40_000
    claude.default_step = short_answers
    root = new_ts()
    await converse(bot, slack, root, [FIRST + FILLER])
    # The first request asked for server compaction and was refused; the retry did not.
    assert "context_management" in claude.requests[0]
    assert "context_management" not in claude.requests[1]
    session = await bot.store.resolve(key(root))
    turns = 1
    while not any(r["system"][0]["text"] == compaction.SUMMARISER for r in claude.requests):
        assert turns < 10, "never summarised"
        await converse(bot, slack, root, [f"more {turns}" + FILLER])
        turns += 1
    too_long = [
        ex for ex in claude.exchanges if ex.status == 400 and "too long" in json.dumps(ex.response)
    ]
    assert too_long  # the API said so, and the turn was compacted and retried
    assert replies(slack, "C1", root)[-1].endswith(compacted_note())

    await converse(bot, slack, root, ["what was the launch code?"])
    sent = json.dumps(claude.requests[-1])
    assert "ZEBRA-42" in sent  # in the summary that stands in for the first turns
    first = claude.requests[-1]["messages"][0]["content"][0]
    assert first["text"].startswith("[Summary of the earlier part of this conversation")
    after = await bot.store.resolve(key(root))
    assert session is not None and after is not None and after.id == session.id
    events = [(e.kind, e.cause) for e in await bot.store.events_for(session.id)]
    assert ("compacted", "client") in events and ("dropped", None) not in events
    assert await metric(bot, 'threadline_compactions_total{kind="client"} 1.0')


async def test_a_rejected_transcript_starts_over_from_what_the_thread_shows(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    root = new_ts()
    slack.add_message("C1", f"<@{BOT_USER}> first", user="U1", ts=root)
    await bot.send_event(mention("first", ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    old = await bot.store.resolve(key(root))
    # What people write lands in the fake's thread after the bot's answer (its own ts order).
    slack.add_message("C1", "the code word is ZEBRA", user="U2", thread_ts=root)
    second = slack.add_message("C1", f"<@{BOT_USER}> second", user="U1", thread_ts=root).ts
    claude.script(
        Fail(
            400,
            "invalid_request_error",
            "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: "
            "toolu_9. Each `tool_result` block must have a corresponding `tool_use` block in "
            "the previous message.",
        ),
        Reply(text="Fresh answer."),
    )
    await bot.send_event(mention("second", ts=second, thread_ts=root))
    await slack.wait_for(lambda s: len(bot_messages(s, root)) == 2)

    answer = bot_messages(slack, root)[1]
    assert answer.startswith("Fresh answer.")
    assert "picked it up again from what was said in this thread" in answer
    (message,) = claude.requests[-1]["messages"]  # one user message: the seed, then the text
    seed = message["content"][0]["text"]
    assert seed.startswith(SEED_HEADER)
    assert "- ada (U1):\n> first" in seed
    assert "- You (the assistant), earlier:\n> echo: [ada (U1) in Slack]" in seed
    assert "- grace (U2):\n> the code word is ZEBRA" in seed
    assert "second" not in seed  # the message being answered is not its own context
    assert message["content"][1]["text"].endswith("second")
    await bot.idle()  # the turn is committed after its answer is shown
    new = await bot.store.resolve(key(root))
    assert old is not None and new is not None and new.id != old.id
    assert await metric(bot, "threadline_reseeded_sessions_total 1.0")


async def test_an_earlier_turns_long_tool_result_reaches_the_model_as_a_stub(
    tmp_path: Path,
) -> None:
    async with running_world(tmp_path) as w:
        issue = w.github.add_issue("acme/widgets", "Checkout fails " + "when paying " * 25)
        w.claude.script(
            Reply(
                text="Linking it.",
                tool_calls=[
                    ToolCall(
                        "link_github_issue", {"repo": "acme/widgets", "number": issue["number"]}
                    )
                ],
            ),
            Reply(text="Linked."),
            Reply(text="Yes."),
        )
        root = new_ts()
        await w.bot.send_event(mention("link the checkout issue", ts=root))
        await w.slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
        # In its own turn the result is read whole.
        (full,) = [
            b
            for m in w.claude.requests[1]["messages"]
            for b in m["content"]
            if b.get("type") == "tool_result"
        ]
        assert len(full["content"]) > 400

        await w.bot.send_event(mention("is it linked?", thread_ts=root))
        await w.slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
        (stub,) = [
            b
            for m in w.claude.requests[2]["messages"]
            for b in m["content"]
            if b.get("type") == "tool_result"
        ]
        assert stub["tool_use_id"] == full["tool_use_id"]
        assert stub["content"].startswith("[link_github_issue result: ")
        assert (
            len(stub["content"]) < 400 and "> Linked GitHub issue acme/widgets#" in stub["content"]
        )
        await w.bot.idle()
        session = await w.bot.store.resolve(key(root))
        assert session is not None
        stored = [
            b
            for e in await w.bot.store.load_transcript(session.id)
            for b in e.content
            if b.get("type") == "tool_result"
        ]
        assert [b["content"] for b in stored] == [full["content"]]  # kept whole
