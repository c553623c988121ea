"""The App Home tab: through the running app, what a person sees when they open it (their
conversation, an approval waiting for them, their budget, the dashboard) and that it is
refreshed after a turn of theirs; directly on ``HomeTab``, how refreshes are coalesced and
throttled per person, across replicas too, and what a failing Slack or store does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from app.config import Settings
from app.core import Usage
from app.slack.cards import CLICK_KIND
from app.slack.home import HomeTab, people_of
from app.slack.home_view import Conversation, HomeContent, home_view, slack_link
from app.store import MemoryStore
from app.store.base import Approval, Delivery, Store, TurnCommit
from tests.actions.conftest import (
    Fakes,
    comment,
    file_from_slack,
    issue_call,
    settled,
    start,
    the_card,
)
from tests.fakes.anthropic import FakeAnthropic, Reply
from tests.fakes.github import FakeGitHub
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_views import check_home_view
from tests.harness import Running, base_env, eventually, mention, new_ts, replies, run_app
from tests.store.test_contract import text_msg

HOME_ENV = {
    "USER_DAILY_TOKEN_BUDGET": "100000",
    "DASHBOARD_TOKEN": "a-long-operator-token-0123",
    "PUBLIC_URL": "https://threadline.example.com",
    "JOBS_RUNNER": "callback",
    "JOBS_DISPATCH_URL": "http://127.0.0.1:9/dispatch",  # never reached: no job is started
}


def home_opened(user: str, tab: str = "home") -> dict[str, Any]:
    return {"type": "app_home_opened", "user": user, "channel": "D1", "tab": tab, "event_ts": "1"}


def shown(view: dict[str, Any]) -> str:
    """Everything the view's blocks say, as one string."""
    return json.dumps(view["blocks"])


@pytest.fixture
async def bot_with_home(env: dict[str, str]) -> AsyncIterator[Running]:
    async with run_app({**env, **HOME_ENV}) as running:
        yield running


async def ask_approval(
    store: Store, channel: str, thread: str, *, asked_by: str, deciders: str = "asker"
) -> None:
    session = await store.resolve(f"threadline:slack:{channel}::{thread}")
    assert session is not None
    await store.create_approval(
        session_id=session.id,
        turn_id="t1",
        tool="create_github_issue",
        tool_input={"repo": "acme/widgets", "title": "Crash on <save>"},
        summary={"action": "Create a GitHub issue", "target": "acme/widgets", "title": "Crash"},
        asked_by=asked_by,
        deciders=deciders,
        channel=channel,
        thread_ts=thread,
        ttl_seconds=3600,
    )


async def test_the_home_tab_shows_a_persons_conversations_approvals_budget_and_dashboard(
    bot_with_home: Running, slack: FakeSlack
) -> None:
    bot = bot_with_home
    root = new_ts()
    await bot.send_event(mention("hello", ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    await ask_approval(bot.store, "C1", root, asked_by="U1")
    session = await bot.store.resolve(f"threadline:slack:C1::{root}")
    assert session is not None
    await bot.store.create_job(
        job_id="job-1",
        session_id=session.id,
        runner="callback",
        title="Refactor the <parser>",
        instructions="make it faster",
        repo="acme/widgets",
        asked_by="U1",
        token_hash=None,
        ttl_seconds=3600,
    )

    assert await bot.send_event(home_opened("U1")) == 200
    await slack.wait_for(lambda s: "U1" in s.home_views)
    view = shown(slack.home_views["U1"])
    assert "<#C1>" in view
    assert f"https://fake.slack.test/archives/C1/p{root.replace('.', '')}" in view
    assert "Waiting for your approval" in view and "Create a GitHub issue in acme/widgets" in view
    assert "<save>" not in view  # the action's content is not shown, only its headline
    assert "Your background jobs" in view and "Refactor the &lt;parser&gt;* in acme/widgets" in view
    assert "You have used" in view and "of 100,000 tokens today" in view
    assert "https://threadline.example.com/dashboard" in view
    assert "hello" not in view  # nothing said in the conversation

    # someone else sees none of it (the approval is for its asker to decide)
    await bot.send_event(home_opened("U2"))
    await slack.wait_for(lambda s: "U2" in s.home_views)
    other = shown(slack.home_views["U2"])
    assert "No conversations yet" in other and "<#C1>" not in other
    assert "Waiting for your approval" not in other and "Your background jobs" not in other


async def test_the_tab_is_refreshed_after_a_turn_of_its_watcher_and_not_for_others(
    bot: Running, slack: FakeSlack
) -> None:
    await bot.send_event(home_opened("U1"))
    await slack.wait_for(lambda s: "U1" in s.home_views)
    assert "No conversations yet" in shown(slack.home_views["U1"])

    root = new_ts()
    await bot.send_event(mention("hello", ts=root))
    # published again once the throttle allows (a few seconds after the first)
    await slack.wait_for(lambda s: "<#C1>" in shown(s.home_views["U1"]), timeout=10)
    # U2 never opened the tab: their turn publishes nothing, and costs no Slack call
    other = new_ts()
    await bot.send_event(mention("hi", ts=other, user="U2"))
    await slack.wait_for(lambda s: len(replies(s, "C1", other)) == 1)
    await bot.idle()
    assert [c.params["user_id"] for c in slack.calls_to("views.publish")] == ["U1", "U1"]


async def test_the_messages_tab_and_bad_events_publish_nothing(
    bot: Running, slack: FakeSlack
) -> None:
    assert await bot.send_event(home_opened("U1", tab="messages")) == 200
    assert await bot.send_event({"type": "app_home_opened", "tab": "home"}) == 200  # no user
    assert await bot.send_event(home_opened("not a user id")) == 200
    await bot.idle()
    assert slack.calls_to("views.publish") == []


async def test_someone_outside_allowed_users_sees_a_neutral_line_and_no_invitation(
    env: dict[str, str], slack: FakeSlack
) -> None:
    async with run_app({**env, **HOME_ENV, "ALLOWED_USERS": "U2"}) as bot:
        assert await bot.send_event(home_opened("U1")) == 200
        assert await bot.send_event(home_opened("U2")) == 200
        await slack.wait_for(lambda s: "U1" in s.home_views and "U2" in s.home_views)
    refused = shown(slack.home_views["U1"])
    assert "not available to you in this workspace" in refused
    for hidden in ("Mention me", "send me a DM", "Your conversations", "dashboard", "tokens"):
        assert hidden not in refused
    check_home_view(slack.home_views["U1"])
    assert "No conversations yet. Mention me" in shown(slack.home_views["U2"])


# HomeTab directly: throttle, coalescing, replicas, failures ---------------------------------------


@pytest.fixture
async def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=slack.url)


def settings(slack: FakeSlack) -> Settings:
    return Settings.from_mapping(base_env(slack.url, "http://127.0.0.1:9", "sqlite:///unused"))


async def test_changes_are_coalesced_and_published_at_most_once_per_interval(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    store = MemoryStore()
    home = HomeTab(client, store, settings(slack), clock=lambda: datetime.now(UTC), interval=0.3)
    await home.opened("U1")
    await slack.wait_for(lambda s: len(s.calls_to("views.publish")) == 1)
    for _ in range(20):
        home.changed("U1")  # a burst of changes right after the first publish
    await eventually(lambda: len(slack.calls_to("views.publish")) == 2, timeout=3)
    await asyncio.sleep(0.5)  # longer than the interval: nothing more comes
    assert len(slack.calls_to("views.publish")) == 2  # the burst became one refresh
    assert home.published == 2
    # someone who never opened the tab is not published to
    home.changed("U2")
    await home.close()
    assert len(slack.calls_to("views.publish")) == 2


async def test_replicas_sharing_a_store_publish_one_persons_tab_once_a_slot(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    store = MemoryStore()
    # the wall clock stands still just before a slot ends: a replica that finds the slot
    # taken looks again a moment later, and finds it taken until the clock moves on
    now = [datetime(2026, 12, 1, 12, 0, tzinfo=UTC) - timedelta(seconds=0.05)]
    replicas = [
        HomeTab(client, store, settings(slack), clock=lambda: now[0], interval=60.0)
        for _ in range(2)
    ]
    await replicas[0].opened("U1")
    await slack.wait_for(lambda s: len(s.calls_to("views.publish")) == 1)
    replicas[1].changed("U1")  # it sees the person watching (the shared store says so)
    await asyncio.sleep(0.3)
    assert replicas[1].published == 0  # this slot is taken
    now[0] += timedelta(seconds=1)  # the next slot: the waiting refresh goes out
    await eventually(lambda: replicas[1].published == 1, timeout=3)
    for home in replicas:
        await home.close()
    assert len(slack.calls_to("views.publish")) == 2


async def test_slack_refusing_the_view_or_a_rate_limit_is_survived(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    home = HomeTab(client, MemoryStore(), settings(slack), clock=lambda: datetime.now(UTC))
    slack.home_tab_enabled = False
    assert not await home.publish("U1")  # not_enabled: logged, nothing raised
    slack.home_tab_enabled = True
    assert not await home.publish("U404")  # user_not_found
    slack.fail("views.publish", status=500)
    assert not await home.publish("U1")
    assert await home.publish("U1")
    assert "U1" in slack.home_views


async def test_people_of_another_organisation_see_the_neutral_line_when_ignored(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.users["U5"] = {"real_name": "Eve", "display_name": "eve", "team_id": "T2"}
    slack.users["U6"] = {"real_name": "Sam", "display_name": "sam", "is_stranger": True}
    slack.users["U8"] = {"real_name": "Kim", "display_name": "kim"}
    ignoring = Settings.from_mapping(
        {
            **base_env(slack.url, "http://127.0.0.1:9", "sqlite:///unused"),
            "EXTERNAL_USERS": "ignore",
        }
    )
    home = HomeTab(client, MemoryStore(), ignoring, clock=lambda: datetime.now(UTC))
    for user in ("U1", "U5", "U6"):
        assert await home.publish(user)
    assert "No conversations yet" in shown(slack.home_views["U1"])
    for outsider in ("U5", "U6"):
        assert "not available to you" in shown(slack.home_views[outsider])
    assert len(slack.calls_to("users.info")) == 3
    assert await home.publish("U5")  # known: Slack is not asked again
    assert len(slack.calls_to("users.info")) == 3
    slack.fail("users.info", status=500)
    assert not await home.publish("U8")  # who they are is unknown: nothing is published
    assert "U8" not in slack.home_views
    # under EXTERNAL_USERS=chat (the default) they are answered, so they get their tab
    chatting = HomeTab(client, MemoryStore(), settings(slack), clock=lambda: datetime.now(UTC))
    assert await chatting.publish("U5")
    assert "No conversations yet" in shown(slack.home_views["U5"])
    assert len(slack.calls_to("users.info")) == 4  # only the failed one more


def test_the_view_stays_within_slacks_limits_and_links_are_checked() -> None:
    when = datetime(2026, 12, 1, tzinfo=UTC)
    many = [Conversation("C1", False, True, "https://x/archives/C1/p1", when)] * 10
    view = home_view(HomeContent(conversations=many, dashboard_url="https://t.example/dashboard"))
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    check_home_view(view)
    assert (
        slack_link("https://ws.slack.com/", "C1", "1.2") == "https://ws.slack.com/archives/C1/p12"
    )
    assert slack_link("https://ws.slack.com/", "C1", "3.4", "1.2") == (
        "https://ws.slack.com/archives/C1/p34?thread_ts=1.2&cid=C1"
    )
    assert slack_link(None, "C1", "1.2") is None
    assert slack_link("https://ws.slack.com/", "C1|x", "1.2") is None
    assert slack_link("https://ws.slack.com/", "C1", "not-a-ts") is None


def delivery(payload: dict[str, Any]) -> Delivery:
    now = datetime.now(UTC)
    return Delivery(1, "d1", "slack", "lane", payload, "done", 1, now, None)


@pytest.mark.parametrize(
    ("payload", "touched"),
    [
        ({"source": "slack", "author_id": "U1", "text": "hi"}, ("U1", None)),
        ({"source": "github", "author_id": "octocat"}, (None, None)),
        ({"kind": CLICK_KIND, "user_id": "U2", "approval_id": "a1"}, ("U2", "a1")),
        ({"kind": "job_result", "job_id": "j1", "asked_by": "U3"}, ("U3", None)),
        ({"kind": "feedback_vote", "user_id": "U4"}, (None, None)),
    ],
)
def test_whose_tab_a_delivery_touches(
    payload: dict[str, Any], touched: tuple[str | None, str | None]
) -> None:
    assert people_of(delivery(payload)) == touched


async def test_a_decided_approval_refreshes_its_askers_tab(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    store = MemoryStore()
    session = await store.create_session("threadline")
    approval = await store.create_approval(
        session_id=session.id,
        turn_id="t1",
        tool="create_github_issue",
        tool_input={},
        summary={"action": "Create a GitHub issue"},
        asked_by="U1",
        deciders="asker",
        channel="C1",
        thread_ts="1.2",
        ttl_seconds=60,
    )
    home = HomeTab(client, store, settings(slack), clock=lambda: datetime.now(UTC), interval=0.1)
    await home.opened("U1")
    await slack.wait_for(lambda s: "Create a GitHub issue" in shown(s.home_views["U1"]))
    await store.decide_approval(approval.id, "approved", "U9")

    async def handle(_: Delivery) -> None:
        return None

    click = {"kind": CLICK_KIND, "user_id": "U9", "approval_id": approval.id}
    await home.after(handle)(delivery(click))
    await slack.wait_for(lambda s: "Create a GitHub issue" not in shown(s.home_views["U1"]))
    await home.close()
    assert "U9" not in slack.home_views  # the clicker never opened the tab


# approvals: exactly those a person may decide, and refreshed when they change ---------------------


async def wrote_in(store: Store, key: str, author: str) -> str:
    """A session at ``key`` holding one Slack message of ``author``; its id."""
    session = await store.create_session("threadline")
    await store.register_key(key, session.id)
    fence = await store.acquire_lease(session.id, "w1", 30.0)
    assert fence is not None
    await store.commit_turn(
        TurnCommit(
            session_id=session.id,
            fence=fence,
            turn_id=f"turn-{session.id}",
            messages=[
                text_msg("user", "hello", author_id=author, source="slack"),
                text_msg("assistant", "hi"),
            ],
            usage=Usage(1, 1),
            model="claude-test",
            outcome="ok",
            holder="w1",
        )
    )
    await store.release_lease(session.id, "w1", fence)
    return session.id


async def approval_in(
    store: Store, session_id: str, *, asked_by: str, deciders: str, channel: str, ttl: float = 600
) -> Approval:
    return await store.create_approval(
        session_id=session_id,
        turn_id="t1",
        tool="create_github_issue",
        tool_input={},
        summary={"action": f"Create a GitHub issue for {asked_by} in {channel}"},
        asked_by=asked_by,
        deciders=deciders,
        channel=channel,
        thread_ts="1.2",
        ttl_seconds=ttl,
    )


async def test_the_tab_lists_exactly_the_approvals_a_person_may_decide(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    store = MemoryStore()
    s = Settings.from_mapping(
        {**base_env(slack.url, "http://127.0.0.1:9", "sqlite:///unused"), "APPROVERS": "U9"}
    )
    home = HomeTab(client, store, s, clock=lambda: datetime.now(UTC))
    in_c1 = await wrote_in(store, "threadline:slack:C1::1.1", "U2")  # long ago, in C1
    c1 = await approval_in(store, in_c1, asked_by="octocat", deciders="channel", channel="C1")
    elsewhere = await wrote_in(store, "threadline:slack:C5::5.5", "U3")  # U2 never wrote in C5
    c5 = await approval_in(store, elsewhere, asked_by="octocat", deciders="channel", channel="C5")
    for n in range(12):  # U2 has been busy since, in other channels
        await wrote_in(store, f"threadline:slack:C7::7.{n}", "U2")
    asked = [  # and 60 newer approvals of someone else wait in the workspace
        await approval_in(store, in_c1, asked_by="U7", deciders="asker", channel="C1")
        for _ in range(60)
    ]

    assert [a.id for a in (await home.content("U2")).approvals] == [c1.id]
    assert [a.id for a in (await home.content("U3")).approvals] == [c5.id]
    assert len((await home.content("U7")).approvals) == 10  # the newest ten, no more
    assert {a.id for a in (await home.content("U7")).approvals} <= {a.id for a in asked}
    assert len((await home.content("U9")).approvals) == 10  # an approver: every one
    assert (await home.content("U8")).approvals == []


async def test_an_approval_asked_decided_or_expired_refreshes_the_tabs_it_is_on(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    store = MemoryStore()
    s = Settings.from_mapping(
        {**base_env(slack.url, "http://127.0.0.1:9", "sqlite:///unused"), "APPROVERS": "U9"}
    )
    slack.users["U9"] = {"real_name": "Ann Approver", "display_name": "ann"}
    home = HomeTab(client, store, s, clock=lambda: datetime.now(UTC), interval=0.1)
    session = await wrote_in(store, "threadline:slack:C1::1.1", "U2")
    for user in ("U1", "U2", "U9"):
        await home.opened(user)
    await slack.wait_for(lambda f: {"U1", "U2", "U9"} <= set(f.home_views))

    # asked: the asker's tab and the approver's show it at once
    asked = await approval_in(store, session, asked_by="U1", deciders="asker", channel="C1")
    home.approval_asked(asked)
    await slack.wait_for(lambda f: all("for U1" in shown(f.home_views[u]) for u in ("U1", "U9")))

    # a channel's approval that expires in a moment: gone from the tabs when it expires
    brief = await approval_in(
        store, session, asked_by="octocat", deciders="channel", channel="C1", ttl=1
    )
    home.approval_asked(brief)
    await slack.wait_for(lambda f: "for octocat" in shown(f.home_views["U9"]))
    home.changed("U2")  # U2 wrote in C1: their tab shows it once refreshed
    await slack.wait_for(lambda f: "for octocat" in shown(f.home_views["U2"]))
    await slack.wait_for(
        lambda f: not any("for octocat" in shown(f.home_views[u]) for u in ("U2", "U9")),
        timeout=6,
    )

    # decided by a click: off the asker's and the approver's tabs
    await store.decide_approval(asked.id, "approved", "U9")

    async def handle(_: Delivery) -> None:
        return None

    await home.after(handle)(
        delivery({"kind": CLICK_KIND, "user_id": "U9", "approval_id": asked.id})
    )
    await slack.wait_for(
        lambda f: not any("for U1" in shown(f.home_views[u]) for u in ("U1", "U9"))
    )
    await home.close()


async def test_an_approval_card_posted_in_a_turn_refreshes_a_watching_approvers_tab(
    tmp_path: Path,
) -> None:
    async with FakeSlack() as slack, FakeAnthropic() as claude, FakeGitHub() as github:
        slack.users.update({u: {"real_name": u, "display_name": u} for u in ("U1", "U7")})
        f = Fakes(slack, claude, github)
        async with start(f, f"sqlite:///{tmp_path / 'tl.db'}", APPROVERS="U7") as bot:
            await bot.send_event(home_opened("U7"))
            await slack.wait_for(lambda s: "U7" in s.home_views)
            assert "Waiting for your approval" not in shown(slack.home_views["U7"])
            root = await file_from_slack(bot, f)
            claude.script(
                Reply(text="I'll file it.", tool_calls=[issue_call("Logout broken")]),
                Reply(text="It is waiting for approval."),
            )
            hook = comment(1, "The logout button is broken too; please file an issue for it.")
            assert (await bot.post_raw("/webhooks/github", *hook)).status == 202
            await settled(bot)
            the_card(slack, "C1", root)  # the card is in the thread
            # a comment's turn: nobody in Slack wrote, yet the approver's open tab shows it
            await slack.wait_for(
                lambda s: "Waiting for your approval" in shown(s.home_views["U7"]), timeout=10
            )
        assert {c.params["user_id"] for c in slack.calls_to("views.publish")} == {"U7"}
