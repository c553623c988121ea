"""The second copy of a message this process has just recorded is refused without the store;
the inbox stays the truth for everything else."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.errors import StoreError
from app.http.recent import RecentDeliveries
from app.store.memory import MemoryStore
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import FakeSlack
from tests.harness import Running, base_env, inbox_drained, mention, new_ts, replies, run_app


def test_remembers_the_most_recent_ids_only() -> None:
    recent = RecentDeliveries(size=2)
    recent.remember("a")
    recent.remember("b")
    assert recent.seen("a") and recent.seen("b") and not recent.seen("c")
    recent.remember("a")  # seen again: the most recent now
    recent.remember("c")
    assert recent.seen("a") and recent.seen("c") and not recent.seen("b")


class CountingStore(MemoryStore):
    """The in-memory store, counting what the Slack edge asks of the inbox; ``fail_next``
    makes the next recording fail as a store that is down would."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: Counter[str] = Counter()
        self.fail_next = False

    async def pending_count(self, lane: str) -> int:
        self.asked["pending_count"] += 1
        return await super().pending_count(lane)

    async def record_delivery(
        self,
        delivery_id: str,
        source: str,
        lane: str,
        payload: dict[str, Any],
        *,
        max_pending: int | None = None,
    ) -> bool:
        self.asked["record_delivery"] += 1
        if self.fail_next:
            self.fail_next = False
            raise StoreError("store.record_delivery failed: database is locked")
        return await super().record_delivery(
            delivery_id, source, lane, payload, max_pending=max_pending
        )


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def claude() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
async def bot(
    slack: FakeSlack, claude: FakeAnthropic, store: CountingStore, tmp_path: Path
) -> AsyncIterator[Running]:
    env = base_env(slack.url, claude.root_url, f"sqlite:///{tmp_path / 'threadline.db'}")
    async with run_app(env, store=store) as running:
        yield running


def copies(text: str, root: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A mention in a thread as Slack sends it: as ``app_mention`` and as ``message``."""
    as_mention = mention(text, ts=new_ts(), thread_ts=root)
    return as_mention, {**as_mention, "type": "message", "channel_type": "channel"}


async def test_the_message_copy_of_a_mention_costs_no_store_call(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic, store: CountingStore
) -> None:
    root = new_ts()
    assert await bot.send_event(mention("start", ts=root)) == 200
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    as_mention, as_message = copies("once please", root)
    assert await bot.send_event(as_mention) == 200
    asked = dict(store.asked)
    assert await bot.send_event(as_message) == 200
    assert dict(store.asked) == asked
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
    await inbox_drained(store)
    assert len(claude.requests) == 2


async def test_a_copy_of_a_message_whose_recording_failed_is_recorded(
    bot: Running, slack: FakeSlack, claude: FakeAnthropic, store: CountingStore
) -> None:
    root = new_ts()
    assert await bot.send_event(mention("start", ts=root)) == 200
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    as_mention, as_message = copies("are you there", root)
    store.fail_next = True
    assert await bot.send_event(as_mention) == 503  # Slack will send it again
    assert await bot.send_event(as_message) == 200
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
    # Slack's redelivery of the first copy is then refused: in memory, then by the inbox.
    assert await bot.send_event(as_mention) == 200
    await inbox_drained(store)
    assert len(claude.requests) == 2
