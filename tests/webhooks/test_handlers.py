"""The webhook handlers over HTTP: verification first, then the inbox, the key index, or 503."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from app.core import Inbound
from tests.fakes.github import github_webhook, issue_comment_event, issues_event
from tests.fakes.jira import (
    comment_created_event,
    issue_deleted_event,
    issue_updated_event,
    jira_webhook,
)
from tests.webhooks.conftest import (
    BOT_ACCOUNT,
    BOT_LOGIN,
    GITHUB_SECRET,
    JIRA_SECRET,
    MAX_BODY,
    Hooks,
)

GH = "/webhooks/github"
JIRA = "/webhooks/jira"
GH_KEY = "threadline:github:acme/widgets#42"
JIRA_KEY = "threadline:jira:AD-12"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def gh_comment(
    body: str = "Any update?", *, delivery: str | None = None, **kwargs: Any
) -> tuple[bytes, dict[str, str]]:
    payload = issue_comment_event("acme/widgets", 42, body, **kwargs)
    return github_webhook(GITHUB_SECRET, "issue_comment", payload, delivery)


# -- GitHub: the happy path and redeliveries ---------------------------------------------------


async def test_a_comment_on_a_linked_issue_is_queued_and_wakes_the_worker(hooks: Hooks) -> None:
    await hooks.link(GH_KEY)
    body, headers = gh_comment(delivery="d-1", comment_id=501)

    status, answer = await hooks.post(GH, body, headers)

    assert (status, answer) == (202, {"ok": True, "queued": True})
    assert len(hooks.wakes) == 1
    (delivery,) = await hooks.queued()
    # queued under the comment's own identity, whatever the delivery header said
    assert (delivery.delivery_id, delivery.source, delivery.lane) == (
        "github:comment:501",
        "github",
        GH_KEY,
    )
    inbound = Inbound.from_payload(delivery.payload)
    assert (inbound.text, inbound.author_id, inbound.comment_id) == ("Any update?", "alice", "501")
    assert inbound.item_ref == "acme/widgets#42"


async def test_a_redelivery_is_acknowledged_as_a_duplicate(hooks: Hooks) -> None:
    await hooks.link(GH_KEY)
    body, headers = gh_comment(delivery="d-1")

    first = await hooks.post(GH, body, headers)
    second = await hooks.post(GH, body, headers)

    assert first[0] == 202
    assert second == (200, {"ok": True, "duplicate": True})
    assert len(hooks.wakes) == 1
    assert len(await hooks.queued()) == 1


async def test_form_encoded_deliveries_are_accepted(hooks: Hooks) -> None:
    await hooks.link(GH_KEY)
    payload = issue_comment_event("acme/widgets", 42, "via form")
    form = urlencode({"payload": json.dumps(payload)}).encode()
    _, headers = github_webhook(GITHUB_SECRET, "issue_comment", payload)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers["X-Hub-Signature-256"] = sign(GITHUB_SECRET, form)

    status, _ = await hooks.post(GH, form, headers)

    assert status == 202
    (delivery,) = await hooks.queued()
    assert delivery.payload["text"] == "via form"


# -- GitHub: refused before anything happens ---------------------------------------------------


async def test_forged_and_unsigned_deliveries_are_refused_and_store_nothing(hooks: Hooks) -> None:
    await hooks.link(GH_KEY)
    body, headers = gh_comment()
    forged = dict(headers, **{"X-Hub-Signature-256": "sha256=" + "0" * 64})
    unsigned = {k: v for k, v in headers.items() if k != "X-Hub-Signature-256"}
    _, other_secret = github_webhook("not-our-secret", "issue_comment", json.loads(body))
    tampered_body = body.replace(b"Any update?", b"rm -rf /   ")

    for candidate_body, candidate_headers in [
        (body, forged),
        (body, unsigned),
        (body, other_secret),
        (tampered_body, headers),
    ]:
        status, answer = await hooks.post(GH, candidate_body, candidate_headers)
        assert (status, answer) == (401, {"ok": False, "error": "invalid signature"})

    assert await hooks.queued() == []
    assert hooks.wakes == []


async def test_an_oversized_body_is_refused(hooks: Hooks) -> None:
    payload = issue_comment_event("acme/widgets", 42, "x" * MAX_BODY)
    body, headers = github_webhook(GITHUB_SECRET, "issue_comment", payload)

    status, answer = await hooks.post(GH, body, headers)

    assert (status, answer["error"]) == (413, "payload too large")
    assert await hooks.queued() == []


async def test_an_oversized_chunked_body_is_refused_without_a_length(hooks: Hooks) -> None:
    payload = issue_comment_event("acme/widgets", 42, "x" * MAX_BODY)
    body, headers = github_webhook(GITHUB_SECRET, "issue_comment", payload)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    status, _ = await hooks.post(GH, chunks(), headers)

    assert status == 413


async def test_a_body_at_the_limit_is_read(hooks: Hooks) -> None:
    payload = issue_comment_event("acme/widgets", 42, "")
    filler = MAX_BODY - len(json.dumps(payload).encode())
    payload["comment"]["body"] = "y" * filler
    body, headers = github_webhook(GITHUB_SECRET, "issue_comment", payload)
    assert len(body) == MAX_BODY

    status, answer = await hooks.post(GH, body, headers)

    assert (status, answer["ignored"]) == (200, "item not linked to a conversation")


async def test_signed_but_malformed_payloads_are_bad_requests(hooks: Hooks) -> None:
    for raw in [b"{not json", b"[1, 2]", b"\xff\xfe", b'{"action": "created"}']:
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "issue_comment",
            "X-GitHub-Delivery": "d-1",
            "X-Hub-Signature-256": sign(GITHUB_SECRET, raw),
        }
        status, answer = await hooks.post(GH, raw, headers)
        assert status == 400, raw
        assert answer["ok"] is False


async def test_missing_delivery_or_event_headers_are_bad_requests(hooks: Hooks) -> None:
    await hooks.link(GH_KEY)
    body, headers = gh_comment()
    for header in ["X-GitHub-Delivery", "X-GitHub-Event"]:
        partial = {k: v for k, v in headers.items() if k != header}
        status, answer = await hooks.post(GH, body, partial)
        assert status == 400
        assert header in answer["error"]
    assert await hooks.queued() == []


# -- GitHub: acknowledged and ignored ----------------------------------------------------------


async def test_comments_that_start_no_turn_are_acknowledged(hooks: Hooks) -> None:
    await hooks.link(GH_KEY)
    await hooks.store.remember_posted("github:comment:777")
    cases = {
        "comment by a bot": gh_comment(user_type="Bot"),
        "our own comment": gh_comment(login=BOT_LOGIN.upper()),
        "comment edited": gh_comment(action="edited"),
    }
    posted_by_us = gh_comment(comment_id=777, login="someone-else")

    for reason, (body, headers) in cases.items():
        assert await hooks.post(GH, body, headers) == (200, {"ok": True, "ignored": reason})
    status, answer = await hooks.post(GH, *posted_by_us)

    assert (status, answer["ignored"]) == (200, "our own comment")
    assert await hooks.queued() == []
    assert hooks.wakes == []


async def test_a_comment_on_an_unlinked_issue_is_acknowledged_and_ignored(hooks: Hooks) -> None:
    status, answer = await hooks.post(GH, *gh_comment())

    assert (status, answer) == (200, {"ok": True, "ignored": "item not linked to a conversation"})
    assert await hooks.queued() == []


async def test_a_ping_is_acknowledged(hooks: Hooks) -> None:
    body, headers = github_webhook(GITHUB_SECRET, "ping", {"zen": "Design for failure."})
    assert await hooks.post(GH, body, headers) == (200, {"ok": True, "ignored": "event ping"})


# -- GitHub: closing unlinks -------------------------------------------------------------------


async def test_closing_an_issue_unlinks_it_once(hooks: Hooks) -> None:
    session_id = await hooks.link(GH_KEY)
    body, headers = github_webhook(
        GITHUB_SECRET, "issues", issues_event("acme/widgets", 42), "close-1"
    )

    first = await hooks.post(GH, body, headers)
    relinked = await hooks.link(GH_KEY)  # Claude links it again before GitHub redelivers
    second = await hooks.post(GH, body, headers)

    assert first == (200, {"ok": True, "unlinked": True})
    assert second == (200, {"ok": True, "duplicate": True})
    session = await hooks.store.resolve(GH_KEY)
    assert session is not None and session.id == relinked
    events = [(e.kind, e.cause) for e in await hooks.store.events_for(session_id)]
    assert ("key_unlinked", "github issue closed") in events
    assert await hooks.queued() == []  # an unlink is not a turn


async def test_a_reopened_issue_stays_unlinked(hooks: Hooks) -> None:
    await hooks.link(GH_KEY)
    for action in ["closed", "reopened"]:
        body, headers = github_webhook(
            GITHUB_SECRET, "issues", issues_event("acme/widgets", 42, action)
        )
        await hooks.post(GH, body, headers)

    assert await hooks.store.resolve(GH_KEY) is None


# -- store failures ----------------------------------------------------------------------------


async def test_store_failure_answers_503_so_the_sender_retries(broken_hooks: Hooks) -> None:
    deliveries = [
        (GH, *gh_comment()),
        (GH, *github_webhook(GITHUB_SECRET, "issues", issues_event("acme/widgets", 42))),
        (JIRA, *jira_webhook(JIRA_SECRET, comment_created_event("AD-12", "hi"))),
    ]
    for path, body, headers in deliveries:
        status, answer = await broken_hooks.post(path, body, headers)
        assert (status, answer) == (503, {"ok": False, "error": "store unavailable, retry later"})
    assert broken_hooks.wakes == []


async def test_verification_comes_before_the_store(broken_hooks: Hooks) -> None:
    body, headers = gh_comment()
    status, _ = await broken_hooks.post(GH, body, dict(headers, **{"X-Hub-Signature-256": "x"}))
    assert status == 401


# -- Jira --------------------------------------------------------------------------------------


async def test_a_jira_comment_on_a_linked_ticket_is_queued(hooks: Hooks) -> None:
    await hooks.link(JIRA_KEY)
    payload = comment_created_event("AD-12", "Can you *check* this?", comment_id="10300")
    body, headers = jira_webhook(JIRA_SECRET, payload, "jira-d-1")

    first = await hooks.post(JIRA, body, headers)
    again = await hooks.post(JIRA, body, headers)

    assert first == (202, {"ok": True, "queued": True})
    assert again == (200, {"ok": True, "duplicate": True})
    (delivery,) = await hooks.queued()
    assert (delivery.delivery_id, delivery.lane) == ("jira:comment:AD-12/10300", JIRA_KEY)
    inbound = Inbound.from_payload(delivery.payload)
    assert inbound.text == "Can you *check* this?"
    assert (inbound.author_name, inbound.item_ref, inbound.comment_id) == (
        "Alice Example",
        "AD-12",
        "10300",
    )
    assert len(hooks.wakes) == 1


async def test_jira_comments_that_start_no_turn(hooks: Hooks) -> None:
    await hooks.link(JIRA_KEY)
    await hooks.store.remember_posted("jira:comment:AD-12/555")
    cases = [
        (comment_created_event("AD-12", "x", account_id=BOT_ACCOUNT), "our own comment"),
        (comment_created_event("AD-12", "x", comment_id="555"), "our own comment"),
        (comment_created_event("AD-99", "x"), "item not linked to a conversation"),
    ]
    for payload, reason in cases:
        answer = await hooks.post(JIRA, *jira_webhook(JIRA_SECRET, payload))
        assert answer == (200, {"ok": True, "ignored": reason})
    assert await hooks.queued() == []


async def test_jira_refuses_forged_and_undelivered(hooks: Hooks) -> None:
    await hooks.link(JIRA_KEY)
    body, headers = jira_webhook(JIRA_SECRET, comment_created_event("AD-12", "hi"))
    forged = dict(headers, **{"X-Hub-Signature": "sha256=" + "a" * 64})
    no_id = {k: v for k, v in headers.items() if k != "X-Atlassian-Webhook-Identifier"}

    assert (await hooks.post(JIRA, body, forged))[0] == 401
    assert (await hooks.post(JIRA, body, no_id))[0] == 400
    assert (await hooks.post(JIRA, *jira_webhook(GITHUB_SECRET, {"x": 1})))[0] == 401
    assert await hooks.queued() == []


async def test_deleting_or_resolving_a_ticket_unlinks_it(hooks: Hooks) -> None:
    await hooks.link("threadline:jira:AD-1")
    await hooks.link("threadline:jira:AD-2")
    await hooks.link("threadline:jira:AD-3")

    deleted = await hooks.post(JIRA, *jira_webhook(JIRA_SECRET, issue_deleted_event("AD-1")))
    resolved = await hooks.post(
        JIRA, *jira_webhook(JIRA_SECRET, issue_updated_event("AD-2", resolved=True))
    )
    edited = await hooks.post(JIRA, *jira_webhook(JIRA_SECRET, issue_updated_event("AD-3")))

    assert deleted == (200, {"ok": True, "unlinked": True})
    assert resolved == (200, {"ok": True, "unlinked": True})
    assert edited == (200, {"ok": True, "ignored": "issue updated, not resolved"})
    assert await hooks.store.resolve("threadline:jira:AD-1") is None
    assert await hooks.store.resolve("threadline:jira:AD-2") is None
    assert await hooks.store.resolve("threadline:jira:AD-3") is not None
