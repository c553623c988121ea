"""Actions on a conversation's page, in a real browser: reset, unlink a key, erase a person,
decide an approval; each recorded in the conversation's event log with who did it, each
refused without its form's CSRF token (403, not a redirect)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.fakes.anthropic import FakeAnthropic, Reply, ToolCall
from tests.fakes.github import FakeGitHub
from tests.fakes.slack import FakeSlack
from tests.harness import Running, mention, new_ts, replies

SignInWithSlack = Callable[..., Awaitable[Any]]


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


async def file_an_issue(bot: Running, slack: FakeSlack, claude: FakeAnthropic) -> str:
    claude.script(
        Reply(
            text="Filing it.",
            tool_calls=[
                ToolCall(
                    "create_github_issue",
                    {"repo": "acme/widgets", "title": "Crash", "body": "It crashes."},
                )
            ],
        ),
        Reply(text="Filed it."),
    )
    root = new_ts()
    await bot.send_event(mention("it crashes, file an issue", ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) >= 1)
    await bot.idle()
    return root


async def open_conversation(page: Any, bot: Running, root: str) -> str:
    session = await bot.store.resolve(f"threadline:slack:C1::{root}")
    assert session is not None
    await page.goto(f"/dashboard/sessions/{session.id}")
    return session.id


async def event_log(page: Any) -> str:
    text: str = await page.locator(".timeline").inner_text()
    return text


async def test_unlink_a_key_then_reset_the_conversation(
    dashboard: Running, signed_in_page: Any, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    page = signed_in_page
    root = await file_an_issue(dashboard, slack, claude)
    session_id = await open_conversation(page, dashboard, root)
    issue_key = "threadline:github:acme/widgets#1"

    await page.get_by_role("button", name=f"Unlink {issue_key}").click()
    await page.wait_for_load_state()
    assert "The key was unlinked" in await page.get_by_role("status").first.inner_text()
    assert await dashboard.store.session_for_key(issue_key) is None
    assert issue_key not in await page.locator(".keys-list").first.inner_text()
    assert issue_key in (await page.locator(".past-keys").text_content() or "")
    assert "unlinked from the dashboard by Operator (token)" in await event_log(page)

    await page.get_by_role("button", name="Reset the conversation").click()
    await page.wait_for_load_state()
    assert "The conversation was reset" in await page.get_by_role("status").first.inner_text()
    assert "reset from the dashboard by Operator (token)" in await event_log(page)
    ended = await dashboard.store.get_session(session_id)
    assert ended is not None and ended.status == "reset"
    # the page stays readable, without the actions of a live conversation
    assert "it crashes, file an issue" in await page.locator("#transcript").inner_text()
    assert await page.get_by_role("button", name="Reset the conversation").count() == 0
    assert await page.get_by_label("Message to threadline in this conversation").count() == 0
    # the thread's next message starts a new conversation
    await dashboard.send_event(mention("hello again", thread_ts=root))
    await slack.wait_for(lambda s: len(replies(s, "C1", root)) >= 2)
    await dashboard.idle()
    fresh = await dashboard.store.resolve(f"threadline:slack:C1::{root}")
    assert fresh is not None and fresh.id != session_id


async def test_a_form_without_its_csrf_token_is_refused(
    dashboard: Running, signed_in_page: Any, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    page = signed_in_page
    root = await file_an_issue(dashboard, slack, claude)
    session_id = await open_conversation(page, dashboard, root)
    for fields in ({}, {"csrf_token": "forged"}):
        answer = await page.request.post(
            f"/dashboard/sessions/{session_id}/reset", form=fields, max_redirects=0
        )
        assert answer.status == 403
    still = await dashboard.store.get_session(session_id)
    assert still is not None and still.status == "active"
    # an unknown conversation is not found, whatever the form
    answer = await page.request.post(
        "/dashboard/sessions/00000000-0000-4000-8000-000000000000/reset", form={}
    )
    assert answer.status == 404


async def test_an_operator_erases_a_person_everywhere(
    dashboard: Running, signed_in_page: Any, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    page = signed_in_page
    root = await file_an_issue(dashboard, slack, claude)
    await open_conversation(page, dashboard, root)
    await page.get_by_label("Person", exact=True).select_option("slack|U1")
    await page.get_by_role("button", name="Erase their messages").click()
    await page.wait_for_load_state()
    assert "erased from every conversation" in await page.get_by_role("status").first.inner_text()
    transcript = await page.locator("#transcript").inner_text()
    assert "it crashes, file an issue" not in transcript
    assert "[removed]" in transcript
    assert "erased from the dashboard by Operator (token)" in await event_log(page)


async def test_the_asker_approves_from_the_dashboard(
    start_dashboard: Any,
    page: Any,
    slack: FakeSlack,
    claude: FakeAnthropic,
    github: FakeGitHub,
    sign_in_with_slack: SignInWithSlack,
) -> None:
    slack.set_members("C1", "U1")
    async with start_dashboard({"TOOL_APPROVAL": "always"}) as bot:
        claude.script(
            Reply(
                text="I'll file it once approved.",
                tool_calls=[
                    ToolCall(
                        "create_github_issue",
                        {"repo": "acme/widgets", "title": "Crash", "body": "It crashes."},
                    )
                ],
            ),
            Reply(text="Waiting for approval."),
        )
        root = new_ts()
        await bot.send_event(mention("it crashes, file an issue", ts=root))
        await bot.idle()
        assert github.issues == {}
        await sign_in_with_slack(page, "U1", name="Ada Lovelace")
        session = await bot.store.resolve(f"threadline:slack:C1::{root}")
        assert session is not None
        await page.goto(f"/dashboard/sessions/{session.id}")
        approval = page.locator(".approval")
        assert "pending" in await approval.inner_text()
        claude.script(Reply(text="Filed it as acme/widgets#1."))
        await approval.get_by_role("button", name="Approve").click()
        await page.wait_for_load_state()
        assert "Your decision was sent" in await page.get_by_role("status").first.inner_text()
        await bot.idle()
        assert ("acme/widgets", 1) in github.issues
        [decided] = await bot.store.approvals_of_session(session.id)
        assert (decided.status, decided.decided_by) == ("approved", "U1")
        await slack.wait_for(
            lambda s: any("Filed it as acme/widgets#1." in t for t in replies(s, "C1", root))
        )
        await page.reload()
        assert "approved" in await page.locator(".approval").inner_text()
        log = await page.locator(".timeline").inner_text()
        assert "approved from the dashboard by Ada Lovelace (U1)" in log
