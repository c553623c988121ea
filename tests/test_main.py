"""The composition root's lifespan, through the real app on loopback: what it opens it closes,
also when starting fails half-way; what the caller passes in stays the caller's to close."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.errors import ConfigError
from app.store import SqlStore
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import FakeSlack
from tests.harness import base_env, mention, new_ts, replies, run_app


class CountingStore(SqlStore):
    """The real store, counting how often it is closed."""

    closes = 0

    async def close(self) -> None:
        self.closes += 1
        await super().close()


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeSlack, FakeAnthropic]]:
    async with FakeSlack() as slack, FakeAnthropic() as claude:
        yield slack, claude


def write_ahead_log(database: Path) -> Path:
    """SQLite's WAL file: there while a connection is open, folded back in and removed when
    the last one closes."""
    return database.with_name(database.name + "-wal")


async def test_the_store_the_app_opened_is_closed_when_it_stops(
    fakes: tuple[FakeSlack, FakeAnthropic], tmp_path: Path
) -> None:
    slack, claude = fakes
    database = tmp_path / "threadline.db"
    async with run_app(base_env(slack.url, claude.root_url, f"sqlite:///{database}")) as bot:
        root = new_ts()
        assert await bot.send_event(mention("hello", ts=root)) == 200
        await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
        assert write_ahead_log(database).exists()
    assert not write_ahead_log(database).exists()


async def test_a_store_and_client_passed_in_are_used_and_left_open(
    fakes: tuple[FakeSlack, FakeAnthropic], tmp_path: Path
) -> None:
    slack, claude = fakes
    url = f"sqlite:///{tmp_path / 'threadline.db'}"
    store = CountingStore(url, ttl_days=30)
    try:
        async with httpx.AsyncClient() as http:
            async with run_app(
                base_env(slack.url, claude.root_url, url), store=store, http=http
            ) as bot:
                assert bot.store is store
                root = new_ts()
                assert await bot.send_event(mention("hello", ts=root)) == 200
                await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
            assert store.closes == 0
            assert not http.is_closed
            assert (await store.stats()).active_sessions == 1  # still ours, still working
    finally:
        await store.close()


@pytest.mark.parametrize("passed_in", [False, True], ids=["opened by the app", "passed in"])
async def test_a_failed_start_closes_only_what_the_app_had_opened(
    fakes: tuple[FakeSlack, FakeAnthropic], tmp_path: Path, passed_in: bool
) -> None:
    slack, claude = fakes
    slack.token_prefixes = ("xoxb-another-",)  # auth.test refuses the token, after migrating
    database = tmp_path / "threadline.db"
    url = f"sqlite:///{database}"
    store = CountingStore(url, ttl_days=30) if passed_in else None
    try:
        with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN: Slack rejected the token"):
            async with run_app(base_env(slack.url, claude.root_url, url), store=store):
                pass
        assert database.exists()  # it got as far as migrating
        if store is None:
            assert not write_ahead_log(database).exists()
        else:
            assert store.closes == 0
            assert write_ahead_log(database).exists()
    finally:
        if store is not None:
            await store.close()
