"""The dashboard keeps the bot's rules, over plain HTTP as a browser sends it: approvals and
limits as in Slack, only this bot's conversations when bots share a database, unlinking only
what one may see, live streams per person, and the name Slack's userInfo gives."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from app.dashboard.live import MAX_STREAMS_PER_VIEWER
from tests.dashboard.conftest import TOKEN, StartDashboard
from tests.dashboard.test_pages_http import read_events
from tests.fakes.anthropic import FakeAnthropic, Reply, ToolCall
from tests.fakes.github import FakeGitHub
from tests.fakes.slack import FakeSlack
from tests.harness import Running, mention, new_ts, replies

NONCE = "n" * 24


@pytest.fixture
async def github() -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub(repos=["acme/widgets"]) as fake:
        yield fake


@pytest.fixture
def dashboard_env(dashboard_env: dict[str, str], github: FakeGitHub) -> dict[str, str]:
    return {
        **dashboard_env,
        "GITHUB_TOKEN": github.token,
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOS": "acme/widgets",
    }


@asynccontextmanager
async def as_operator(bot: Running) -> AsyncIterator[aiohttp.ClientSession]:
    """A client signed in with the operator token, as the sign-in form does it."""
    async with aiohttp.ClientSession(
        base_url=bot.url, cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as http:
        csrf = await csrf_of(http, "/dashboard/signin")
        form = {"csrf_token": csrf, "token": TOKEN, "next": "/dashboard/"}
        async with http.post("/dashboard/signin", data=form, allow_redirects=False) as done:
            assert done.status == 303
        yield http


@asynccontextmanager
async def as_slack_person(
    bot: Running, slack: FakeSlack, user_id: str, name: str = "Someone"
) -> AsyncIterator[aiohttp.ClientSession]:
    """A client signed in with Slack as ``user_id``: off to the fake's authorize page and back."""
    slack.oidc.sign_in_as(user_id, name=name)
    async with aiohttp.ClientSession(
        base_url=bot.url, cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as http:
        async with http.get("/dashboard/signin/slack") as done:
            assert (done.status, done.url.path) == (200, "/dashboard/")
        yield http


async def csrf_of(http: aiohttp.ClientSession, path: str) -> str:
    async with http.get(path) as page:
        found = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert found is not None
    return found[1]


async def post(http: aiohttp.ClientSession, path: str, **fields: str) -> int:
    """POST a form with the session's CSRF token; the answer's status."""
    data = {"csrf_token": await csrf_of(http, "/dashboard/"), **fields}
    async with http.post(path, data=data, allow_redirects=False) as answer:
        return answer.status


async def header_of(http: aiohttp.ClientSession) -> str:
    async with http.get("/dashboard/") as page:
        text = await page.text()
    found = re.search(r"<header.*?</header>", text, re.S)
    assert found is not None
    return found[0]


async def thread(bot: Running, slack: FakeSlack, text: str, user: str = "U1") -> tuple[str, str]:
    """A conversation started by ``user`` in C1: its thread and its session id."""
    root = new_ts()
    await bot.send_event(mention(text, user=user, ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) >= 1)
    await bot.idle()
    session = await bot.store.resolve(f"threadline:slack:C1::{root}")
    assert session is not None
    return root, session.id


# approvals: Slack's rules, ALLOWED_USERS included --------------------------------------------
async def test_a_decision_counts_only_from_someone_slack_would_let_click(
    start_dashboard: StartDashboard,
    slack: FakeSlack,
    claude: FakeAnthropic,
    github: FakeGitHub,
) -> None:
    slack.set_members("C1", "U1", "U2", "U3")
    env = {"TOOL_APPROVAL": "always", "ALLOWED_USERS": "U1", "APPROVERS": "U3"}
    async with start_dashboard(env) as bot:
        root, session_id = await thread(bot, slack, "the login page 500s")
        page = f"/dashboard/sessions/{session_id}"
        # Written on the dashboard, the request's approval may be decided by any member of the
        # thread's channel: Grace (U2) is one, but ALLOWED_USERS leaves her out.
        claude.script(
            Reply(
                text="I'll file it once approved.",
                tool_calls=[
                    ToolCall(
                        "create_github_issue",
                        {"repo": "acme/widgets", "title": "Login 500s", "body": "Steps."},
                    )
                ],
            ),
            Reply(text="Waiting for approval."),
        )
        async with as_operator(bot) as operator:
            assert await post(operator, f"{page}/reply", text="file it", nonce=NONCE) == 303
        await bot.idle()
        [approval] = await bot.store.approvals_of_session(session_id)
        assert (approval.status, approval.deciders) == ("pending", "channel")
        decide = f"{page}/approvals/{approval.id}"

        async with as_slack_person(bot, slack, "U2", "Grace Hopper") as grace:
            async with grace.get(page) as shown:
                text = await shown.text()
            assert "Only the people this bot answers" in text and ">Approve<" not in text
            assert await post(grace, decide, decision="approved") == 403
        await bot.idle()
        assert (await bot.store.approvals_of_session(session_id))[0].status == "pending"
        assert await bot.store.pending_count(f"threadline:slack:C1::{root}") == 0
        assert github.issues == {}

        # an approver decides whatever ALLOWED_USERS says, as on the card
        claude.script(Reply(text="Not filed, then."))
        async with as_slack_person(bot, slack, "U3", "Linus") as approver:
            assert await post(approver, decide, decision="declined") == 303
        await bot.idle()
        [decided] = await bot.store.approvals_of_session(session_id)
        assert (decided.status, decided.decided_by) == ("declined", "U3")
        assert github.issues == {}


# limits: a dashboard reply counts as a Slack message ------------------------------------------
async def test_dashboard_replies_count_against_the_person_and_the_channel(
    start_dashboard: StartDashboard, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    slack.set_members("C1", "U1", "U2")
    env = {"USER_TURNS_PER_HOUR": "1", "CHANNEL_TURNS_PER_HOUR": "2"}
    async with start_dashboard(env) as bot:
        _, session_id = await thread(bot, slack, "what is our deploy window?")  # U1: 1, C1: 1
        page = f"/dashboard/sessions/{session_id}"
        asked = len(claude.requests)

        async with (
            as_slack_person(bot, slack, "U1", "Ada Lovelace") as ada,
            ada.get(f"{page}/events") as stream,
        ):
            assert await post(ada, f"{page}/reply", text="and today?", nonce=NONCE) == 303
            events = await read_events(stream, "note")
        assert "You've reached 1 message an hour" in events[-1]["data"]
        await bot.idle()
        assert len(claude.requests) == asked  # refused before any model call

        # an operator is nobody's hourly turns, but the conversation's channel counts them
        async with as_operator(bot) as operator:
            assert await post(operator, f"{page}/reply", text="and today?", nonce="o" * 24) == 303
        await bot.idle()
        assert len(claude.requests) == asked + 1  # C1: 2

        other = new_ts()
        await bot.send_event(mention("a new question", user="U2", ts=other))
        await slack.wait_for(lambda s: len(replies(s, "C1", other)) >= 1)
        await bot.idle()
        assert "This channel has reached 2 messages an hour" in replies(slack, "C1", other)[0]
        assert len(claude.requests) == asked + 1


# bots sharing one database --------------------------------------------------------------------
async def test_another_bots_conversations_are_nobodys_here(
    dashboard: Running, slack: FakeSlack
) -> None:
    slack.set_members("C1", "U1")
    _, ours = await thread(dashboard, slack, "the deploy is stuck")
    theirs = await dashboard.store.create_session("otherbot")
    await dashboard.store.register_key("otherbot:slack:C1::1763700000.000100", theirs.id)
    async with as_operator(dashboard) as operator:
        for path in (f"/dashboard/sessions/{theirs.id}", f"/dashboard/sessions/{theirs.id}/events"):
            async with operator.get(path) as answer:
                assert answer.status == 404
        for query in ("", f"?q={theirs.id}", "?q=otherbot", "?platform=slack"):
            async with operator.get(f"/dashboard/{query}") as answer:
                listed = await answer.text()
            assert f"/sessions/{theirs.id}" not in listed
            assert "otherbot:slack:" not in listed
            assert query in ("", "?platform=slack") or "0 conversations match" in listed
        async with operator.get("/dashboard/?platform=slack") as answer:
            assert ours in await answer.text()
        # a form of one of ours, posted to theirs
        csrf = await csrf_of(operator, f"/dashboard/sessions/{ours}")
        reset = f"/dashboard/sessions/{theirs.id}/reset"
        async with operator.post(reset, data={"csrf_token": csrf}, allow_redirects=False) as r:
            assert r.status == 404
    assert (await dashboard.store.get_session(theirs.id)).status == "active"  # type: ignore[union-attr]
    async with as_slack_person(dashboard, slack, "U1") as member:  # a member of C1
        async with member.get(f"/dashboard/sessions/{theirs.id}") as answer:
            assert answer.status == 404
        async with member.get("/dashboard/") as answer:
            assert f"/sessions/{theirs.id}" not in await answer.text()


# the list ---------------------------------------------------------------------------------------
async def test_an_ended_conversation_is_listed_with_its_place(
    dashboard: Running, slack: FakeSlack
) -> None:
    root, session_id = await thread(dashboard, slack, "a short one")
    await dashboard.store.end_session(session_id, "reset", cause="test")
    async with (
        as_operator(dashboard) as operator,
        operator.get("/dashboard/?status=reset") as answer,
    ):
        listed = await answer.text()
    assert "1 conversation matches" in listed
    assert f"threadline:slack:C1::{root}" in listed and "no keys held" not in listed


# unlinking ------------------------------------------------------------------------------------
async def test_a_member_unlinks_only_the_keys_of_their_channels(
    dashboard: Running, slack: FakeSlack
) -> None:
    slack.set_members("C1", "U1", "U2")
    root, session_id = await thread(dashboard, slack, "file this in Jira later")
    await dashboard.store.register_key("threadline:jira:AD-7", session_id)
    page = f"/dashboard/sessions/{session_id}"
    async with as_slack_person(dashboard, slack, "U2", "Grace Hopper") as grace:
        async with grace.get(page) as shown:
            text = await shown.text()
        assert 'aria-label="Unlink threadline:slack:C1::' in text
        assert 'aria-label="Unlink threadline:jira:AD-7"' not in text
        assert await post(grace, f"{page}/unlink", key="threadline:jira:AD-7") == 403
        assert await dashboard.store.session_for_key("threadline:jira:AD-7") is not None
        slack_key = f"threadline:slack:C1::{root}"
        assert await post(grace, f"{page}/unlink", key=slack_key) == 303
        assert await dashboard.store.session_for_key(slack_key) is None
    async with as_operator(dashboard) as operator:
        assert await post(operator, f"{page}/unlink", key="threadline:jira:AD-7") == 303
    assert await dashboard.store.session_for_key("threadline:jira:AD-7") is None


# live streams ---------------------------------------------------------------------------------
async def test_one_person_cannot_hold_every_live_stream(
    dashboard: Running, slack: FakeSlack
) -> None:
    slack.set_members("C1", "U1")
    _, session_id = await thread(dashboard, slack, "watch this")
    events = f"/dashboard/sessions/{session_id}/events"
    async with as_slack_person(dashboard, slack, "U1") as ada:
        streams = [await ada.get(events) for _ in range(MAX_STREAMS_PER_VIEWER)]
        try:
            assert [s.status for s in streams] == [200] * MAX_STREAMS_PER_VIEWER
            async with ada.get(events) as refused:
                assert refused.status == 429
                assert refused.headers["Retry-After"] == "30"
            async with as_operator(dashboard) as operator, operator.get(events) as theirs:
                assert theirs.status == 200  # someone else still gets one
        finally:
            for stream in streams:
                stream.close()


# the name shown -------------------------------------------------------------------------------
async def test_the_name_shown_is_the_one_slacks_userinfo_gives(
    dashboard: Running, slack: FakeSlack
) -> None:
    slack.oidc.user_info_override = {"name": "Ada King"}
    async with as_slack_person(dashboard, slack, "U1", "Ada Lovelace") as ada:
        assert "Ada King" in await header_of(ada)
    [token] = slack.oidc.user_info_requests
    assert token.startswith("xoxp-")  # the access token openid.connect.token handed out


@pytest.mark.parametrize(
    "trouble",
    [
        {"user_info_failure": (500, "internal_error")},
        {"user_info_failure": (429, "ratelimited")},
        {"user_info_failure": (200, "invalid_auth")},
        # an answer about someone else is not about this person
        {"user_info_override": {"sub": "U9", "https://slack.com/user_id": "U9", "name": "Eve"}},
    ],
)
async def test_without_userinfo_the_id_tokens_name_is_shown(
    dashboard: Running, slack: FakeSlack, trouble: dict[str, Any]
) -> None:
    for field, value in trouble.items():
        setattr(slack.oidc, field, value)
    async with as_slack_person(dashboard, slack, "U1", "Ada Lovelace") as ada:
        header = await header_of(ada)
    assert "Ada Lovelace" in header and "Eve" not in header
    assert len(slack.oidc.user_info_requests) == 1
