"""Limits and budgets of turns over every store (memory, SQLite, PostgreSQL), with time moved
only by the ``clock`` fixture."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from app.config import ActionSettings
from app.core import Inbound, Usage
from app.store.base import Store
from app.surfaces.dashboard import dashboard_inbound
from app.turns.limits import Limits, Refusal, day_start
from tests.conftest import Clock

UNLIMITED = ActionSettings(user_turns_per_hour=0, channel_turns_per_hour=0)


def slack(user: str = "U1", channel: str = "C1") -> Inbound:
    return Inbound(
        source="slack",
        key=f"tl:slack:{channel}::1.1",
        text="hi",
        author_id=user,
        channel=channel,
        thread_ts="1.1",
        ts="1.2",
    )


def comment(source: str = "github", item: str = "acme/widgets#1", author: str = "U1") -> Inbound:
    return Inbound(
        source=source,
        key=f"tl:{source}:{item}",
        text="a comment",
        author_id=author,
        item_ref=item,
        comment_id="9",
    )


def limits(store: Store, clock: Clock, **settings: int) -> Limits:
    return Limits(store, replace(UNLIMITED, **settings), clock.now)


async def admitted(limits: Limits, inbound: Inbound, times: int = 1) -> bool:
    """Whether ``times`` turns of ``inbound`` in a row were all admitted."""
    return all([await limits.admit(inbound) is None for _ in range(times)])


async def test_a_person_gets_their_hourly_turns_and_no_more(store: Store, clock: Clock) -> None:
    clock.advance(minutes=4, seconds=30)  # 12:04:30
    bounded = limits(store, clock, user_turns_per_hour=3)
    assert await admitted(bounded, slack("U1"), times=3)
    refusal = await bounded.admit(slack("U1"))
    assert refusal == Refusal(
        "user_rate",
        "You've reached 3 messages an hour; you can ask again by 13:05 UTC.",
        datetime(2026, 1, 15, 13, 4, 30, tzinfo=UTC),
    )
    assert await admitted(bounded, slack("U2"))  # someone else, same channel

    clock.advance(seconds=3599)  # one second short of an hour after the three
    assert await bounded.admit(slack("U1")) is not None
    clock.advance(seconds=1)  # the three have left the window
    assert await admitted(bounded, slack("U1"), times=3)
    assert await bounded.admit(slack("U1")) is not None


async def test_refused_turns_are_not_counted(store: Store, clock: Clock) -> None:
    bounded = limits(store, clock, user_turns_per_hour=2)
    assert await admitted(bounded, slack("U1"), times=2)
    clock.advance(minutes=30)
    for _ in range(5):
        assert await bounded.admit(slack("U1")) is not None
    clock.advance(minutes=30)  # an hour after the two admitted, half an hour after the refusals
    assert await admitted(bounded, slack("U1"), times=2)


async def test_a_channel_has_its_own_hourly_limit(store: Store, clock: Clock) -> None:
    bounded = limits(store, clock, channel_turns_per_hour=2, user_turns_per_hour=10)
    assert await admitted(bounded, slack("U1", "C1"))
    assert await admitted(bounded, slack("U2", "C1"))
    refusal = await bounded.admit(slack("U3", "C1"))
    assert refusal is not None and refusal.reason == "channel_rate"
    assert (
        refusal.note
        == "This channel has reached 2 messages an hour; you can ask again by 13:00 UTC."
    )
    assert await admitted(bounded, slack("U3", "C2"))  # another channel
    # The refused turn used none of U3's own allowance.
    assert await admitted(limits(store, clock, user_turns_per_hour=2), slack("U3", "C3"))


async def test_comments_count_against_their_item_with_the_channel_limit(
    store: Store, clock: Clock
) -> None:
    bounded = limits(store, clock, channel_turns_per_hour=1, user_turns_per_hour=1)
    assert await admitted(bounded, comment("github", author="U1"))
    refusal = await bounded.admit(comment("github", author="someone-else"))
    assert refusal is not None and refusal.reason == "channel_rate"
    assert refusal.note.startswith("This issue has reached 1 message an hour;")
    assert await admitted(bounded, comment("github", item="acme/widgets#2"))
    jira = comment("jira", item="AD-1")
    assert await admitted(bounded, jira)
    refusal = await bounded.admit(jira)
    assert refusal is not None and refusal.note.startswith("This ticket has reached")
    # A GitHub login that looks like a Slack id is not that Slack user.
    assert await admitted(bounded, slack("U1"))


async def test_zero_means_unlimited(store: Store, clock: Clock) -> None:
    bounded = limits(store, clock)  # rates 0, budgets 0
    await bounded.spent(slack("U1"), Usage(10**9, 10**9))
    assert await admitted(bounded, slack("U1"), times=100)
    assert await admitted(bounded, comment(), times=20)


async def test_the_daily_budget_resets_at_midnight_utc(store: Store, clock: Clock) -> None:
    bounded = limits(store, clock, daily_token_budget=1000)
    assert await admitted(bounded, slack("U1"))
    await bounded.spent(slack("U1"), Usage(input_tokens=400, output_tokens=199))
    assert await admitted(bounded, comment())
    await bounded.spent(comment(), Usage(input_tokens=300, output_tokens=100))
    assert await admitted(bounded, slack("U2"))  # 999 spent
    await bounded.spent(slack("U2"), Usage(output_tokens=1))  # 1000: the budget is used up
    for who in (slack("U3"), comment(), replace(slack("U3"), source="job", channel=None)):
        refusal = await bounded.admit(who)
        assert refusal == Refusal(
            "daily_budget",
            "The team's daily budget of 1,000 tokens is used up; "
            "I can answer again after midnight UTC.",
            datetime(2026, 1, 16, tzinfo=UTC),
        )
    assert clock.now() == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    clock.advance(seconds=12 * 3600 - 1)  # 23:59:59
    assert await bounded.admit(slack("U3")) is not None
    clock.advance(seconds=1)
    assert await admitted(bounded, slack("U3"))


async def test_a_person_has_a_daily_budget_of_their_own(store: Store, clock: Clock) -> None:
    bounded = limits(store, clock, user_daily_token_budget=500)
    await bounded.spent(slack("U1"), Usage(input_tokens=450, output_tokens=50, cache_read_tokens=9))
    refusal = await bounded.admit(slack("U1", "C2"))
    assert refusal is not None and refusal.reason == "user_daily_budget"
    assert refusal.note == (
        "You've used your daily budget of 500 tokens; you can ask again after midnight UTC."
    )
    assert await admitted(bounded, slack("U2"))
    # Comments have no Slack user behind them: no personal budget, whatever the login.
    await bounded.spent(comment(author="U3"), Usage(input_tokens=5000))
    assert await admitted(bounded, comment(author="U3"))
    assert await admitted(bounded, slack("U3"))


async def test_a_turn_refused_for_its_budget_uses_no_hourly_allowance(
    store: Store, clock: Clock
) -> None:
    await limits(store, clock).spent(slack("U1"), Usage(input_tokens=100))
    tight = limits(store, clock, user_turns_per_hour=1, user_daily_token_budget=100)
    refusal = await tight.admit(slack("U1"))
    assert refusal is not None and refusal.reason == "user_daily_budget"
    roomy = limits(store, clock, user_turns_per_hour=1, user_daily_token_budget=1000)
    assert await admitted(roomy, slack("U1"))
    assert await roomy.admit(slack("U1")) is not None


async def test_spent_tokens_are_recorded_for_the_workspace_the_person_and_the_place(
    store: Store, clock: Clock
) -> None:
    bounded = limits(store, clock)
    await bounded.spent(slack("U1", "C1"), Usage(100, 20, cache_read_tokens=5000))
    await bounded.spent(slack("U2", "C1"), Usage(10, 2))
    await bounded.spent(comment("jira", item="AD-1"), Usage(7, 0))
    since = day_start(clock.now())
    # Input read from the prompt cache is input too.
    assert await store.tokens_since("workspace", since) == 5139
    assert await store.usage_by_scope(since, "user:") == [("user:U1", 5120), ("user:U2", 12)]
    assert await store.usage_by_scope(since, "channel:") == [("channel:C1", 5132)]
    assert await store.usage_by_scope(since, "item:") == [("item:tl:jira:AD-1", 7)]


def on_dashboard(author: str, *, team: str | None, channel: str | None) -> Inbound:
    """A reply written on a conversation's dashboard page, as the page records it."""
    return dashboard_inbound(
        "tl",
        "s1",
        "hi",
        author_id=author,
        author_name=author,
        page_url=None,
        team_id=team,
        channel=channel,
    )


async def test_a_slack_persons_dashboard_replies_count_as_their_slack_messages(
    store: Store, clock: Clock
) -> None:
    bounded = limits(store, clock, user_turns_per_hour=2, channel_turns_per_hour=3)
    assert await admitted(bounded, slack("U1", "C1"))
    assert await admitted(bounded, on_dashboard("U1", team="T1", channel="C1"))
    refusal = await bounded.admit(on_dashboard("U1", team="T1", channel="C9"))
    assert refusal is not None and refusal.reason == "user_rate"
    assert await bounded.admit(slack("U1", "C2")) is not None  # Slack too: the same two turns
    # the conversation's channel counts them with its Slack messages
    assert await admitted(bounded, on_dashboard("U2", team="T1", channel="C1"))
    refusal = await bounded.admit(slack("U3", "C1"))
    assert refusal is not None and refusal.reason == "channel_rate"
    assert refusal.note.startswith("This channel has reached 3 messages an hour;")
    refusal = await bounded.admit(on_dashboard("U4", team="T1", channel="C1"))
    assert refusal is not None and refusal.note.startswith("This channel has reached")


async def test_an_operators_dashboard_replies_count_against_the_place_only(
    store: Store, clock: Clock
) -> None:
    bounded = limits(store, clock, user_turns_per_hour=1, channel_turns_per_hour=2)
    operator = on_dashboard("operator", team=None, channel="C1")
    assert await admitted(bounded, operator, times=2)  # no person's hourly turns
    assert await bounded.admit(slack("U1", "C1")) is not None  # but the channel's
    # a conversation with no Slack channel counts against its dashboard page
    elsewhere = on_dashboard("operator", team=None, channel=None)
    assert await admitted(bounded, elsewhere, times=2)
    refusal = await bounded.admit(elsewhere)
    assert refusal is not None and refusal.reason == "channel_rate"
    assert refusal.note.startswith("This conversation has reached 2 messages an hour;")


async def test_a_slack_persons_dashboard_tokens_are_theirs_and_the_channels(
    store: Store, clock: Clock
) -> None:
    bounded = limits(store, clock, user_daily_token_budget=100)
    await bounded.spent(on_dashboard("U1", team="T1", channel="C1"), Usage(90, 10))
    await bounded.spent(on_dashboard("operator", team=None, channel="C1"), Usage(5, 0))
    since = day_start(clock.now())
    assert await store.usage_by_scope(since, "user:") == [("user:U1", 100)]
    assert await store.usage_by_scope(since, "channel:") == [("channel:C1", 105)]
    refusal = await bounded.admit(slack("U1", "C2"))
    assert refusal is not None and refusal.reason == "user_daily_budget"


@pytest.mark.parametrize(
    ("now", "midnight"),
    [
        (datetime(2026, 3, 1, 0, 0, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
        (datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
        (
            datetime.fromisoformat("2026-03-01T01:30:00+02:00"),  # 23:30 UTC the day before
            datetime(2026, 2, 28, tzinfo=UTC),
        ),
    ],
)
def test_days_start_at_midnight_utc(now: datetime, midnight: datetime) -> None:
    assert day_start(now) == midnight
