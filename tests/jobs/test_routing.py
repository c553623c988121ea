"""Where a job's result is told (RESULT_ROUTE within the audience rule), through the running
app: a linked Jira ticket first (an internal comment, with a notice in the Slack thread), the
Slack thread when nothing else is linked, GitHub when the route puts it first and the
repository is private, and never a public repository from an internal conversation."""

from __future__ import annotations

from tests.fakes.anthropic import Reply, ToolCall
from tests.harness import mention, new_ts, replies
from tests.jobs.conftest import PUBLIC_REPO, REPO, Fakes, settled, start, start_call

ANSWER = "The job is done."


async def thread_with_job(bot, f: Fakes, *links: ToolCall) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A thread whose first turn links items and starts a job; the root ts and the job id."""
    f.claude.script(
        Reply(text="Linking and starting.", tool_calls=[*links, start_call()]),
        Reply(text="Started."),
    )
    root = new_ts()
    await bot.send_event(mention("link it and do the work", ts=root))
    await settled(bot)
    session = await bot.store.resolve(f"threadline:slack:C1::{root}")
    assert session is not None
    (job,) = await bot.store.jobs_of_session(session.id)
    return root, job.id


async def finish(bot, f: Fakes, job_id: str) -> None:  # type: ignore[no-untyped-def]
    m = f.claude.managed
    f.claude.script(Reply(text=ANSWER))
    m.finish(m.session_for(threadline_job=job_id).id, "All done.")
    await m.settled()
    await settled(bot)


async def test_a_linked_jira_ticket_first(fakes: Fakes, sqlite_url: str) -> None:
    f = fakes
    key = f.jira.add_issue("AD", "Parser refactor")
    async with start(f, sqlite_url) as bot:
        root, job_id = await thread_with_job(bot, f, ToolCall("link_jira_ticket", {"key": key}))
        before = replies(f.slack, "C1", root)
        await finish(bot, f, job_id)
        (comment,) = f.jira.comments(key)
        assert ANSWER in str(comment["body"])
        assert comment.get("jsdPublic") is not True  # an internal comment
        after = replies(f.slack, "C1", root)
        assert len(after) == len(before) + 1  # one notice, not the answer
        assert ANSWER not in after[-1] and key in after[-1]


async def test_the_slack_thread_when_nothing_else_is_linked(fakes: Fakes, sqlite_url: str) -> None:
    f = fakes
    async with start(f, sqlite_url) as bot:
        root, job_id = await thread_with_job(bot, f)
        await finish(bot, f, job_id)
        assert replies(f.slack, "C1", root)[-1] == ANSWER


async def test_github_when_the_route_says_so(fakes: Fakes, sqlite_url: str) -> None:
    f = fakes
    issue = f.github.add_issue(REPO, "Refactor")
    link = ToolCall("link_github_issue", {"repo": REPO, "number": issue["number"]})
    async with start(f, sqlite_url, RESULT_ROUTE="github,jira,slack") as bot:
        root, job_id = await thread_with_job(bot, f, link)
        await finish(bot, f, job_id)
        comments = f.github.comments(REPO, issue["number"])
        assert ANSWER in comments[-1]["body"]
        assert ANSWER not in replies(f.slack, "C1", root)[-1]


async def test_never_a_public_repository_from_an_internal_conversation(
    fakes: Fakes, sqlite_url: str
) -> None:
    f = fakes
    issue = f.github.add_issue(PUBLIC_REPO, "Site")
    link = ToolCall("link_github_issue", {"repo": PUBLIC_REPO, "number": issue["number"]})
    async with start(f, sqlite_url, RESULT_ROUTE="github,slack") as bot:
        root, job_id = await thread_with_job(bot, f, link)
        await finish(bot, f, job_id)
        assert f.github.comments(PUBLIC_REPO, issue["number"]) == []
        assert replies(f.slack, "C1", root)[-1] == ANSWER


async def test_past_a_slack_connect_thread_to_github_by_default(
    fakes: Fakes, sqlite_url: str
) -> None:
    """No Jira ticket, and the thread is in a channel shared with another organisation: an
    internal conversation's result skips it and goes to its private repository's issue."""
    f = fakes
    f.slack.set_channel("C1", is_shared=True, is_ext_shared=True)  # Slack Connect
    issue = f.github.add_issue(REPO, "Refactor")
    link = ToolCall("link_github_issue", {"repo": REPO, "number": issue["number"]})
    async with start(f, sqlite_url) as bot:  # RESULT_ROUTE: jira,slack,github
        root, job_id = await thread_with_job(bot, f, link)
        session = await bot.store.resolve(f"threadline:slack:C1::{root}")
        assert session is not None and session.audience == "internal"  # the private issue
        before = replies(f.slack, "C1", root)
        await finish(bot, f, job_id)
        comments = f.github.comments(REPO, issue["number"])
        assert ANSWER in comments[-1]["body"]
        assert not any(ANSWER in text for text in replies(f.slack, "C1", root)[len(before) :])
