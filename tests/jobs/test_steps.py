"""A job's step as a turn's answer shows it: Slack's stream gets the task as the step says
(details, link, still running when the stream stops); a place without steps (the dashboard)
sees the tool simply finish, and a step of the turn's own is not shown there."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from app.core.steps import TaskStep
from app.slack.reply import SlackReply
from app.surfaces.dashboard import DashboardSurface, LiveFeed, dashboard_inbound
from app.turns.turn import TurnReply
from tests.fakes.slack import FakeSlack
from tests.surfaces.test_dashboard import Posted, drain

PAGE = "https://tl.example.com/dashboard/sessions/s1"
RUNNING = TaskStep("Background job: Fix it", "in_progress", "Job 1 is running.", PAGE, "Follow it")
ENDED = TaskStep("Background job: Fix it", "complete", "Job 1 finished.")


async def test_slack_shows_the_step_as_it_reads() -> None:
    async with FakeSlack() as slack:

        async def posted(ref: dict[str, object]) -> None:
            return None

        inner = SlackReply(
            AsyncWebClient(token="xoxb-test", base_url=slack.url),
            channel="C1",
            thread_ts="1.0",
            team_id="T1",
            user_id="U1",
            on_posted=posted,
        )
        reply = TurnReply(inner, lambda: None)
        await reply.begin()
        await reply.tool_started("toolu_1", "start_background_job")
        await reply.tool_step("toolu_1", "start_background_job", RUNNING)
        await reply.text("It runs.\n")
        await reply.finish()
        (message,) = slack.messages("C1", "1.0")
        assert message.stopped and message.text == "It runs.\n"
        assert message.chunks == [
            {
                "type": "task_update",
                "id": "toolu_1",
                "title": "Start background job",
                "status": "in_progress",
            },
            {
                "type": "task_update",
                "id": "toolu_1",
                "title": "Background job: Fix it",
                "status": "in_progress",
                "details": "Job 1 is running.",
                "sources": [{"type": "url", "url": PAGE, "text": "Follow it"}],
            },
        ]


async def test_where_steps_are_not_shown_the_tool_simply_finishes() -> None:
    feed = LiveFeed()
    inbound = dashboard_inbound("tl", "s1", "hi", author_id="U1", author_name="Ada", page_url=None)

    async def notice() -> None:
        return None

    with feed.watch("s1") as queue:
        reply = TurnReply(
            DashboardSurface(feed, None).reply(inbound, Posted(), notice), lambda: None
        )
        await reply.begin()
        await reply.show_step("job-1-0", ENDED)  # a step of the turn's own: not shown here
        await reply.tool_started("toolu_1", "start_background_job")
        await reply.tool_step("toolu_1", "start_background_job", RUNNING)
        await reply.finish()
        assert drain(queue) == [
            {"kind": "start"},
            {"kind": "tool", "name": "start_background_job", "state": "started"},
            {"kind": "tool", "name": "start_background_job", "state": "done"},
            {"kind": "done", "note": ""},
        ]


async def test_a_result_for_someone_slack_does_not_know_is_posted_instead() -> None:
    # A job asked for on GitHub, told in the Slack thread: no user to stream to.
    async with FakeSlack() as slack:

        async def posted(ref: dict[str, object]) -> None:
            return None

        inner = SlackReply(
            AsyncWebClient(token="xoxb-test", base_url=slack.url),
            channel="C1",
            thread_ts="1.0",
            team_id="T1",
            user_id="github:octocat",
            on_posted=posted,
        )
        reply = TurnReply(inner, lambda: None)
        await reply.begin()
        await reply.show_step("job-1-0", ENDED)
        await reply.text("The job finished.\n")
        await reply.finish()
        assert [c.error for c in slack.calls_to("chat.startStream")] == ["user_not_found"]
        (message,) = slack.messages("C1", "1.0")
        assert not message.streamed and message.text.strip() == "The job finished."
