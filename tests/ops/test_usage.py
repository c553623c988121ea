"""``python -m app usage`` against a real store (SQLite and PostgreSQL), through
``app.cli.main``: token spend written as the turns write it (``Limits.spent``), relative to
the real clock, since the command reads the real time."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from app.config import ActionSettings
from app.core import Inbound, Usage
from app.store import SqlStore
from app.turns.limits import Limits, day_start
from tests.conftest import Clock
from tests.ops.conftest import Cli

JIRA_KEY = "threadline:jira:AD-12"


def slack(user: str, channel: str) -> Inbound:
    return Inbound(
        source="slack",
        key=f"threadline:slack:{channel}::main",
        text="x",
        author_id=user,
        channel=channel,
    )


def jira() -> Inbound:
    return Inbound(source="jira", key=JIRA_KEY, text="x", author_id="5b10", item_ref="AD-12")


@pytest.fixture
async def spent(store_url: str, cli_env: dict[str, str]) -> AsyncIterator[datetime]:
    """Spend today, yesterday and two days ago; yields the moment "today" was written."""
    now = datetime.now(UTC)
    clock = Clock(day_start(now) - timedelta(days=2, hours=-1))  # two days ago, 01:00
    store = SqlStore(store_url, ttl_days=30, clock=clock.now)
    await store.migrate()
    limits = Limits(store, ActionSettings(), clock.now)
    try:
        await limits.spent(slack("U1", "C1"), Usage(5000, 0))
        clock.advance(days=1)  # yesterday, 01:00
        await limits.spent(slack("U2", "C2"), Usage(700, 0))
        clock.advance(seconds=(now - clock.now()).total_seconds())  # today, now
        await limits.spent(slack("U1", "C1"), Usage(900, 200, cache_read_tokens=100))
        await limits.spent(slack("U2", "C1"), Usage(300, 50))
        await limits.spent(slack("U2", "D7"), Usage(40, 10))
        await limits.spent(jira(), Usage(2000, 500))
        await limits.spent(
            Inbound(source="job", key="threadline:job:1", text="", author_id=""), Usage(7, 0)
        )
        cli_env.update(
            {
                "DATABASE_URL": store_url,
                "DAILY_TOKEN_BUDGET": "10000",
                "USER_DAILY_TOKEN_BUDGET": "2000",
            }
        )
        yield now
    finally:
        await store.close()


def same_day(written: datetime) -> None:
    """The command reads "today" itself: a test straddling midnight UTC cannot say what it
    should have shown (a day boundary, not a race the command has)."""
    if day_start(datetime.now(UTC)) != day_start(written):
        pytest.skip("midnight UTC passed while the test ran")


async def test_usage_shows_today_by_user_and_by_place_against_the_budgets(
    cli: Cli, spent: datetime
) -> None:
    result = await cli("usage")
    same_day(spent)
    assert (result.code, result.err) == (0, "")
    midnight = f"{day_start(spent):%Y-%m-%d} 00:00"
    assert result.out == "\n".join(
        [
            f"Tokens (input + output) since {midnight} UTC (today).",
            "Workspace       4,107 (41% of the daily budget)",
            "Daily budget    10,000 tokens (DAILY_TOKEN_BUDGET)",
            "Per user a day  2,000 tokens (USER_DAILY_TOKEN_BUDGET)",
            "",
            "USER   TOKENS  OF BUDGET",
            "U1      1,200        60%",
            "U2        400        20%",
            "total   1,600",
            "",
            "CHANNEL  TOKENS",
            "C1        1,550",
            "D7           50",
            "total     1,600",
            "",
            "ISSUE OR TICKET        TOKENS",
            "threadline:jira:AD-12   2,500",
            "total                   2,500",
            "",
        ]
    )


async def test_usage_as_json_and_over_several_days(cli: Cli, spent: datetime) -> None:
    today = await cli("usage", "--json")
    two = await cli("usage", "--days", "2", "--json")
    same_day(spent)
    assert (today.code, today.err) == (0, "")
    document = json.loads(today.out)
    assert document == {
        "since": day_start(spent).isoformat(),
        "until": document["until"],
        "days": 1,
        "workspace": 4107,
        "budgets": {"daily_token_budget": 10000, "user_daily_token_budget": 2000},
        "users": [{"user": "U1", "tokens": 1200}, {"user": "U2", "tokens": 400}],
        "channels": [{"channel": "C1", "tokens": 1550}, {"channel": "D7", "tokens": 50}],
        "items": [{"key": JIRA_KEY, "tokens": 2500}],
    }
    assert datetime.fromisoformat(document["until"]) >= spent

    document = json.loads(two.out)
    assert document["since"] == (day_start(spent) - timedelta(days=1)).isoformat()
    assert document["workspace"] == 4807
    assert document["users"] == [{"user": "U1", "tokens": 1200}, {"user": "U2", "tokens": 1100}]
    assert document["channels"][0] == {"channel": "C1", "tokens": 1550}
    assert two.err == ""


async def test_a_window_longer_than_what_is_kept_says_so(cli: Cli, spent: datetime) -> None:
    result = await cli("usage", "--days", "3")
    same_day(spent)
    assert result.code == 0
    assert "the last 3 days" in result.out and "Workspace       9,807" in result.lines
    assert "(41% of the daily budget)" not in result.out  # budgets are per day
    assert result.err == (
        "threadline: token spend is kept for 2 days; earlier days count nothing\n"
    )


async def test_an_empty_database_shows_nothing_spent(
    cli: Cli, cli_env: dict[str, str], store_url: str
) -> None:
    store = SqlStore(store_url)
    await store.migrate()
    await store.close()
    cli_env["DATABASE_URL"] = store_url
    result = await cli("usage")
    assert result.code == 0
    assert result.lines[1:] == [
        "Workspace       0",
        "Daily budget    unlimited (DAILY_TOKEN_BUDGET)",
        "Per user a day  unlimited (USER_DAILY_TOKEN_BUDGET)",
        "",
        "USER: none",
        "",
        "CHANNEL: none",
        "",
        "ISSUE OR TICKET: none",
    ]


@pytest.mark.parametrize("days", ["0", "-1", "two", "367"])
async def test_a_bad_number_of_days_is_refused(cli: Cli, days: str) -> None:
    with pytest.raises(SystemExit) as exited:
        await cli("usage", "--days", days)
    assert exited.value.code == 2
