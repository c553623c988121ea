"""What a turn costs the store, counted on the real SQLite store through the running app.

A follow-up in a Slack thread is four transactions: recording the delivery (its backlog
counted in the same transaction), the claim (which takes the session's lease and reads its
transcript and the thread's previous message with it), recording the reply's Slack message
(so a retry edits it), and the commit. A new thread's first turn adds one: its session,
key and lease are created together. Slack's second copy of a mention costs nothing. After
each turn, whether its author watches their Home tab is one read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.store.sql import SqlStore
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import FakeSlack
from tests.harness import Running, base_env, eventually, mention, new_ts, run_app

TURNS = 6


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.users["U1"] = {"real_name": "Ada Lovelace", "display_name": "ada"}
        yield fake


@pytest.fixture
async def claude() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        yield fake


async def _answered(bot: Running, slack: FakeSlack, count: int) -> None:
    """Wait until ``count`` answers are finished and no turn is running (the commit follows
    the answer)."""
    await slack.wait_for(lambda s: len(s.calls_to("chat.stopStream")) == count)
    await eventually(lambda: bot.app.worker is not None and not bot.app.worker.in_flight)


async def test_a_turn_costs_four_store_transactions_and_a_new_thread_one_more(
    slack: FakeSlack, claude: FakeAnthropic, tmp_path: Path
) -> None:
    seen: Counter[str] = Counter()
    url = f"sqlite:///{tmp_path / 'threadline.db'}"
    store = SqlStore(url, activity=lambda kind: seen.update([kind]))
    env = base_env(slack.url, claude.root_url, url)
    # Hourly rates off: counting a turn against them is one more write, measured elsewhere.
    env |= {"USER_TURNS_PER_HOUR": "0", "CHANNEL_TURNS_PER_HOUR": "0"}
    async with run_app(env, store=store) as bot:
        root = new_ts()
        slack.add_message("C1", "<@UBOT> hello", ts=root)
        start = seen.copy()
        assert await bot.send_event(mention("hello", ts=root)) == 200
        await _answered(bot, slack, 1)
        first = seen - start

        start = seen.copy()
        for n in range(TURNS):
            ts = new_ts()
            slack.add_message("C1", f"<@UBOT> more {n}", ts=ts, thread_ts=root)
            as_mention = mention(f"more {n}", ts=ts, thread_ts=root)
            as_message = {**as_mention, "type": "message", "channel_type": "channel"}
            assert await bot.send_event(as_mention) == 200
            assert await bot.send_event(as_message) == 200
            await _answered(bot, slack, n + 2)
        later = seen - start

    # The person's Home tab: is it watched? At most one look after each turn.
    assert first["read"] == 1, first
    assert 1 <= later["read"] <= TURNS, later
    # An idle worker looks at the inbox once a second: at most one such look per second.
    assert 5 <= first["write"] <= 6, first
    assert TURNS * 4 <= later["write"] <= TURNS * 4 + 2, later
    assert len(claude.requests) == TURNS + 1
