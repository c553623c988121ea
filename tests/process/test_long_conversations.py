"""A long conversation as operators meet it: the bot run by its Procfile command, on SQLite and
on PostgreSQL, one Slack thread driven far past the fake model's context window.

The fake counts one token a character and refuses requests over ``WINDOW`` tokens;
``COMPACT_AT_TOKENS`` is its minimum, 50,000. The thread's first message holds a fact.

* While the API compacts (``COMPACTION=server``, the default), the thread passes the trigger
  twice: each time the API summarises, later requests start from its summary, and the fact is
  carried from summary to summary.
* Then the API stops offering compaction (as behind a gateway without the beta): the bot falls
  back to summarising on its own when the API says the conversation is too long, and carries
  on.

Throughout: one session, every mention answered (never a "try again" or "start over" note),
the fact in the last request the model received, and a ``compacted`` event per summary.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from app.turns import compaction
from app.turns.outcome import compacted_note
from tests.fakes.anthropic import FakeAnthropic, Reply
from tests.fakes.slack import FakeSlack
from tests.harness import (
    base_env,
    event_body,
    inbox_drained,
    mention,
    new_ts,
    replies,
    sign,
    store_on,
)
from tests.process.bot import BotProcess

pytestmark = pytest.mark.slow

WINDOW = 64_000  # the fake model's context, in its tokens (one a character)
FACT = "The code word is PELICAN."
NOTE_CHARS = 6_000  # each message: about nine of them reach the compaction trigger
ANSWER = "Noted."
FAILURE_MARKS = ("(turn `t-", "try again", "start this conversation over", "too large")


def note(i: int) -> str:
    """The i-th message of the thread: the fact first, then notes of ``NOTE_CHARS``."""
    head = FACT if i == 0 else f"Note {i} for the record."
    words = " ".join(f"n{i}w{j}" for j in range(NOTE_CHARS // 8))
    return f"{head} {words} (end of note {i})"


def short_answers(body: dict[str, Any]) -> Reply | None:
    """A short answer to every turn; the summariser's request gets the echo (what it was
    sent, whole: the app keeps its beginning, where the oldest messages are)."""
    system = body.get("system") or [{}]
    return None if system[0].get("text") == compaction.SUMMARISER else Reply(text=ANSWER)


def summarised(claude: FakeAnthropic) -> int:
    """Requests to summarise the older turns that the fake answered."""
    return sum(
        1
        for ex in claude.exchanges
        if ex.status == 200
        and (ex.body.get("system") or [{}])[0].get("text") == compaction.SUMMARISER
    )


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeSlack, FakeAnthropic]]:
    async with FakeSlack() as slack, FakeAnthropic() as claude:
        slack.users["U1"] = {"real_name": "Ada Lovelace", "display_name": "ada"}
        claude.chars_per_token = 1
        claude.context_limit_tokens = WINDOW
        claude.default_step = short_answers
        yield slack, claude


class Thread:
    """One Slack thread with the bot process: each ``say`` waits for its answer."""

    def __init__(self, bot: BotProcess, http: aiohttp.ClientSession, slack: FakeSlack) -> None:
        self.bot, self.http, self.slack = bot, http, slack
        self.root = new_ts()
        self.said: list[str] = []

    @property
    def key(self) -> str:
        return f"threadline:slack:C1::{self.root}"

    def answers(self) -> list[str]:
        return replies(self.slack, "C1", self.root)

    async def say(self, text: str) -> None:
        n = len(self.said)
        event = mention(text, ts=self.root) if n == 0 else mention(text, thread_ts=self.root)
        raw = json.dumps(event_body(event)).encode()
        headers = {"Content-Type": "application/json", **sign(raw)}
        async with self.http.post(self.bot.url + "/slack/events", data=raw, headers=headers) as r:
            assert r.status == 200
        self.said.append(text)
        await self.slack.wait_for(lambda s: len(self.answers()) > n, timeout=30)


async def test_a_thread_far_past_the_window_keeps_its_session_and_its_first_fact(
    store_url: str, fakes: tuple[FakeSlack, FakeAnthropic]
) -> None:
    slack, claude = fakes
    env = {**base_env(slack.url, claude.root_url, store_url), "COMPACT_AT_TOKENS": "50000"}
    bot = await BotProcess(env).start()
    try:
        async with aiohttp.ClientSession() as http, store_on(store_url) as store:
            thread = Thread(bot, http, slack)
            await thread.say(note(0))
            session = await store.resolve(thread.key)
            assert session is not None

            # The API compacts: twice, the second summary built on the first.
            while len(claude.compactions) < 2:
                assert len(thread.said) < 30, claude.describe()
                await thread.say(note(len(thread.said)))
            assert all(FACT in block["content"] for block in claude.compactions)
            # Each request counted from the latest summary: none was refused as too long.
            assert all(ex.status == 200 for ex in claude.exchanges)
            server_turns, switched = len(thread.said), len(claude.exchanges)

            # The API stops offering compaction: the bot summarises on its own when the
            # conversation no longer fits, and carries on.
            claude.refuse_compaction = True
            while summarised(claude) < 1:
                assert len(thread.said) < server_turns + 20, claude.describe()
                await thread.say(note(len(thread.said)))
            await thread.say("What was the code word again?")
            await inbox_drained(store)

            sent = sum(len(text) for text in thread.said)
            assert sent > 2 * WINDOW  # people wrote twice what the model can read at once
            # Refused once, the bot stopped asking for compaction; told once that the
            # conversation was too long, it summarised and answered.
            refused = [
                json.dumps(ex.response) for ex in claude.exchanges[switched:] if ex.status != 200
            ]
            assert len(refused) == 2, refused
            assert '"message": "context_management: Extra inputs' in refused[0]
            assert '"message": "prompt is too long: ' in refused[1]

            # The last request still carries the fact, in the summary that stands in for the
            # first turns (the first message itself is not replayed).
            last = claude.requests[-1]
            assert "context_management" not in last  # sent without asking the API to compact
            texts = [b.get("text", "") for m in last["messages"] for b in m["content"]]
            assert not any("(end of note 0)" in t for t in texts)
            [summary] = [t for t in texts if t.startswith("[Summary of the earlier part")]
            assert FACT in summary

            # Every mention answered in the thread, in one session, none with a failure note.
            shown = thread.answers()
            assert len(shown) == len(thread.said)
            assert all(a.startswith(ANSWER) for a in shown), shown
            assert not [a for a in shown if any(m in a for m in FAILURE_MARKS)]
            after = await store.resolve(thread.key)
            assert after is not None and after.id == session.id
            turns = await store.turns_for(session.id)
            assert [t.outcome for t in turns] == ["ok"] * len(thread.said)
            events = [(e.kind, e.cause) for e in await store.events_for(session.id)]
            compacted = [cause for kind, cause in events if kind == "compacted"]
            assert compacted.count("server") == 2 and compacted.count("client") >= 1
            assert not [kind for kind, _ in events if kind in ("dropped", "reset", "expired")]
            assert sum(a.endswith(compacted_note()) for a in shown) == len(compacted)
    finally:
        code = await bot.stop()
    log = await bot.output()
    assert code == 0, log
    assert log.count("refused server-side compaction") == 1, log
