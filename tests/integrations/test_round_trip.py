"""One conversation across Slack, GitHub and Jira, through the running app and all four fakes."""

from __future__ import annotations

from tests.fakes.anthropic import Fail, Reply, ToolCall
from tests.fakes.github import github_webhook, issue_comment_event, issues_event
from tests.fakes.jira import comment_created_event, issue_updated_event, jira_webhook
from tests.harness import eventually, mention, new_ts, replies
from tests.integrations.world import (
    GH_SECRET,
    JIRA_SECRET,
    World,
    all_texts,
    file_github_issue,
)

# A structurally invalid replayed transcript: the session is dropped and retried fresh.
BROKEN_TRANSCRIPT = "messages.1: `tool_use` ids were found without `tool_result` blocks: toolu_1"


async def test_an_issue_filed_from_slack_answers_its_comments_with_the_slack_history(
    world: World,
) -> None:
    w = world
    root, number = await file_github_issue(w)
    issue = w.github.issues[("acme/widgets", number)]
    slack_session = await w.bot.store.resolve(f"threadline:slack:C1::{root}")
    assert slack_session is not None
    # the issue links back to the thread and names the session
    assert "https://" in issue["body"] and slack_session.id in issue["body"]
    assert issue["title"] == "Login broken"
    linked = await w.bot.store.resolve(f"threadline:github:acme/widgets#{number}")
    assert linked is not None and linked.id == slack_session.id
    # the tool result told Claude the number and URL
    assert f"#{number}" in w.claude.tool_results(1)[0]["content"]
    assert issue["html_url"] in w.claude.tool_results(1)[0]["content"]
    # the thread step shows the tool call
    streamed = next(m for m in w.slack.messages("C1", root) if m.ts != root)
    assert any(c.get("type") == "task_update" for c in streamed.chunks)

    w.claude.script(Reply(text="It is being looked at; the Slack thread has the details."))
    body, headers = github_webhook(
        GH_SECRET,
        "issue_comment",
        issue_comment_event("acme/widgets", number, "Any update on this?", login="octocat"),
    )
    response = await w.bot.post_raw("/webhooks/github", body, headers)
    assert response.status in (200, 202)
    await eventually(lambda: len(w.github.comments("acme/widgets", number)) == 1)
    [reply] = w.github.comments("acme/widgets", number)
    assert reply["body"] == "It is being looked at; the Slack thread has the details."
    request = w.claude.requests[-1]
    history = all_texts(request)
    assert "the login page 500s" in history  # the model saw the Slack discussion
    assert "[octocat (octocat) in GitHub acme/widgets#" in history
    assert "Any update on this?" in history
    # the Slack thread hears about it
    await w.slack.wait_for(lambda s: any("octocat commented" in t for t in replies(s, "C1", root)))
    # a redelivery of the same webhook is acknowledged and not answered again
    again = await w.bot.post_raw("/webhooks/github", body, headers)
    assert again.status == 200
    # our own comment's webhook starts no turn
    requests_before = len(w.claude.requests)
    own_body, own_headers = github_webhook(
        GH_SECRET,
        "issue_comment",
        issue_comment_event(
            "acme/widgets",
            number,
            reply["body"],
            login="threadline-bot",
            comment_id=int(reply["id"]),
        ),
    )
    assert (await w.bot.post_raw("/webhooks/github", own_body, own_headers)).status == 200
    await w.bot.idle()
    assert len(w.claude.requests) == requests_before
    assert len(w.github.comments("acme/widgets", number)) == 1


async def test_links_lists_the_items_and_closing_unlinks_the_issue(world: World) -> None:
    w = world
    root, number = await file_github_issue(w)
    await w.bot.send_event(mention("links", thread_ts=root))
    await w.slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
    listing = replies(w.slack, "C1", root)[1]
    assert f"GitHub acme/widgets#{number}" in listing
    assert w.github.issues[("acme/widgets", number)]["html_url"] in listing

    body, headers = github_webhook(GH_SECRET, "issues", issues_event("acme/widgets", number))
    assert (await w.bot.post_raw("/webhooks/github", body, headers)).status == 200
    assert await w.bot.store.resolve(f"threadline:github:acme/widgets#{number}") is None
    # the conversation lives on in Slack
    assert await w.bot.store.resolve(f"threadline:slack:C1::{root}") is not None
    requests_before = len(w.claude.requests)
    body, headers = github_webhook(
        GH_SECRET,
        "issue_comment",
        issue_comment_event("acme/widgets", number, "hello?", comment_id=777),
    )
    assert (await w.bot.post_raw("/webhooks/github", body, headers)).status == 200
    await w.bot.idle()
    assert len(w.claude.requests) == requests_before
    reopen, reopen_headers = github_webhook(
        GH_SECRET, "issues", issues_event("acme/widgets", number, "reopened")
    )
    assert (await w.bot.post_raw("/webhooks/github", reopen, reopen_headers)).status == 200
    assert await w.bot.store.resolve(f"threadline:github:acme/widgets#{number}") is None


async def test_a_jira_ticket_filed_from_slack_is_answered_in_jira_in_adf(world: World) -> None:
    w = world
    w.claude.script(
        Reply(
            tool_calls=[
                ToolCall(
                    "create_jira_ticket",
                    {
                        "project_key": "AD",
                        "summary": "Payroll export fails",
                        "description": "It fails with **500** on export.",
                    },
                )
            ]
        ),
        Reply(text="Filed it."),
    )
    root = new_ts()
    await w.bot.send_event(mention("payroll export is failing, file a ticket", ts=root))
    await w.slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    await w.bot.idle()
    [key] = list(w.jira.issues)
    assert key.startswith("AD-")

    w.claude.script(Reply(text="Thanks — **retrying** the export now."))
    body, headers = jira_webhook(
        JIRA_SECRET, comment_created_event(key, "Is there a workaround?", display_name="Bea")
    )
    assert (await w.bot.post_raw("/webhooks/jira", body, headers)).status in (200, 202)
    await eventually(lambda: len(w.jira.comments(key)) == 1)
    [comment] = w.jira.comments(key)
    assert comment["body"]["type"] == "doc"  # ADF
    assert "payroll export is failing" in all_texts(w.claude.requests[-1])
    assert "Is there a workaround?" in all_texts(w.claude.requests[-1])
    await w.slack.wait_for(lambda s: any("Bea commented" in t for t in replies(s, "C1", root)))

    # a comment by our own Jira account starts no turn; resolving unlinks
    requests_before = len(w.claude.requests)
    own, own_headers = jira_webhook(
        JIRA_SECRET,
        comment_created_event(key, "bot text", account_id=w.jira.account_id, comment_id="999"),
    )
    assert (await w.bot.post_raw("/webhooks/jira", own, own_headers)).status == 200
    resolved, resolved_headers = jira_webhook(JIRA_SECRET, issue_updated_event(key, resolved=True))
    assert (await w.bot.post_raw("/webhooks/jira", resolved, resolved_headers)).status == 200
    await w.bot.idle()
    assert len(w.claude.requests) == requests_before
    assert await w.bot.store.resolve(f"threadline:jira:{key}") is None


async def test_refusals_come_back_through_the_tool_result(world: World) -> None:
    w = world
    existing = w.github.add_issue("acme/widgets", "Already tracked")
    w.claude.script(
        Reply(
            tool_calls=[
                ToolCall("create_github_issue", {"repo": "evil/repo", "title": "x", "body": "y"})
            ]
        ),
        Reply(text="That repository is not allowed."),
        Reply(
            tool_calls=[
                ToolCall(
                    "link_github_issue", {"repo": "acme/widgets", "number": existing["number"]}
                )
            ]
        ),
        Reply(text="Linked."),
        Reply(
            tool_calls=[
                ToolCall(
                    "link_github_issue", {"repo": "acme/widgets", "number": existing["number"]}
                )
            ]
        ),
        Reply(text="It belongs to another conversation."),
    )
    first, second = new_ts(), new_ts()
    await w.bot.send_event(mention("file in evil/repo", ts=first))
    await w.slack.wait_for(lambda s: len(replies(s, "C1", first)) == 1)
    refusal = w.claude.tool_results(1)[0]
    assert refusal["is_error"] and "acme/widgets" in str(refusal["content"])
    assert w.github.requests_to(r"^POST /repos/[^/]+/[^/]+/issues$") == []

    await w.bot.send_event(mention("link the tracked issue", thread_ts=first))
    await w.slack.wait_for(lambda s: len(replies(s, "C1", first)) == 2)
    await w.bot.send_event(mention("link it here too", ts=second))
    await w.slack.wait_for(lambda s: len(replies(s, "C1", second)) == 1)
    conflict = w.claude.tool_results(5)[0]
    owner = await w.bot.store.resolve(f"threadline:slack:C1::{first}")
    assert owner is not None
    assert conflict["is_error"] and owner.id in str(conflict["content"])
    linked = await w.bot.store.resolve(f"threadline:github:acme/widgets#{existing['number']}")
    assert linked is not None and linked.id == owner.id


async def test_a_context_reset_keeps_the_linked_items_on_the_fresh_session(world: World) -> None:
    w = world
    root, number = await file_github_issue(w)
    old = await w.bot.store.resolve(f"threadline:slack:C1::{root}")
    w.claude.script(
        Fail(400, "invalid_request_error", BROKEN_TRANSCRIPT),
        Reply(text="Fresh start."),
    )
    await w.bot.send_event(mention("and now?", thread_ts=root))
    await w.slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2)
    await w.bot.idle()
    fresh = await w.bot.store.resolve(f"threadline:slack:C1::{root}")
    linked = await w.bot.store.resolve(f"threadline:github:acme/widgets#{number}")
    assert old is not None and fresh is not None and fresh.id != old.id
    assert linked is not None and linked.id == fresh.id  # comments there still reach us


async def test_a_retried_turn_does_not_file_the_issue_twice(world: World) -> None:
    w = world
    filing = Reply(
        text="Filing it.",
        tool_calls=[
            ToolCall(
                "create_github_issue",
                {"repo": "acme/widgets", "title": "Crash on save", "body": "It crashes."},
            )
        ],
    )
    # the retry's model run words it differently: it is still the same item
    refiling = Reply(
        tool_calls=[
            ToolCall(
                "create_github_issue",
                {"repo": "acme/widgets", "title": "Crash when saving", "body": "Crashes."},
            )
        ],
    )
    w.claude.script(filing, Reply(text="Filed."), refiling, Reply(text="Filed it."))
    # Slack cannot finish the first attempt's answer, so the whole turn is retried
    w.slack.fail("chat.stopStream", status=500, times=3)
    w.slack.fail("chat.update", status=500, times=3)
    root = new_ts()
    await w.bot.send_event(mention("saving crashes, file it", ts=root))
    await w.slack.wait_for(
        lambda s: any("Filed it." in m.text for m in s.messages("C1", root)), timeout=20
    )
    await w.bot.idle(timeout=20)
    assert len(w.github.issues) == 1
    assert len(w.github.requests_to(r"^POST /repos/[^/]+/[^/]+/issues$")) == 1
    [result] = w.claude.tool_results(-1)
    assert "#1" in str(result["content"])  # the retry got the first attempt's result
    assert len([m for m in w.slack.messages("C1", root) if m.ts != root]) == 1


async def test_a_fresh_retry_after_filing_reuses_the_filed_issue(world: World) -> None:
    w = world
    root = new_ts()
    await w.bot.send_event(mention("hello", ts=root))
    await w.slack.wait_for(lambda s: len(replies(s, "C1", root)) == 1)
    create = ToolCall(
        "create_github_issue", {"repo": "acme/widgets", "title": "Broken", "body": "Broken."}
    )
    w.claude.script(
        Reply(tool_calls=[create]),  # the issue is filed...
        Fail(400, "invalid_request_error", BROKEN_TRANSCRIPT),
        Reply(tool_calls=[create]),  # ...and the fresh retry asks for it again
        Reply(text="Filed."),
    )
    await w.bot.send_event(mention("file it", thread_ts=root))
    await w.slack.wait_for(lambda s: len(replies(s, "C1", root)) == 2, timeout=15)
    await w.bot.idle()
    assert len(w.github.issues) == 1
    assert "Filed." in replies(w.slack, "C1", root)[1]
