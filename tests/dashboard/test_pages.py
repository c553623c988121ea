"""The dashboard's pages in a real browser: the list and its search, a conversation's page
with the transcript of a real Slack conversation (a tool call, its result, usage and cost),
and who sees what by list, search and URL.

Screenshots of the list and a conversation page are written to ``docs/screenshots/`` when
``UPDATE_SCREENSHOTS=1`` (the README shows those), and to the test's temporary directory
otherwise.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.conftest import sign_in_with_token
from tests.fakes.anthropic import FakeAnthropic, Reply, ToolCall
from tests.fakes.dispatch import FakeDispatch
from tests.fakes.github import FakeGitHub
from tests.fakes.slack import FakeSlack
from tests.harness import Running, mention, new_ts, replies

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SignInWithSlack = Callable[..., Awaitable[Any]]


@pytest.fixture
async def github() -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub(repos=["acme/widgets"]) as fake:
        yield fake


@pytest.fixture
async def dispatch() -> AsyncIterator[FakeDispatch]:
    async with FakeDispatch() as fake:
        yield fake


@pytest.fixture
def dashboard_env(
    dashboard_env: dict[str, str], github: FakeGitHub, dispatch: FakeDispatch
) -> dict[str, str]:  # the conftest's, with GitHub and background jobs on: real tool calls
    return {
        **dashboard_env,
        "GITHUB_TOKEN": github.token,
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOS": "acme/widgets",
        "JOBS_RUNNER": "callback",
        "JOBS_DISPATCH_URL": dispatch.url,
    }


def shot_path(name: str, tmp_path: Path) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS / name
    return tmp_path / name


async def talk(
    bot: Running, slack: FakeSlack, text: str, *, channel: str = "C1", user: str = "U1"
) -> str:
    """A conversation started by a mention in ``channel``; returns its thread."""
    root = new_ts()
    await bot.send_event(mention(text, channel=channel, user=user, ts=root))
    await slack.wait_for(lambda s: len(replies(s, channel, root)) >= 1)
    await bot.idle()
    return root


async def file_an_issue(bot: Running, slack: FakeSlack, claude: FakeAnthropic) -> str:
    claude.script(
        Reply(
            text="Filing it.",
            tool_calls=[
                ToolCall(
                    "create_github_issue",
                    {"repo": "acme/widgets", "title": "Login broken", "body": "Steps: log in."},
                )
            ],
        ),
        Reply(text="Filed it as acme/widgets#1."),
    )
    return await talk(bot, slack, "the login page 500s, please file an issue")


async def test_the_transcript_of_a_slack_conversation_with_its_tool_call(
    dashboard: Running,
    signed_in_page: Any,
    slack: FakeSlack,
    claude: FakeAnthropic,
    github: FakeGitHub,
    tmp_path: Path,
) -> None:
    page = signed_in_page
    root = await file_an_issue(dashboard, slack, claude)
    await talk(dashboard, slack, "a second conversation, about the deploy")
    key = f"threadline:slack:C1::{root}"

    await page.goto("/dashboard/")
    rows = page.locator(".session-row")
    assert await rows.count() == 2
    # newest activity first; each row shows its key, so the channel id is visible
    assert "the deploy" not in await rows.nth(1).inner_text()
    assert key in await rows.nth(1).inner_text()
    assert "2 conversations" in await page.locator(".count").inner_text()
    await page.screenshot(path=str(shot_path("dashboard-list.png", tmp_path)), full_page=True)

    await page.get_by_role("link", name=re.compile(re.escape(key))).click()
    await page.wait_for_load_state()
    session = await dashboard.store.resolve(key)
    assert session is not None
    assert page.url.endswith(f"/dashboard/sessions/{session.id}")
    transcript = page.locator("#transcript")
    first = transcript.locator(".entry").first
    assert await first.locator(".author").inner_text() == "ada"
    assert "via Slack" in await first.inner_text()
    assert "the login page 500s" in await first.locator(".text").first.inner_text()
    # the tool call and its result, collapsed
    call = transcript.locator("details.tool", has_text="Tool call")
    assert await call.count() == 1
    assert await call.get_attribute("open") is None
    assert "create_github_issue" in await call.locator("summary").inner_text()
    await call.locator("summary").click()
    assert '"title": "Login broken"' in await call.locator("pre").inner_text()
    result = transcript.locator("details.tool", has_text="Tool result")
    await result.locator("summary").click()
    issue = github.issues[("acme/widgets", 1)]
    assert issue["html_url"] in await result.locator("pre").inner_text()
    assert "Filed it as acme/widgets#1." in await transcript.inner_text()
    # linked places with links out: the GitHub issue filed
    link = page.locator(".keys-list a", has_text="acme/widgets#1")
    assert await link.get_attribute("href") == issue["html_url"]
    # status, times in the viewer's zone (the script rewrote them), resume count, audience
    about = await page.locator(".facts").inner_text()
    assert "active" in about and "internal" in about and "never" in about
    stamp = page.locator(".facts time").first
    assert re.match(r"\d{4}-\d\d-\d\dT", await stamp.get_attribute("datetime") or "")
    assert not (await stamp.inner_text()).endswith("UTC")
    # usage per turn and in total, with an estimate of the cost
    usage = page.locator("table.usage")
    assert await usage.locator("tbody tr").count() == 1
    assert "Total (1 turns)" in await usage.locator("tfoot").inner_text()
    assert re.search(r"about \$\d", await page.locator(".total-cost").inner_text())
    # the event log
    events = await page.locator(".timeline").inner_text()
    assert "created" in events and "key linked" in events
    await page.screenshot(path=str(shot_path("dashboard-session.png", tmp_path)), full_page=True)


async def test_a_background_job_with_its_outcome(
    dashboard: Running,
    signed_in_page: Any,
    slack: FakeSlack,
    claude: FakeAnthropic,
    dispatch: FakeDispatch,
) -> None:
    page = signed_in_page
    claude.script(
        Reply(
            text="Starting it.",
            tool_calls=[
                ToolCall(
                    "start_background_job",
                    {
                        "title": "Refactor the parser",
                        "instructions": "Split parse() in two; open a PR.",
                        "repo": "acme/widgets",
                    },
                )
            ],
        ),
        Reply(text="It runs."),
    )
    root = await talk(dashboard, slack, "please refactor the parser")
    (sent,) = await dispatch.wait_for_dispatches(1)
    claude.script(Reply(text="Done: the PR is up."))
    pr = "https://github.com/acme/widgets/pull/7"
    status, _ = await dispatch.report(sent, summary="Opened the PR.", links=[pr])
    assert status == 200
    await slack.wait_for(lambda s: "Done: the PR is up." in replies(s, "C1", root))
    await dashboard.idle()
    session = await dashboard.store.resolve(f"threadline:slack:C1::{root}")
    assert session is not None
    await page.goto(f"/dashboard/sessions/{session.id}")
    job = page.locator(".job")
    assert "succeeded" in await job.inner_text()
    assert "Refactor the parser" in await job.inner_text()
    assert await job.get_by_role("link", name=pr).get_attribute("href") == pr
    await job.locator("summary", has_text="Outcome").click()
    assert "Opened the PR." in await job.locator("pre").inner_text()
    assert "Done: the PR is up." in await page.locator("#transcript").inner_text()


async def test_the_pages_read_without_javascript(
    browser: Any, dashboard: Running, slack: FakeSlack
) -> None:
    await talk(dashboard, slack, "plain HTML please")
    context = await browser.new_context(base_url=dashboard.url, java_script_enabled=False)
    try:
        page = await sign_in_with_token(await context.new_page())
        await page.goto("/dashboard/")
        await page.locator(".row-link").first.click()
        await page.wait_for_load_state()
        assert "plain HTML please" in await page.locator("#transcript").inner_text()
        # without the script, times are shown in UTC, and say so
        assert (await page.locator(".facts time").first.inner_text()).endswith("UTC")
    finally:
        await context.close()


async def test_search_by_key_platform_status_participant_and_text(
    dashboard: Running, signed_in_page: Any, slack: FakeSlack
) -> None:
    page = signed_in_page
    slack.users["U2"] = {"real_name": "Grace Hopper", "display_name": "grace"}
    await talk(dashboard, slack, "the frobnicator is broken")
    shipped = await talk(dashboard, slack, "ship the release", channel="C2", user="U2")

    async def search(**fields: str) -> str:
        await page.goto("/dashboard/")
        box = page.get_by_role("searchbox", name="Search")
        assert await box.get_attribute("type") == "search"
        await box.fill(fields.get("q", ""))
        if "status" in fields:
            await page.get_by_label("Status").select_option(fields["status"])
        if "platform" in fields:
            await page.get_by_label("Platform").select_option(fields["platform"])
        await page.get_by_role("button", name="Search").click()
        await page.wait_for_load_state()
        return await page.locator("main").inner_text()

    found = await search(q="FROBNICATOR")
    assert "1 conversation matches" in found and "threadline:slack:C1::" in found
    found = await search(q="C2::")
    assert "1 conversation matches" in found and "threadline:slack:C2::" in found
    found = await search(q="grace")
    assert "threadline:slack:C2::" in found and "threadline:slack:C1::" not in found
    found = await search(platform="slack")
    assert "2 conversations match" in found
    found = await search(platform="jira")
    assert "0 conversations match" in found and "Nothing matches" in found
    found = await search(q="ship", status="reset")
    assert "0 conversations match" in found
    # an ended conversation is found by its status, and still shows the key it held
    ended = await dashboard.store.resolve(f"threadline:slack:C2::{shipped}")
    assert ended is not None
    await dashboard.store.end_session(ended.id, "reset", cause="test")
    found = await search(q="ship", status="reset")
    assert "1 conversation matches" in found
    assert f"threadline:slack:C2::{shipped}" in found and "no keys held" not in found
    found = await search(status="active")
    assert "1 conversation matches" in found and "threadline:slack:C1::" in found
    # the search is kept in the box, escaped as text
    await search(q='<script>alert("x")</script>')
    assert (
        await page.get_by_role("searchbox", name="Search").input_value()
        == '<script>alert("x")</script>'
    )


async def test_a_member_sees_their_channels_conversations_and_no_others(
    page: Any,
    dashboard: Running,
    slack: FakeSlack,
    sign_in_with_slack: SignInWithSlack,
) -> None:
    slack.users["U2"] = {"real_name": "Grace Hopper", "display_name": "grace"}
    slack.set_members("C1", "U1", "U2")
    slack.set_members("C2", "U1")
    ours = await talk(dashboard, slack, "the team's own plans")
    theirs = await talk(dashboard, slack, "the secret plans", channel="C2")
    hidden = await dashboard.store.resolve(f"threadline:slack:C2::{theirs}")
    assert hidden is not None

    await sign_in_with_slack(page, "U2", name="Grace Hopper")
    await page.goto("/dashboard/")
    listed = await page.locator("main").inner_text()
    assert f"threadline:slack:C1::{ours}" in listed
    assert "C2::" not in listed
    assert "1 conversation in your channels and DMs" in listed
    # not by search either, by text or by its key
    for query in ("secret", "C2", hidden.id):
        await page.goto(f"/dashboard/?q={query}")
        assert "0 conversations match" in await page.locator(".count").inner_text()
    # and its page is not found, exactly like a page that does not exist
    answer = await page.goto(f"/dashboard/sessions/{hidden.id}")
    assert answer.status == 404
    forbidden = await answer.text()
    missing = await page.goto("/dashboard/sessions/00000000-0000-4000-8000-000000000000")
    assert missing.status == 404
    assert forbidden == await missing.text()
    events = await page.goto(f"/dashboard/sessions/{hidden.id}/events")
    assert events.status == 404
    # their own conversation opens
    mine = await dashboard.store.resolve(f"threadline:slack:C1::{ours}")
    assert mine is not None
    opened = await page.goto(f"/dashboard/sessions/{mine.id}")
    assert opened.status == 200
    assert "the team's own plans" in await page.locator("#transcript").inner_text()


@pytest.mark.postgres
async def test_the_list_search_and_a_page_on_postgresql(
    start_dashboard: Any,
    browser: Any,
    slack: FakeSlack,
    claude: FakeAnthropic,
    postgres_url: str,
) -> None:
    async with start_dashboard({"DATABASE_URL": postgres_url}) as bot:
        root = await file_an_issue(bot, slack, claude)
        await talk(bot, slack, "something else entirely", channel="C2")
        context = await browser.new_context(base_url=bot.url)
        try:
            page = await sign_in_with_token(await context.new_page())
            await page.goto("/dashboard/?q=login+page")
            assert "1 conversation matches" in await page.locator(".count").inner_text()
            await page.locator(".row-link").first.click()
            await page.wait_for_load_state()
            assert f"threadline:slack:C1::{root}" in await page.locator("h1").inner_text()
            assert "create_github_issue" in await page.locator("#transcript").inner_text()
        finally:
            await context.close()
