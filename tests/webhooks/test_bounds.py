"""Bounded input on GitHub and Jira: long comments are cut at the parser, and a conversation
with too many deliveries waiting takes no more (200 ``ignored: backlog``, counted)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from app.config import DEFAULT_TRUSTED_ASSOCIATIONS
from app.core import Inbound
from app.core.bounds import rendered_size
from app.core.text import quote
from app.store import SqlStore
from app.webhooks.common import CommentAction
from app.webhooks.github import parse_github_event
from app.webhooks.jira import parse_jira_event
from tests.fakes.github import github_webhook, issue_comment_event
from tests.fakes.jira import comment_created_event, jira_webhook
from tests.webhooks.conftest import (
    AGENT,
    BOT_ACCOUNT,
    BOT_LOGIN,
    GITHUB_SECRET,
    JIRA_SECRET,
    Hooks,
    build_app,
)

GH_KEY = "threadline:github:acme/widgets#42"
JIRA_KEY = "threadline:jira:AD-12"
MAX_CHARS = 1_000
MAX_PENDING = 2


def test_a_long_github_comment_is_cut_to_what_claude_may_read() -> None:
    body = "a short line\n" * 200  # 2,600 characters, and more once quoted
    payload = issue_comment_event("acme/widgets", 42, body)
    action = parse_github_event(
        "issue_comment",
        payload,
        AGENT,
        BOT_LOGIN,
        trusted=DEFAULT_TRUSTED_ASSOCIATIONS,
        max_chars=MAX_CHARS,
    )
    assert isinstance(action, CommentAction)
    inbound = action.inbound
    assert inbound.cut_from == len(body)
    assert body.startswith(inbound.text) and inbound.text.endswith("a short line")
    assert len(quote(inbound.text)) <= MAX_CHARS
    assert len(quote(inbound.text)) > MAX_CHARS - len("> a short line\n")


def test_a_long_jira_comment_is_cut_and_a_short_one_is_not() -> None:
    long_text = "\n".join(f"paragraph {n} " + "word " * 30 for n in range(40))
    payload = comment_created_event("AD-12", long_text)
    action = parse_jira_event("comment_created", payload, AGENT, BOT_ACCOUNT, max_chars=MAX_CHARS)
    assert isinstance(action, CommentAction)
    assert action.inbound.cut_from is not None and action.inbound.cut_from > MAX_CHARS
    assert rendered_size(action.inbound.text, quoted=True) <= MAX_CHARS

    short = comment_created_event("AD-12", "just this")
    action = parse_jira_event("comment_created", short, AGENT, BOT_ACCOUNT, max_chars=MAX_CHARS)
    assert isinstance(action, CommentAction)
    assert (action.inbound.text, action.inbound.cut_from) == ("just this", None)


@pytest.fixture
async def bounded(sql_store: SqlStore) -> AsyncIterator[Hooks]:
    """The handlers with a small MAX_MESSAGE_CHARS and MAX_PENDING_PER_CONVERSATION."""
    wakes: list[None] = []
    refusals: list[tuple[str, str]] = []

    def wake() -> None:
        wakes.append(None)

    def on_refused(surface: str, reason: str) -> None:
        refusals.append((surface, reason))

    app = build_app(sql_store, wake, on_refused, max_chars=MAX_CHARS, max_pending=MAX_PENDING)
    server = TestServer(app)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield Hooks(server, http, sql_store, wakes, refusals)
    finally:
        await server.close()


def gh(comment_id: int, body: str = "Any update?") -> tuple[bytes, dict[str, str]]:
    payload = issue_comment_event("acme/widgets", 42, body, comment_id=comment_id)
    return github_webhook(GITHUB_SECRET, "issue_comment", payload)


def jira(comment_id: str) -> tuple[bytes, dict[str, str]]:
    return jira_webhook(JIRA_SECRET, comment_created_event("AD-12", "ping", comment_id=comment_id))


async def test_a_long_comment_is_queued_cut_with_its_length(bounded: Hooks) -> None:
    await bounded.link(GH_KEY)
    body = "word " * 1_000
    assert await bounded.post("/webhooks/github", *gh(1, body)) == (
        202,
        {"ok": True, "queued": True},
    )
    (delivery,) = await bounded.queued()
    inbound = Inbound.from_payload(delivery.payload)
    assert inbound.cut_from == len(body) and len(quote(inbound.text)) <= MAX_CHARS


async def test_a_conversation_with_a_backlog_takes_no_more_comments(bounded: Hooks) -> None:
    await bounded.link(GH_KEY)
    await bounded.link(JIRA_KEY)
    for n in (1, 2):
        assert (await bounded.post("/webhooks/github", *gh(n)))[0] == 202
    status, answer = await bounded.post("/webhooks/github", *gh(3))
    assert (status, answer) == (200, {"ok": True, "ignored": "backlog"})
    assert bounded.refusals == [("github", "conversation_backlog")]
    assert len(bounded.wakes) == 2
    # Other conversations are not held up by it.
    assert (await bounded.post("/webhooks/jira", *jira("1")))[0] == 202

    # One delivery handled (a claimed one still counts until it is finished): room for one.
    delivery = await bounded.store.claim_delivery("worker", 30)
    assert delivery is not None and delivery.lane == GH_KEY
    assert (await bounded.post("/webhooks/github", *gh(4)))[1]["ignored"] == "backlog"
    await bounded.store.finish_delivery(delivery.id, "worker", "done")
    # The comment turned away was not recorded: sent again, it is queued now.
    assert (await bounded.post("/webhooks/github", *gh(4)))[0] == 202
    assert (await bounded.post("/webhooks/github", *gh(5)))[1]["ignored"] == "backlog"
    assert bounded.refusals == [("github", "conversation_backlog")] * 3
    assert await bounded.store.pending_count(GH_KEY) == 2
    assert await bounded.store.pending_count(JIRA_KEY) == 1
