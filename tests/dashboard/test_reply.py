"""The reply box in a real browser: a message written on a conversation's page runs a turn
like any other, its answer streams into the page (Server-Sent Events) while it is written,
and the conversation's Slack thread gets a one-line notice with a link to the page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.fakes.anthropic import FakeAnthropic, Hang, Reply, ToolCall
from tests.fakes.slack import FakeSlack
from tests.harness import Running, mention, new_ts, replies

SignInWithSlack = Callable[..., Awaitable[Any]]
REPLY_BOX = "Message to threadline in this conversation"


async def start_thread(bot: Running, slack: FakeSlack, text: str, channel: str = "C1") -> str:
    root = new_ts()
    await bot.send_event(mention(text, channel=channel, ts=root))
    await slack.wait_for(lambda s: len(replies(s, channel, root)) >= 1)
    await bot.idle()
    return root


async def test_a_reply_from_the_dashboard_streams_into_the_page_and_slack_hears_of_it(
    dashboard: Running,
    page: Any,
    slack: FakeSlack,
    claude: FakeAnthropic,
    sign_in_with_slack: SignInWithSlack,
) -> None:
    slack.set_members("C1", "U1")
    root = await start_thread(dashboard, slack, "what is our deploy window?")
    session = await dashboard.store.resolve(f"threadline:slack:C1::{root}")
    assert session is not None
    await sign_in_with_slack(page, "U1", name="Ada Lovelace")
    await page.goto(f"/dashboard/sessions/{session.id}")
    claude.script(Hang(1, then=Reply(text="Thursdays after the standup.")))
    await page.get_by_label(REPLY_BOX).fill("and which day is it?")
    await page.get_by_role("button", name="Send").click()
    await page.wait_for_load_state()
    assert "Your message is on its way" in await page.get_by_role("status").first.inner_text()
    # the message, by the signed-in person, lands first; then the answer, without a reload
    transcript = page.locator("#transcript")
    await transcript.locator(".entry", has_text="and which day is it?").wait_for()
    await transcript.locator(".entry", has_text="Thursdays after the standup.").wait_for()
    mine = transcript.locator(".entry-user", has_text="and which day is it?")
    assert "Ada Lovelace" in await mine.locator(".author").inner_text()
    assert "via Dashboard" in await mine.inner_text()
    assert await page.locator("#live").is_hidden()
    await dashboard.idle()
    # the turn ran on the conversation's own session, with its history
    assert (await dashboard.store.resolve(f"threadline:slack:C1::{root}")) == (
        await dashboard.store.resolve(f"threadline:dashboard:{session.id}")
    )
    asked = claude.requests[-1]
    assert "what is our deploy window?" in str(asked["messages"])
    assert "[Ada Lovelace (U1) in the dashboard]" in str(asked["messages"])
    # the Slack thread gets a one-line notice with a link to the page, not the answer
    url = f"{dashboard.url}/dashboard/sessions/{session.id}"
    await slack.wait_for(lambda s: any(url in t for t in replies(s, "C1", root)))
    notice = next(t for t in replies(slack, "C1", root) if url in t)
    assert "\n" not in notice and "Thursdays" not in notice
    assert "Ada Lovelace" in notice


async def test_the_answer_is_shown_while_it_is_written(
    dashboard: Running, signed_in_page: Any, slack: FakeSlack, claude: FakeAnthropic
) -> None:
    page = signed_in_page
    root = await start_thread(dashboard, slack, "tell me a long story")
    session = await dashboard.store.resolve(f"threadline:slack:C1::{root}")
    assert session is not None
    await page.goto(f"/dashboard/sessions/{session.id}")
    # a first round of the answer, a tool step, then a pause: the page shows what is written
    claude.script(
        Reply(text="Once upon a time, ", tool_calls=[ToolCall("look_it_up", {"what": "story"})]),
        Hang(4, then=Reply(text="the end.")),
    )
    await page.get_by_label(REPLY_BOX).fill("go on")
    await page.get_by_role("button", name="Send").click()
    live = page.locator("#live")
    await live.wait_for(state="visible")
    await page.wait_for_function(
        "document.querySelector('#live .text').textContent.includes('Once upon a time')"
    )
    assert "look_it_up" in await live.locator(".steps").inner_text()
    assert "Once upon a time" not in await page.locator("#transcript").inner_text()
    await page.locator("#transcript .entry", has_text="the end.").wait_for()
    await live.wait_for(state="hidden")
    assert await page.locator("#state").get_attribute("data-running") == "false"


async def test_an_ended_conversation_takes_no_reply(
    dashboard: Running, signed_in_page: Any, slack: FakeSlack
) -> None:
    page = signed_in_page
    root = await start_thread(dashboard, slack, "short-lived")
    session = await dashboard.store.resolve(f"threadline:slack:C1::{root}")
    assert session is not None
    await page.goto(f"/dashboard/sessions/{session.id}")
    form = {"csrf_token": await page.locator("input[name=csrf_token]").first.input_value()}
    await dashboard.store.end_session(session.id, "reset", cause="test")
    await page.reload()
    assert await page.get_by_label(REPLY_BOX).count() == 0
    assert "it takes no more messages" in await page.locator("main").inner_text()
    answer = await page.request.post(
        f"/dashboard/sessions/{session.id}/reply",
        form={**form, "text": "anyone?", "nonce": "n" * 24},
        max_redirects=0,
    )
    assert answer.status == 409
    assert await dashboard.store.pending_count(f"threadline:dashboard:{session.id}") == 0


async def test_an_open_page_shows_what_is_said_in_slack_meanwhile(
    dashboard: Running, signed_in_page: Any, slack: FakeSlack
) -> None:
    page = signed_in_page
    root = await start_thread(dashboard, slack, "first, in Slack")
    session = await dashboard.store.resolve(f"threadline:slack:C1::{root}")
    assert session is not None
    await page.goto(f"/dashboard/sessions/{session.id}")
    entries = page.locator("#transcript .entry")
    assert await entries.count() == 2
    await dashboard.send_event(mention("then more, in Slack", thread_ts=root))
    await entries.nth(3).wait_for()  # the message and its answer, without a reload
    assert await entries.count() == 4
    assert "then more, in Slack" in await entries.nth(2).inner_text()
    # the new entries' times are shown in the viewer's zone too
    assert not (await entries.nth(3).locator("time").inner_text()).endswith("UTC")
