"""Over HTTP: comments by people who may not speak are acknowledged, counted and dropped, and a
comment delivered again under a new delivery id is queued once."""

from __future__ import annotations

import logging

import pytest

from tests.fakes.github import github_webhook, issue_comment_event
from tests.fakes.jira import comment_created_event, jira_webhook
from tests.webhooks.conftest import GITHUB_SECRET, JIRA_SECRET, Hooks

GH = "/webhooks/github"
JIRA = "/webhooks/jira"
GH_KEY = "threadline:github:acme/widgets#42"
JIRA_KEY = "threadline:jira:AD-12"
SECRET_TEXT = "here is the production password: hunter2"


def outsider(delivery: str = "d-9", user_type: str = "User") -> tuple[bytes, dict[str, str]]:
    payload = issue_comment_event(
        "acme/widgets",
        42,
        SECRET_TEXT,
        login="mallory",
        user_type=user_type,
        association="NONE",
        visibility="public",
        comment_id=4242,
    )
    return github_webhook(GITHUB_SECRET, "issue_comment", payload, delivery)


async def test_an_outsider_on_a_linked_issue_is_acknowledged_counted_and_not_queued(
    hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    await hooks.link(GH_KEY)
    caplog.set_level(logging.DEBUG)

    status, answer = await hooks.post(GH, *outsider())

    assert (status, answer) == (
        200,
        {"ok": True, "ignored": "commenter not trusted (author_association NONE)"},
    )
    assert hooks.refusals == [("github", "untrusted_association")]
    assert await hooks.queued() == []
    assert hooks.wakes == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "mallory" in logged and GH_KEY in logged
    assert "hunter2" not in logged  # who and where, never what they wrote
    assert any(getattr(r, "delivery", None) == "github:d-9" for r in caplog.records)


async def test_an_outsider_on_an_unlinked_issue_is_not_counted(hooks: Hooks) -> None:
    status, answer = await hooks.post(GH, *outsider())

    assert (status, answer["ignored"]) == (200, "item not linked to a conversation")
    assert hooks.refusals == []


async def test_our_own_comment_is_never_a_refusal(hooks: Hooks) -> None:
    # e.g. a GitHub App posting as "threadline[bot]", whose login we could not learn
    await hooks.link(GH_KEY)
    await hooks.store.remember_posted("github:comment:4242")

    status, answer = await hooks.post(GH, *outsider(user_type="Bot"))

    assert (status, answer["ignored"]) == (200, "our own comment")
    assert hooks.refusals == []


async def test_a_member_on_the_same_issue_is_queued(hooks: Hooks) -> None:
    await hooks.link(GH_KEY)
    payload = issue_comment_event("acme/widgets", 42, "ship it?", association="MEMBER")

    status, _ = await hooks.post(GH, *github_webhook(GITHUB_SECRET, "issue_comment", payload))

    assert status == 202
    assert hooks.refusals == []
    assert len(await hooks.queued()) == 1


@pytest.mark.parametrize(
    ("account_type", "reason", "label"),
    [
        ("customer", "comment by a customer", "customer"),
        ("app", "comment by an app", "app"),
        (None, "comment by an account of unknown type", "unknown_account_type"),
    ],
)
async def test_jira_comments_by_unlicensed_accounts_are_refused(
    hooks: Hooks,
    caplog: pytest.LogCaptureFixture,
    account_type: str | None,
    reason: str,
    label: str,
) -> None:
    await hooks.link(JIRA_KEY)
    caplog.set_level(logging.DEBUG)
    payload = comment_created_event(
        "AD-12", SECRET_TEXT, account_type=account_type, display_name="Carol Customer"
    )

    status, answer = await hooks.post(JIRA, *jira_webhook(JIRA_SECRET, payload))

    assert (status, answer) == (200, {"ok": True, "ignored": reason})
    assert hooks.refusals == [("jira", label)]
    assert await hooks.queued() == []
    assert "hunter2" not in "\n".join(r.getMessage() for r in caplog.records)


async def test_a_github_comment_redelivered_under_a_new_id_is_queued_once(hooks: Hooks) -> None:
    await hooks.link(GH_KEY)
    payload = issue_comment_event("acme/widgets", 42, "Any update?", comment_id=77)

    first = await hooks.post(GH, *github_webhook(GITHUB_SECRET, "issue_comment", payload, "d-1"))
    again = await hooks.post(GH, *github_webhook(GITHUB_SECRET, "issue_comment", payload, "d-2"))

    assert first == (202, {"ok": True, "queued": True})
    assert again == (200, {"ok": True, "duplicate": True})
    (delivery,) = await hooks.queued()
    assert delivery.delivery_id == "github:comment:77"
    assert len(hooks.wakes) == 1


async def test_a_jira_comment_redelivered_under_a_new_id_is_queued_once(hooks: Hooks) -> None:
    await hooks.link(JIRA_KEY)
    await hooks.link("threadline:jira:AD-13")
    payload = comment_created_event("AD-12", "hi", comment_id="10300")
    # Jira comment ids are unique per issue only: the same id on another issue is another one
    other = comment_created_event("AD-13", "hi", comment_id="10300")

    first = await hooks.post(JIRA, *jira_webhook(JIRA_SECRET, payload, "j-1"))
    again = await hooks.post(JIRA, *jira_webhook(JIRA_SECRET, payload, "j-2"))
    elsewhere = await hooks.post(JIRA, *jira_webhook(JIRA_SECRET, other, "j-3"))

    assert (first[0], again, elsewhere[0]) == (202, (200, {"ok": True, "duplicate": True}), 202)
    assert sorted(d.delivery_id for d in await hooks.queued()) == [
        "jira:comment:AD-12/10300",
        "jira:comment:AD-13/10300",
    ]
