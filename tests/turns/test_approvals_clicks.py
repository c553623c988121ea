"""Deciding approvals (``app.turns.approvals.ApprovalDecider.handle_click``): who may decide,
the action running exactly once, declines, expiry on the store's clock, repeated and racing
clicks. The approval is asked for by the real gate; MemoryStore, the fake Slack."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from app.agent.tools.base import ToolContext, ToolRegistry, ToolResult
from app.config import ActionSettings
from app.core import ConversationKey, Inbound, KeyClaim
from app.slack.cards import ApprovalClick
from app.slack.events import BotIdentity
from app.slack.names import UserNames
from app.store import MemoryStore
from app.store.base import Approval
from app.turns.approvals import ApprovalDecider
from app.turns.writes import CardThread, WriteGate, slack_card_thread
from tests.conftest import Clock
from tests.fakes.slack import FakeSlack

AGENT = "threadline"
ROOT = "1763700000.000100"
THREAD = ConversationKey.slack(AGENT, "C1", ROOT)
ARGS = {"repo": "acme/widgets", "title": "Crash on save", "body": "Steps"}
_ts = itertools.count(1)


class Tool:
    """create_github_issue as far as deciding goes: records each run and its context."""

    name = "create_github_issue"
    writes = True

    def __init__(self) -> None:
        self.runs: list[tuple[dict[str, Any], ToolContext]] = []
        self.fail = False

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "description": "", "input_schema": {"type": "object"}}

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        self.runs.append((args, ctx))
        await asyncio.sleep(0)  # let a racing click in
        if self.fail:
            return ToolResult("GitHub is down.", is_error=True)
        return ToolResult("Created GitHub issue acme/widgets#12 (https://gh.test/12).")


async def _link(key: str, url: str | None) -> KeyClaim:
    return KeyClaim(key, "sess-1", True)


async def _no_link() -> str | None:
    return None


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.users.update(
            {
                "U1": {"real_name": "Ada Lovelace", "display_name": "Ada Lovelace"},
                "U2": {"real_name": "Grace Hopper", "display_name": "Grace Hopper"},
                "U3": {"real_name": "Mallory", "display_name": "Mallory"},
                "UBOSS": {"real_name": "Boss", "display_name": "Boss"},
                "UEXT": {"display_name": "Eve", "team_id": "T9", "is_stranger": True},
            }
        )
        fake.set_members("C1", "U1", "U2", "UEXT")
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=slack.url)


@pytest.fixture
def store(clock: Clock) -> MemoryStore:
    return MemoryStore(clock=clock.now)


@pytest.fixture
def tool() -> Tool:
    return Tool()


@pytest.fixture
def decider(store: MemoryStore, client: AsyncWebClient, tool: Tool) -> ApprovalDecider:
    async def context_for(approval: Approval) -> ToolContext:
        return ToolContext(
            approval.session_id, f"approval-{approval.id}", AGENT, str(THREAD), _link, _no_link
        )

    return ApprovalDecider(
        store=store,
        client=client,
        settings=ActionSettings(approvers=frozenset({"UBOSS"})),
        agent=AGENT,
        tools=ToolRegistry([tool]),
        context_for=context_for,
        bot=lambda: BotIdentity("UBOT", "BBOT", "T1"),
        names=UserNames(client),
    )


async def ask(
    store: MemoryStore, client: AsyncWebClient, tool: Tool, *, comment: bool = False
) -> Approval:
    """Claude calls create_github_issue under TOOL_APPROVAL=always: the gate asks."""
    if comment:
        inbound = Inbound(
            source="github",
            key=f"{AGENT}:github:acme/widgets#7",
            text="file it",
            author_id="octocat",
            author_name="octocat",
            item_ref="acme/widgets#7",
        )
    else:
        inbound = Inbound(
            source="slack", key=str(THREAD), text="file it", author_id="U1", channel="C1"
        )

    async def card_thread(session_id: str) -> CardThread | None:
        return slack_card_thread(client, THREAD)

    gate = WriteGate(
        ToolRegistry([tool]),
        approvals=store,
        settings=ActionSettings(tool_approval="always"),
        inbound=inbound,
        from_comment=comment,
        card_thread=card_thread,
    )
    context = ToolContext("sess-1", "turn-1", AGENT, inbound.key, _link, _no_link)
    result = await gate.call("create_github_issue", ARGS, context)
    assert result.content.startswith("Waiting for approval")
    [approval] = await store.pending_approvals("sess-1")
    return approval


def click(
    approval: Approval, user: str, decision: str = "approved", **extra: Any
) -> dict[str, Any]:
    assert approval.card_ts is not None
    return ApprovalClick(
        approval_id=approval.id,
        decision=decision,  # type: ignore[arg-type]
        user_id=user,
        channel="C1",
        message_ts=approval.card_ts,
        action_ts=f"1763700100.{next(_ts):06d}",
        thread_ts=ROOT,
        user_team=extra.pop("user_team", "T1"),
        team_id="T1",
        **extra,
    ).to_payload(AGENT)


def card_text(slack: FakeSlack, approval: Approval) -> str:
    assert approval.card_ts is not None
    message = slack.message("C1", approval.card_ts)
    assert message is not None
    return str(message.blocks)


def has_buttons(slack: FakeSlack, approval: Approval) -> bool:
    assert approval.card_ts is not None
    message = slack.message("C1", approval.card_ts)
    assert message is not None
    return any(b["type"] == "actions" for b in message.blocks)


# -- approve, decline, expire ----------------------------------------------------------------


async def test_the_asker_approves_and_the_action_runs_once(
    store: MemoryStore,
    client: AsyncWebClient,
    tool: Tool,
    decider: ApprovalDecider,
    slack: FakeSlack,
) -> None:
    approval = await ask(store, client, tool)
    assert not tool.runs

    outcome = await decider.handle_click(click(approval, "U1"))

    [(args, ctx)] = tool.runs
    assert args == ARGS and ctx.session_id == "sess-1"
    assert outcome.status == "ran" and outcome.result is not None
    stored = await store.get_approval(approval.id)
    assert stored is not None and stored.status == "approved" and stored.decided_by == "U1"
    assert stored.result == outcome.result.content and stored.result_is_error is False
    assert not has_buttons(slack, approval)
    assert "Approved by <@U1>" in card_text(slack, approval)
    assert outcome.message == (
        f"[Approval] Ada Lovelace approved create_github_issue (approval {approval.id}). "
        "Result:\n> Created GitHub issue acme/widgets#12 (https://gh.test/12).\n"
        "Tell the thread what was done (with the item's number or link)."
    )
    followup = outcome.followup
    assert followup is not None
    assert (followup.source, followup.key, followup.text) == ("slack", str(THREAD), outcome.message)
    assert (followup.author_id, followup.channel, followup.thread_ts) == ("U1", "C1", ROOT)


async def test_a_stranger_is_refused_with_a_private_note_and_nothing_changes(
    store: MemoryStore,
    client: AsyncWebClient,
    tool: Tool,
    decider: ApprovalDecider,
    slack: FakeSlack,
) -> None:
    approval = await ask(store, client, tool)

    outcome = await decider.handle_click(click(approval, "U3"))

    assert outcome.status == "refused" and outcome.followup is None and not tool.runs
    [note] = slack.ephemerals("C1", "U3")
    assert note.text == "Only <@U1> or an approver can decide this."
    assert note.thread_ts == ROOT
    stored = await store.get_approval(approval.id)
    assert stored is not None and stored.status == "pending"
    assert has_buttons(slack, approval)


async def test_an_approver_may_decide_anything(
    store: MemoryStore,
    client: AsyncWebClient,
    tool: Tool,
    decider: ApprovalDecider,
    slack: FakeSlack,
) -> None:
    approval = await ask(store, client, tool)

    outcome = await decider.handle_click(click(approval, "UBOSS"))

    assert outcome.status == "ran" and len(tool.runs) == 1
    assert "Approved by <@UBOSS>" in card_text(slack, approval)


async def test_a_decline_runs_nothing_and_says_so(
    store: MemoryStore,
    client: AsyncWebClient,
    tool: Tool,
    decider: ApprovalDecider,
    slack: FakeSlack,
) -> None:
    approval = await ask(store, client, tool)

    outcome = await decider.handle_click(click(approval, "U1", "declined"))

    assert outcome.status == "declined" and not tool.runs and outcome.result is None
    assert outcome.message == (
        f"[Approval] Ada Lovelace declined create_github_issue (approval {approval.id}). "
        "Nothing was done; tell the thread."
    )
    assert "Declined by <@U1>: nothing was done." in card_text(slack, approval)
    assert not has_buttons(slack, approval)


async def test_past_its_expiry_the_card_expires_and_nothing_runs(
    store: MemoryStore,
    client: AsyncWebClient,
    tool: Tool,
    decider: ApprovalDecider,
    slack: FakeSlack,
    clock: Clock,
) -> None:
    approval = await ask(store, client, tool)
    clock.advance(seconds=3601)

    outcome = await decider.handle_click(click(approval, "U1"))
    again = await decider.handle_click(click(approval, "U1"))

    assert outcome.status == "expired" and not tool.runs
    assert outcome.message is not None and "expired before anyone decided" in outcome.message
    assert "Expired: nothing was done." in card_text(slack, approval)
    assert not has_buttons(slack, approval)
    assert again.status == "ignored" and again.followup is None


async def test_a_failed_action_is_reported_as_failed(
    store: MemoryStore,
    client: AsyncWebClient,
    tool: Tool,
    decider: ApprovalDecider,
    slack: FakeSlack,
) -> None:
    approval = await ask(store, client, tool)
    tool.fail = True

    outcome = await decider.handle_click(click(approval, "U1"))

    assert outcome.status == "ran" and outcome.result is not None and outcome.result.is_error
    assert outcome.message is not None and "but it did not work" in outcome.message
    assert "it did not work, see the thread" in card_text(slack, approval)
    stored = await store.get_approval(approval.id)
    assert stored is not None and stored.result_is_error is True


# -- a decided card ignores every later click --------------------------------------------------


async def test_the_same_click_twice_runs_the_action_once(
    store: MemoryStore, client: AsyncWebClient, tool: Tool, decider: ApprovalDecider
) -> None:
    approval = await ask(store, client, tool)
    payload = click(approval, "U1")

    first = await decider.handle_click(payload)
    second = await decider.handle_click(payload)

    assert (first.status, second.status) == ("ran", "ignored")
    assert second.followup is None and len(tool.runs) == 1


@pytest.mark.parametrize(
    ("comment", "users"),
    [(False, ("U1", "UBOSS")), (True, ("U2", "U2")), (True, ("U2", "UBOSS"))],
    ids=["two-people", "double-click-while-checking", "two-people-while-checking"],
)
async def test_two_racing_clicks_make_one_action(
    store: MemoryStore,
    client: AsyncWebClient,
    tool: Tool,
    decider: ApprovalDecider,
    comment: bool,
    users: tuple[str, str],
) -> None:
    # For a comment-started action a member's click waits on Slack (membership), so both
    # clicks have read the approval as pending before either decides.
    approval = await ask(store, client, tool, comment=comment)

    outcomes = await asyncio.gather(*(decider.handle_click(click(approval, u)) for u in users))

    assert sorted(o.status for o in outcomes) == ["ignored", "ran"]
    assert len(tool.runs) == 1


@pytest.mark.parametrize(
    ("first", "then"),
    [("declined", "approved"), ("approved", "declined"), ("approved", "approved")],
)
async def test_after_a_decision_another_persons_click_changes_nothing(
    store: MemoryStore,
    client: AsyncWebClient,
    tool: Tool,
    decider: ApprovalDecider,
    slack: FakeSlack,
    first: str,
    then: str,
) -> None:
    approval = await ask(store, client, tool)
    await decider.handle_click(click(approval, "U1", first))
    runs = len(tool.runs)

    later = await decider.handle_click(click(approval, "UBOSS", then))

    assert later.status == "ignored" and later.followup is None and len(tool.runs) == runs
    stored = await store.get_approval(approval.id)
    assert stored is not None and (stored.status, stored.decided_by) == (first, "U1")
    assert f"{first.capitalize()} by <@U1>" in card_text(slack, approval)


# -- a comment-started turn: the channel decides -------------------------------------------------


async def test_a_member_of_the_channel_decides_a_comment_started_action(
    store: MemoryStore, client: AsyncWebClient, tool: Tool, decider: ApprovalDecider
) -> None:
    approval = await ask(store, client, tool, comment=True)

    outcome = await decider.handle_click(click(approval, "U2"))

    assert outcome.status == "ran" and len(tool.runs) == 1


@pytest.mark.parametrize(
    ("user", "team"),
    [("U3", "T1"), ("UEXT", "T9"), ("UEXT", "T1")],
    ids=["not-a-member", "outsider", "outsider-by-users-info"],
)
async def test_non_members_and_outsiders_cannot_decide_for_the_channel(
    store: MemoryStore,
    client: AsyncWebClient,
    tool: Tool,
    decider: ApprovalDecider,
    slack: FakeSlack,
    user: str,
    team: str,
) -> None:
    approval = await ask(store, client, tool, comment=True)

    outcome = await decider.handle_click(click(approval, user, user_team=team))

    assert outcome.status == "refused" and not tool.runs
    [note] = slack.ephemerals("C1", user)
    assert (
        note.text == "Only a member of <#C1> from this workspace, or an approver, can decide this."
    )


async def test_when_slack_cannot_tell_membership_the_click_is_refused(
    store: MemoryStore,
    client: AsyncWebClient,
    tool: Tool,
    decider: ApprovalDecider,
    slack: FakeSlack,
) -> None:
    approval = await ask(store, client, tool, comment=True)
    slack.fail("conversations.members", status=200, error="missing_scope")

    outcome = await decider.handle_click(click(approval, "U2"))

    assert outcome.status == "refused" and not tool.runs


async def test_membership_is_read_across_pages(
    store: MemoryStore,
    client: AsyncWebClient,
    tool: Tool,
    decider: ApprovalDecider,
    slack: FakeSlack,
) -> None:
    slack.set_members("C1", *[f"U{n:04d}" for n in range(2500)], "U2")
    approval = await ask(store, client, tool, comment=True)

    outcome = await decider.handle_click(click(approval, "U2"))

    assert outcome.status == "ran"
    assert len(slack.calls_to("conversations.members")) == 3


# -- restarts and odd clicks ------------------------------------------------------------------


async def test_a_retried_click_finishes_what_its_first_attempt_decided(
    store: MemoryStore, client: AsyncWebClient, tool: Tool, decider: ApprovalDecider
) -> None:
    approval = await ask(store, client, tool)
    payload = click(approval, "U1")
    # The first attempt decided, then its process died before running the action.
    await store.decide_approval(approval.id, "approved", "U1")
    assert await store.remember_once(f"approval:{approval.id}:outcome")

    not_a_retry = await decider.handle_click(payload)
    retried = await decider.handle_click(payload, resume=True)
    retried_again = await decider.handle_click(payload, resume=True)

    assert not_a_retry.status == "ignored"
    assert (retried.status, retried_again.status) == ("ran", "ran")
    assert len(tool.runs) == 1  # the second retry reads the recorded result
    assert retried_again.result == retried.result


async def test_a_retried_click_of_someone_else_does_not_run_it(
    store: MemoryStore, client: AsyncWebClient, tool: Tool, decider: ApprovalDecider
) -> None:
    approval = await ask(store, client, tool)
    await store.decide_approval(approval.id, "approved", "UBOSS")

    outcome = await decider.handle_click(click(approval, "U1"), resume=True)

    assert outcome.status == "ignored" and not tool.runs


async def test_clicks_on_unknown_approvals_and_odd_payloads_are_ignored(
    store: MemoryStore, client: AsyncWebClient, tool: Tool, decider: ApprovalDecider
) -> None:
    approval = await ask(store, client, tool)
    unknown = click(approval, "U1") | {"approval_id": "0" * 32}

    assert (await decider.handle_click(unknown)).status == "ignored"
    assert (await decider.handle_click({"kind": "approval_click"})).status == "ignored"
    assert (await decider.handle_click({"source": "slack", "text": "hi"})).status == "ignored"
    assert not tool.runs
