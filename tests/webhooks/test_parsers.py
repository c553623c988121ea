"""From a verified delivery to an action: every event kind of GitHub and Jira."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from app.config import DEFAULT_TRUSTED_ASSOCIATIONS
from app.core import Inbound
from app.errors import BadRequest
from app.webhooks.common import CommentAction, IgnoreAction, RefuseAction, UnlinkAction
from app.webhooks.github import github_spec
from app.webhooks.github import parse_github_event as parse_github
from app.webhooks.jira import JIRA, parse_jira_event
from tests.fakes.github import issue_comment_event, issues_event
from tests.fakes.jira import (
    comment_created_event,
    issue_deleted_event,
    issue_updated_event,
    text_adf,
)

AGENT = "threadline"
BOT_LOGIN = "threadline-bot"
BOT_ACCOUNT = "557058:bot-account"
GITHUB = github_spec(DEFAULT_TRUSTED_ASSOCIATIONS)
parse_github_event = partial(parse_github, trusted=DEFAULT_TRUSTED_ASSOCIATIONS)


# -- GitHub ------------------------------------------------------------------------------------


def test_a_new_issue_comment_becomes_an_inbound_message() -> None:
    payload = issue_comment_event("Acme/Widgets", 42, "Any update?", comment_id=77)

    action = parse_github_event("issue_comment", payload, AGENT, BOT_LOGIN)

    assert action == CommentAction(
        Inbound(
            source="github",
            key="threadline:github:acme/widgets#42",
            text="Any update?",
            author_id="alice",
            author_name="alice",
            item_ref="Acme/Widgets#42",
            item_url="https://github.com/Acme/Widgets/issues/42",
            comment_id="77",
            comment_url="https://github.com/Acme/Widgets/issues/42#issuecomment-77",
            audience="internal",
        )
    )
    assert GITHUB.posted_ref(action.inbound) == "github:comment:77"


def test_a_pull_request_comment_is_handled_like_an_issue_comment() -> None:
    payload = issue_comment_event("acme/widgets", 7, "LGTM?", pull_request=True)

    action = parse_github_event("issue_comment", payload, AGENT, BOT_LOGIN)

    assert isinstance(action, CommentAction)
    assert action.inbound.key == "threadline:github:acme/widgets#7"
    assert action.inbound.item_url == "https://github.com/acme/widgets/pull/7"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (issue_comment_event("acme/widgets", 1, "x", action="edited"), "comment edited"),
        (issue_comment_event("acme/widgets", 1, "x", action="deleted"), "comment deleted"),
        (issue_comment_event("acme/widgets", 1, "x", login="Threadline-Bot"), "our own comment"),
        (
            issue_comment_event("acme/widgets", 1, "x", login="Threadline-Bot", user_type="Bot"),
            "our own comment",
        ),
        (issue_comment_event("acme/widgets", 1, "   "), "empty comment"),
    ],
)
def test_comments_that_start_no_turn(payload: dict[str, Any], reason: str) -> None:
    assert parse_github_event("issue_comment", payload, AGENT, BOT_LOGIN) == IgnoreAction(reason)


def test_our_login_unknown_still_accepts_other_comments() -> None:
    payload = issue_comment_event("acme/widgets", 1, "hi", login="threadline-bot")
    assert isinstance(parse_github_event("issue_comment", payload, AGENT, None), CommentAction)


def test_a_bot_sender_is_refused_even_if_the_comment_user_looks_human() -> None:
    payload = issue_comment_event("acme/widgets", 1, "hi", comment_id=5)
    payload["sender"] = {"login": "renovate[bot]", "type": "Bot"}
    assert parse_github_event("issue_comment", payload, AGENT, BOT_LOGIN) == RefuseAction(
        "threadline:github:acme/widgets#1", "github:comment:5", "alice", "comment by a bot", "bot"
    )


@pytest.mark.parametrize(
    ("action", "cause"), [("closed", "github issue closed"), ("deleted", "github issue deleted")]
)
def test_closing_or_deleting_an_issue_unlinks_it(action: str, cause: str) -> None:
    payload = issues_event("acme/widgets", 42, action)
    assert parse_github_event("issues", payload, AGENT, BOT_LOGIN) == UnlinkAction(
        "threadline:github:acme/widgets#42", cause
    )


@pytest.mark.parametrize("action", ["reopened", "opened", "edited", "labeled"])
def test_other_issue_actions_are_ignored(action: str) -> None:
    payload = issues_event("acme/widgets", 42, action)
    assert isinstance(parse_github_event("issues", payload, AGENT, BOT_LOGIN), IgnoreAction)


@pytest.mark.parametrize("event", ["ping", "push", "pull_request", ""])
def test_other_events_are_ignored(event: str) -> None:
    assert isinstance(parse_github_event(event, {"zen": "hi"}, AGENT, BOT_LOGIN), IgnoreAction)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p.pop("issue"),
        lambda p: p["issue"].update(number="42"),
        lambda p: p["repository"].pop("full_name"),
        lambda p: p.update(comment="text"),
        lambda p: p["comment"].pop("id"),
        lambda p: p["comment"]["user"].pop("login"),
    ],
)
def test_malformed_comment_payloads_are_bad_requests(mangle: Any) -> None:
    payload = issue_comment_event("acme/widgets", 42, "hi")
    mangle(payload)
    with pytest.raises(BadRequest):
        parse_github_event("issue_comment", payload, AGENT, BOT_LOGIN)


# -- Jira --------------------------------------------------------------------------------------


def test_a_new_jira_comment_becomes_an_inbound_message() -> None:
    payload = comment_created_event("ad-12", "First line\nsecond line", comment_id="10200")

    action = parse_jira_event("comment_created", payload, AGENT, BOT_ACCOUNT)

    assert action == CommentAction(
        Inbound(
            source="jira",
            key="threadline:jira:AD-12",
            text="First line\n\nsecond line",
            author_id="5b10a2844c20165700ede21g",
            author_name="Alice Example",
            item_ref="AD-12",
            item_url="https://acme.atlassian.net/browse/AD-12",
            comment_id="10200",
            comment_url="https://acme.atlassian.net/browse/AD-12?focusedCommentId=10200",
            audience="internal",
        )
    )
    assert JIRA.posted_ref(action.inbound) == "jira:comment:AD-12/10200"


def test_a_plain_string_comment_body_is_accepted() -> None:
    payload = comment_created_event("AD-12", "x")
    payload["comment"]["body"] = "Plain *wiki* text"

    action = parse_jira_event("comment_created", payload, AGENT, BOT_ACCOUNT)

    assert isinstance(action, CommentAction)
    assert action.inbound.text == "Plain *wiki* text"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (comment_created_event("AD-1", "x", account_id=BOT_ACCOUNT), "our own comment"),
        (
            comment_created_event("AD-1", "x", account_id=BOT_ACCOUNT, account_type="app"),
            "our own comment",
        ),
        (comment_created_event("AD-1", text_adf("")), "empty comment"),
        (comment_created_event("AD-1", "x", event="comment_updated"), "event comment_updated"),
        (comment_created_event("AD-1", "x", event="comment_deleted"), "event comment_deleted"),
    ],
)
def test_jira_comments_that_start_no_turn(payload: dict[str, Any], reason: str) -> None:
    event = payload["webhookEvent"]
    assert parse_jira_event(event, payload, AGENT, BOT_ACCOUNT) == IgnoreAction(reason)


def test_deleting_a_ticket_unlinks_it() -> None:
    assert parse_jira_event(
        "jira:issue_deleted", issue_deleted_event("AD-3"), AGENT, BOT_ACCOUNT
    ) == UnlinkAction("threadline:jira:AD-3", "jira issue deleted")


@pytest.mark.parametrize(
    "payload",
    [
        issue_updated_event("AD-3", resolved=True),
        issue_updated_event(
            "AD-3",
            changelog=[
                {"field": "resolution", "fromString": None, "to": "10000", "toString": "Done"}
            ],
        ),
    ],
    ids=["fields.resolution", "changelog"],
)
def test_resolving_a_ticket_unlinks_it(payload: dict[str, Any]) -> None:
    assert parse_jira_event("jira:issue_updated", payload, AGENT, BOT_ACCOUNT) == UnlinkAction(
        "threadline:jira:AD-3", "jira issue resolved"
    )


@pytest.mark.parametrize(
    "changelog",
    [
        [],
        [{"field": "summary", "toString": "New title"}],
        [{"field": "resolution", "from": "10000", "to": None, "toString": None}],
    ],
    ids=["nothing", "summary", "reopened"],
)
def test_other_updates_are_ignored(changelog: list[dict[str, Any]]) -> None:
    payload = issue_updated_event("AD-3", changelog=changelog)
    action = parse_jira_event("jira:issue_updated", payload, AGENT, BOT_ACCOUNT)
    assert isinstance(action, IgnoreAction)


@pytest.mark.parametrize("event", ["jira:issue_created", "worklog_updated", ""])
def test_other_jira_events_are_ignored(event: str) -> None:
    assert isinstance(parse_jira_event(event, {}, AGENT, BOT_ACCOUNT), IgnoreAction)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p.pop("issue"),
        lambda p: p["issue"].pop("key"),
        lambda p: p["comment"].pop("author"),
        lambda p: p["comment"]["author"].pop("accountId"),
        lambda p: p["comment"].pop("id"),
    ],
)
def test_malformed_jira_payloads_are_bad_requests(mangle: Any) -> None:
    payload = comment_created_event("AD-1", "hi")
    mangle(payload)
    with pytest.raises(BadRequest):
        parse_jira_event("comment_created", payload, AGENT, BOT_ACCOUNT)
