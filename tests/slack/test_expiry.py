"""Sessions idle past SESSION_TTL_DAYS expire: the next message starts a fresh conversation."""

from __future__ import annotations

from app.store import SqlStore
from tests.conftest import Clock
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import FakeSlack
from tests.harness import mention, new_ts, replies, run_app


async def test_an_idle_thread_expires_and_its_next_message_starts_fresh(
    env: dict[str, str], slack: FakeSlack, claude: FakeAnthropic, clock: Clock
) -> None:
    store = SqlStore(env["DATABASE_URL"], ttl_days=30, clock=clock.now)
    try:
        async with run_app(env, store=store) as bot:
            root = new_ts()
            await bot.send_event(mention("remember 7", ts=root))
            await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
            await bot.idle()
            old = await store.resolve(f"threadline:slack:C1::{root}")
            assert old is not None

            clock.advance(days=31)
            assert await store.resolve(f"threadline:slack:C1::{root}") is None
            await bot.send_event(mention("what number?", thread_ts=root))
            await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
            assert len(claude.requests[-1]["messages"]) == 1  # nothing of the old session
            await bot.idle()
            new = await store.resolve(f"threadline:slack:C1::{root}")
            assert new is not None and new.id != old.id

            assert await store.expire_sessions() == 1
            assert "expired" in [e.kind for e in await store.events_for(old.id)]
    finally:
        await store.close()
