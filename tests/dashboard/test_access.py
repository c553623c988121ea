"""Who sees which conversation: the scope rule, and memberships asked of (fake) Slack."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from app.config import Settings
from app.dashboard.access import Memberships, Scope, scope_of, slack_channel
from app.dashboard.auth import Viewer
from app.dashboard.deps import DashboardDeps
from app.metrics import Metrics
from app.slack.events import BotIdentity
from tests.dashboard.conftest import StartDashboard
from tests.fakes.slack import FakeSlack
from tests.harness import dm

GRACE = Viewer("U2", "Grace", admin=False, team_id="T1")


# the rule -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "channel"),
    [
        ("threadline:slack:C01ABC::1763700000.000100", "C01ABC"),
        ("threadline:slack:D01XYZ::main", "D01XYZ"),
        ("threadline:github:acme/widgets#42", None),
        ("threadline:jira:AD-1", None),
        ("threadline:dashboard:5f0c", None),
        ("not a key", None),
        ("threadline:slack:::main", None),
        ("otherbot:slack:C01ABC::1763700000.000100", None),  # another bot's
        ("threadlinex:slack:C01ABC::1763700000.000100", None),
    ],
)
def test_the_channel_of_a_key(key: str, channel: str | None) -> None:
    assert slack_channel(key, "threadline") == channel


def test_a_conversation_is_visible_through_any_of_its_slack_keys() -> None:
    scope = Scope(False, frozenset({"C1", "D2"}), "threadline")
    assert scope.allows(["threadline:github:acme/w#1", "threadline:slack:C1::1.0"])
    assert scope.allows(["threadline:slack:D2::main"])
    assert not scope.allows(["threadline:slack:C9::1.0", "threadline:jira:AD-1"])
    assert not scope.allows(["threadline:github:acme/w#1"])  # no Slack key: admins only
    assert not scope.allows([])
    assert not scope.allows(["otherbot:slack:C1::1.0"])  # the channel, but another bot's
    assert Scope(True, frozenset(), "threadline").allows(["threadline:jira:AD-1"])


# memberships, asked of Slack ------------------------------------------------------------------
@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.set_members("C1", "U1", "U2")
        fake.set_members("C2", "U1")
        fake.set_members("G3", "U2", "U3")
        fake.dms["U2"] = "D2"
        yield fake


def deps_for(slack: FakeSlack, **env: str) -> DashboardDeps:
    settings = Settings.from_mapping(
        {
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": "s",
            "ANTHROPIC_API_KEY": "k",
            "SLACK_API_URL": slack.url,
            "DASHBOARD_TOKEN": "operator-token-0123456789",
            **env,
        }
    )
    return DashboardDeps(
        settings=settings,
        slack=AsyncWebClient(token="xoxb-test", base_url=slack.url),
        metrics=Metrics(),
        open_store=lambda: None,
        bot=lambda: BotIdentity("UBOT", "BBOT", "T1"),
        wake=lambda: None,
        clock=lambda: datetime.now(UTC),
    )


async def test_a_member_sees_their_channels_and_their_dm_with_the_bot(slack: FakeSlack) -> None:
    scope = await scope_of(deps_for(slack), GRACE)
    assert scope == Scope(False, frozenset({"C1", "G3", "D2"}), "threadline")
    asked = slack.calls_to("users.conversations")[0].params
    assert asked["user"] == "U2" and "private_channel" in asked["types"]
    assert slack.calls_to("conversations.open")[0].params["users"] == "U2"


async def test_admins_and_operators_see_everything_without_asking_slack(
    slack: FakeSlack,
) -> None:
    deps = deps_for(slack)
    assert (await scope_of(deps, Viewer(None, "Operator", True, None))).everything
    assert (await scope_of(deps, Viewer("U9", "Boss", True, "T1"))).everything
    assert slack.calls == []


async def test_memberships_are_cached_briefly_then_asked_again(slack: FakeSlack) -> None:
    deps = deps_for(slack)
    await scope_of(deps, GRACE)
    slack.set_members("C2", "U1", "U2")  # Grace joins C2
    assert "C2" not in (await scope_of(deps, GRACE)).channels  # cached
    assert len(slack.calls_to("users.conversations")) == 1
    short = Memberships(ttl=0.0)
    assert "C2" in await short.channels_of(deps.slack, "U2")


async def test_every_page_of_a_long_membership_is_read(slack: FakeSlack) -> None:
    for i in range(450):
        slack.set_members(f"C{1000 + i}", "U2")
    channels = await Memberships().channels_of(deps_for(slack).slack, "U2")
    assert len(channels) == 453  # 450 + C1, G3 and the DM
    assert len(slack.calls_to("users.conversations")) == 3


async def test_when_slack_cannot_say_the_answer_is_503_not_a_guess(slack: FakeSlack) -> None:
    slack.fail("users.conversations", status=500, times=None)
    with pytest.raises(web.HTTPServiceUnavailable):
        await Memberships().channels_of(deps_for(slack).slack, "U2")
    slack.clear_failures()
    slack.fail("users.conversations", status=200, error="ratelimited", times=None)
    with pytest.raises(web.HTTPServiceUnavailable):
        await Memberships().channels_of(deps_for(slack).slack, "U2")


async def test_a_person_without_a_dm_still_sees_their_channels(slack: FakeSlack) -> None:
    slack.fail("conversations.open", status=200, error="user_disabled")
    assert await Memberships().channels_of(deps_for(slack).slack, "U2") == {"C1", "G3"}
    slack.fail("conversations.open", status=503)
    with pytest.raises(web.HTTPServiceUnavailable):
        await Memberships().channels_of(deps_for(slack).slack, "U2")


async def test_a_person_slack_does_not_know_sees_nothing(slack: FakeSlack) -> None:
    slack.on("users.conversations", lambda params: {"ok": False, "error": "user_not_found"})
    assert await Memberships().channels_of(deps_for(slack).slack, "U404") == frozenset()


# in the browser -------------------------------------------------------------------------------
async def test_people_see_their_own_dm_with_the_bot_and_admins_see_every_dm(
    browser: Any,
    start_dashboard: StartDashboard,
    slack: FakeSlack,
    sign_in_with_slack: Callable[..., Awaitable[Any]],
) -> None:
    slack.users["U2"] = {"real_name": "Grace Hopper", "display_name": "grace"}
    slack.users["U1"] = {"real_name": "Ada Lovelace", "display_name": "ada"}
    slack.dms["U1"] = "D1"
    async with start_dashboard({"DASHBOARD_ADMINS": "U9"}) as running:
        assert await running.send_event(dm("grace asks alone", channel="D2", user="U2")) == 200
        assert await running.send_event(dm("ada asks alone", channel="D1", user="U1")) == 200
        await running.idle()

        async def listed_for(user_id: str) -> str:
            context = await browser.new_context(base_url=running.url)
            try:
                page = await sign_in_with_slack(await context.new_page(), user_id)
                await page.goto("/dashboard/")
                text: str = await page.locator("main").inner_text()
                return text
            finally:
                await context.close()

        grace = await listed_for("U2")
        assert "threadline:slack:D2::main" in grace
        assert "D1::" not in grace
        admin = await listed_for("U9")
        assert "threadline:slack:D2::main" in admin and "threadline:slack:D1::main" in admin
