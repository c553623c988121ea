"""The running app for the action tests: the fakes of Slack, Anthropic and GitHub, a clock the
test can move, and helpers to ask for a write, find the approval card and click it.

``Fakes`` outlive an app (a restart starts a new app against the same fakes and database);
``start(fakes, database_url, **env)`` runs the real app over HTTP on loopback.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.slack.cards import APPROVE_ACTION, DECLINE_ACTION
from app.store import SqlStore
from app.store.base import Store
from tests.fakes.anthropic import FakeAnthropic, Reply, ToolCall
from tests.fakes.github import FakeGitHub, github_webhook, issue_comment_event
from tests.fakes.slack import FakeSlack, Message
from tests.harness import (
    TEAM,
    Running,
    base_env,
    inbox_drained,
    mention,
    new_ts,
    run_app,
    sign,
)

GH_SECRET = "gh-webhook-secret"
REPO = "acme/widgets"  # private
PUBLIC_REPO = "acme/site"  # made public by the fixture

_action_ts = itertools.count(1)
_comment_ids = itertools.count(7001)


class ShiftedClock:
    """Real time (UTC) plus an offset the test moves forward: time goes on by itself (leases,
    retry delays) and jumps when told to."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, *, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class Fakes:
    slack: FakeSlack
    claude: FakeAnthropic
    github: FakeGitHub


@pytest.fixture
async def fakes() -> AsyncIterator[Fakes]:
    async with FakeSlack() as slack, FakeAnthropic() as claude, FakeGitHub() as github:
        slack.users.update(
            {
                "U1": {"real_name": "Ada Lovelace", "display_name": "ada"},
                "U2": {"real_name": "Grace Hopper", "display_name": "grace"},
                "U3": {"real_name": "Alan Turing", "display_name": "alan"},
                "U7": {"real_name": "Olive Approver", "display_name": "olive"},
            }
        )
        github.set_visibility(PUBLIC_REPO, "public")
        yield Fakes(slack, claude, github)


def env_for(fakes: Fakes, database_url: str, **extra: str) -> dict[str, str]:
    return {
        **base_env(fakes.slack.url, fakes.claude.root_url, database_url),
        "GITHUB_TOKEN": fakes.github.token,
        "GITHUB_API_URL": fakes.github.url,
        "GITHUB_REPOS": f"{REPO},{PUBLIC_REPO}",
        "GITHUB_WEBHOOK_SECRET": GH_SECRET,
        **extra,
    }


@asynccontextmanager
async def start(
    fakes: Fakes, database_url: str, *, clock: ShiftedClock | None = None, **extra: str
) -> AsyncIterator[Running]:
    """The real app on ``database_url``; with ``clock``, the app and the store it uses both
    read their time from it. The store is then the test's, opened here on the same URL: the
    app does not hand ``build_app(clock=...)`` to a store it opens itself, and approvals
    expire on the store's clock."""
    env = env_for(fakes, database_url, **extra)
    if clock is None:
        async with run_app(env) as bot:
            yield bot
        return
    store = SqlStore(database_url, ttl_days=30, clock=clock.now)
    try:
        async with run_app(env, store=store, clock=clock.now) as bot:
            yield bot
    finally:
        await store.close()


# -- asking for writes -----------------------------------------------------------------------


def issue_call(title: str, repo: str = REPO) -> ToolCall:
    return ToolCall("create_github_issue", {"repo": repo, "title": title, "body": "Steps."})


def issues_in(github: FakeGitHub, repo: str = REPO) -> list[str]:
    """Titles of the issues in ``repo``, in the order they were filed."""
    found = sorted((n, i["title"]) for (r, n), i in github.issues.items() if r == repo)
    return [title for _, title in found]


async def settled(bot: Running) -> None:
    """Every delivery recorded so far has been handled to its end (turns included)."""
    await inbox_drained(bot.store)
    await bot.idle()


async def file_from_slack(bot: Running, f: Fakes, title: str = "Login broken") -> str:
    """A Slack thread in C1 whose first turn files an issue in the private repo (no approval
    asked: a Slack turn by a member, a private target); returns the thread's root ts."""
    f.claude.script(Reply(text="Filing it.", tool_calls=[issue_call(title)]), Reply(text="Filed."))
    root = new_ts()
    await bot.send_event(mention("the login page 500s, please file an issue", ts=root))
    await settled(bot)
    assert issues_in(f.github) == [title]
    return root


def comment(
    number: int, text: str, *, login: str = "maintainer", association: str = "MEMBER"
) -> tuple[bytes, dict[str, str]]:
    payload = issue_comment_event(
        REPO, number, text, login=login, association=association, comment_id=next(_comment_ids)
    )
    return github_webhook(GH_SECRET, "issue_comment", payload)


# -- cards and clicks ------------------------------------------------------------------------


def buttons(message: Message) -> dict[str, dict[str, Any]]:
    """The card's buttons by label ("Approve", "Decline"); {} once decided."""
    found: dict[str, dict[str, Any]] = {}
    for block in message.blocks:
        if isinstance(block, dict) and block.get("type") == "actions":
            for element in block.get("elements") or []:
                if element.get("type") == "button":
                    found[str(element["text"]["text"])] = element
    return found


def cards(slack: FakeSlack, channel: str, thread_ts: str | None) -> list[Message]:
    """Pending approval cards in a thread (``thread_ts`` None: in the whole channel):
    messages with an Approve button."""
    return [m for m in slack.messages(channel, thread_ts) if "Approve" in buttons(m)]


@dataclass(frozen=True)
class Card:
    channel: str
    thread_ts: str | None  # None: at the top level (a DM's rolling conversation)
    ts: str
    approval_id: str


def the_card(slack: FakeSlack, channel: str, thread_ts: str | None) -> Card:
    """The one pending card in a thread (``thread_ts`` None: anywhere in ``channel``), where
    it was posted, with the approval id its Approve and Decline buttons carry."""
    [message] = cards(slack, channel, thread_ts)
    approve, decline = buttons(message)["Approve"], buttons(message)["Decline"]
    assert approve["action_id"] == APPROVE_ACTION and decline["action_id"] == DECLINE_ACTION
    assert approve["value"] == decline["value"]
    return Card(channel, message.thread_ts, message.ts, str(approve["value"]))


def click_payload(
    card: Card,
    *,
    user: str,
    decide: str = "Approve",
    user_team: str = TEAM,
    action_ts: str | None = None,
) -> dict[str, Any]:
    """A ``block_actions`` payload as Slack sends it for a click on ``card``'s button."""
    action_id = APPROVE_ACTION if decide == "Approve" else DECLINE_ACTION
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": card.ts,
        "channel_id": card.channel,
        "is_ephemeral": False,
    }
    message: dict[str, Any] = {
        "type": "message",
        "ts": card.ts,
        "bot_id": "BBOT",
        "text": "Approval needed",
    }
    if card.thread_ts is not None:
        container["thread_ts"] = message["thread_ts"] = card.thread_ts
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": user_team},
        "api_app_id": "A1",
        "token": "legacy",
        "container": container,
        "trigger_id": f"1234.5678.{next(_action_ts)}",
        "team": {"id": TEAM, "domain": "acme"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": card.channel, "name": "general"},
        "message": message,
        "response_url": "https://hooks.slack.test/actions/T1/1/x",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "threadline_approval",
                "text": {"type": "plain_text", "text": decide, "emoji": True},
                "value": card.approval_id,
                "type": "button",
                "action_ts": action_ts or f"1763800000.{next(_action_ts):06d}",
            }
        ],
        "state": {"values": {}},
    }


async def send_click(bot: Running, payload: Mapping[str, Any]) -> int:
    raw = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(raw)}
    response = await bot.post_raw("/slack/events", raw, headers)
    return response.status


async def click(bot: Running, card: Card, *, user: str, decide: str = "Approve", **kw: Any) -> None:
    """Click ``card``'s button as ``user`` and wait until the click and any turn it started
    are handled."""
    assert await send_click(bot, click_payload(card, user=user, decide=decide, **kw)) == 200
    await settled(bot)


# -- reading what happened -------------------------------------------------------------------


def thread_answers(slack: FakeSlack, channel: str, thread_ts: str) -> list[str]:
    """The bot's finished messages in a thread, cards left out."""
    card_ts = {m.ts for m in slack.messages(channel, thread_ts) if _is_card(m)}
    shown = [m for m in slack.messages(channel, thread_ts) if m.ts not in card_ts]
    return [
        m.text
        for m in shown
        if m.ts != thread_ts and m.ephemeral_to is None and (m.stopped or not m.streamed)
    ]


def _is_card(message: Message) -> bool:
    """An approval card, pending or decided: its first section starts with its heading."""
    headings = ("*Approval needed:*", "*Approved:*", "*Declined:*", "*Expired:*")
    return any(
        isinstance(b, dict)
        and b.get("type") == "section"
        and str(b.get("text", {}).get("text", "")).startswith(headings)
        for b in message.blocks
    )


def metric(page: str, name: str, labels: Mapping[str, str]) -> float:
    """The sample ``name`` with exactly ``labels`` on a /metrics page (0 when absent)."""
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name == name and sample.labels == dict(labels):
                return float(sample.value)
    return 0.0


async def refused(bot: Running, reason: str, surface: str = "slack") -> float:
    status, page = await bot.get("/metrics")
    assert status == 200
    return metric(page, "threadline_refused_messages_total", {"surface": surface, "reason": reason})


async def approval_status(store: Store, approval_id: str) -> str | None:
    approval = await store.get_approval(approval_id)
    return None if approval is None else approval.status
