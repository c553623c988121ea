"""Approvals of write actions through the running app: a member's GitHub comment asks Claude to
file an issue, the approval card goes to the conversation's Slack thread, and signed clicks on
it decide (once) what happens; ``TOOL_APPROVAL`` for Slack-started turns.

Every test drives the app over HTTP (signed Slack events and clicks, signed GitHub webhooks)
against the fakes of Slack, Anthropic and GitHub, and waits for the inbox to drain rather
than for a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.actions.conftest import (
    PUBLIC_REPO,
    REPO,
    Card,
    Fakes,
    ShiftedClock,
    approval_status,
    cards,
    click,
    click_payload,
    comment,
    env_for,
    file_from_slack,
    issue_call,
    issues_in,
    send_click,
    settled,
    start,
    the_card,
    thread_answers,
)
from tests.fakes.anthropic import Reply
from tests.harness import Running, dm, mention, new_ts, run_app

WAITING = "It is waiting for approval in the Slack thread."
APPROVED_ANSWER = "Done: filed acme/widgets#2 (Logout broken)."


@dataclass(frozen=True)
class Asked:
    """A conversation that began in Slack thread ``root`` (issue #1 filed from there) and
    whose GitHub comment on #1 asked for a second issue: ``card`` is its approval card."""

    root: str
    card: Card
    requests: int  # model requests so far


async def comment_asks_for_an_issue(bot: Running, f: Fakes) -> Asked:
    root = await file_from_slack(bot, f)
    f.claude.script(
        Reply(text="I'll file it.", tool_calls=[issue_call("Logout broken")]),
        Reply(text=WAITING),
    )
    webhook = comment(1, "The logout button is broken too; please file an issue for it.")
    assert (await bot.post_raw("/webhooks/github", *webhook)).status == 202
    await settled(bot)
    return Asked(root, the_card(f.slack, "C1", root), len(f.claude.requests))


@pytest.fixture
async def bot(fakes: Fakes, tmp_path: Path) -> AsyncIterator[Running]:
    async with start(fakes, f"sqlite:///{tmp_path / 'tl.db'}") as running:
        yield running


def card_text(f: Fakes, card: Card) -> str:
    message = f.slack.message(card.channel, card.ts)
    assert message is not None
    return message.text


def card_lines(f: Fakes, card: Card) -> list[str]:
    """The texts of the card's sections and context lines, as shown now."""
    message = f.slack.message(card.channel, card.ts)
    assert message is not None
    lines = [str(b["text"]["text"]) for b in message.blocks if b.get("type") == "section"]
    for block in message.blocks:
        if block.get("type") == "context":
            lines += [str(e["text"]) for e in block["elements"]]
    return lines


def card_updates(f: Fakes, card: Card) -> int:
    message = f.slack.message(card.channel, card.ts)
    assert message is not None
    return message.updates


# -- (a) a comment asks, a member of the channel approves ------------------------------------


async def test_a_members_comment_waits_for_a_card_and_a_channel_members_approval_files_it(
    bot: Running, fakes: Fakes
) -> None:
    f = fakes
    asked = await comment_asks_for_an_issue(bot, f)

    # The card is in the conversation's Slack thread, and nothing was filed yet.
    [message] = cards(f.slack, "C1", asked.root)
    assert message.thread_ts == asked.root
    assert message.text == "Approval needed: Create a GitHub issue in acme/widgets"
    section = message.blocks[0]["text"]["text"]
    assert "*Title:* Logout broken" in section
    asker = message.blocks[1]["elements"][0]["text"]
    assert asker == "Asked by maintainer in a GitHub comment on acme/widgets#1"
    assert issues_in(f.github) == ["Login broken"]
    # Claude was told it waits, and the comment's turn ended with an answer on the issue.
    [*_, waiting] = f.claude.tool_results(-1)
    assert waiting["is_error"] is False
    assert "Waiting for approval from a member of the Slack channel" in waiting["content"]
    assert f"(approval {asked.card.approval_id})" in waiting["content"]
    assert [c["body"] for c in f.github.comments(REPO, 1)] == [f"I'll file it.\n\n{WAITING}"]
    assert await approval_status(bot.store, asked.card.approval_id) == "pending"

    f.slack.set_members("C1", "U1", "U2")
    f.claude.script(Reply(text=APPROVED_ANSWER))
    await click(bot, asked.card, user="U2")

    assert issues_in(f.github) == ["Login broken", "Logout broken"]
    assert card_text(f, asked.card) == "Approved by <@U2>: Create a GitHub issue in acme/widgets"
    assert "Approved by <@U2>" in card_lines(f, asked.card)
    assert cards(f.slack, "C1", asked.root) == []  # the buttons are gone
    # A new turn reported it: the model read the outcome, the thread shows the answer.
    assert len(f.claude.requests) == asked.requests + 1
    told = f.claude.newest_user_text()
    assert told.startswith("[grace (U2) in Slack]\n[Approval] grace approved create_github_issue")
    assert "Created GitHub issue acme/widgets#2" in told
    assert thread_answers(f.slack, "C1", asked.root)[-1] == APPROVED_ANSWER
    assert await approval_status(bot.store, asked.card.approval_id) == "approved"


# -- (b) who may not decide ------------------------------------------------------------------


async def test_a_stranger_or_a_non_member_gets_a_private_refusal_and_nothing_runs(
    bot: Running, fakes: Fakes
) -> None:
    f = fakes
    asked = await comment_asks_for_an_issue(bot, f)
    f.slack.set_members("C1", "U1", "U2")
    f.slack.users["U9"] = {"real_name": "Eve Outsider", "display_name": "eve", "team_id": "T2"}

    await click(bot, asked.card, user="U9", user_team="T2")  # of another organisation
    await click(bot, asked.card, user="U3")  # of the workspace, not in the channel

    refusal = "Only a member of <#C1> from this workspace, or an approver, can decide this."
    assert [m.text for m in f.slack.ephemerals("C1", "U9")] == [refusal]
    assert [m.text for m in f.slack.ephemerals("C1", "U3")] == [refusal]
    assert issues_in(f.github) == ["Login broken"]
    assert card_updates(f, asked.card) == 0
    assert len(f.claude.requests) == asked.requests  # no turn
    assert await approval_status(bot.store, asked.card.approval_id) == "pending"


async def test_an_approver_outside_the_channel_may_decide(fakes: Fakes, tmp_path: Path) -> None:
    f = fakes
    async with start(f, f"sqlite:///{tmp_path / 'tl.db'}", APPROVERS="U7") as bot:
        asked = await comment_asks_for_an_issue(bot, f)
        f.slack.set_members("C1", "U1")

        await click(bot, asked.card, user="U7")

        assert issues_in(f.github) == ["Login broken", "Logout broken"]
        assert card_text(f, asked.card).startswith("Approved by <@U7>")


# -- (c) decline -----------------------------------------------------------------------------


async def test_decline_runs_nothing_updates_the_card_and_a_turn_says_so(
    bot: Running, fakes: Fakes
) -> None:
    f = fakes
    asked = await comment_asks_for_an_issue(bot, f)
    f.slack.set_members("C1", "U1", "U2", "U3")
    f.claude.script(Reply(text="Understood, I did not file it."))

    await click(bot, asked.card, user="U2", decide="Decline")

    assert issues_in(f.github) == ["Login broken"]
    assert card_text(f, asked.card) == "Declined by <@U2>: Create a GitHub issue in acme/widgets"
    assert "Declined by <@U2>: nothing was done." in card_lines(f, asked.card)
    assert len(f.claude.requests) == asked.requests + 1
    told = f.claude.newest_user_text()
    assert "[Approval] grace declined create_github_issue" in told
    assert "Nothing was done" in told
    assert thread_answers(f.slack, "C1", asked.root)[-1] == "Understood, I did not file it."

    # Approve after Decline: nothing runs, no turn.
    await click(bot, asked.card, user="U3")

    assert issues_in(f.github) == ["Login broken"]
    assert len(f.claude.requests) == asked.requests + 1
    assert await approval_status(bot.store, asked.card.approval_id) == "declined"


# -- (d) expiry ------------------------------------------------------------------------------


async def test_a_click_after_the_ttl_marks_the_card_expired_and_runs_nothing(
    fakes: Fakes, tmp_path: Path
) -> None:
    """The app and its store read one clock, moved past ``APPROVAL_TTL_SECONDS``."""
    f = fakes
    clock = ShiftedClock()
    db = f"sqlite:///{tmp_path / 'tl.db'}"
    async with start(f, db, clock=clock, APPROVAL_TTL_SECONDS="600") as bot:
        asked = await comment_asks_for_an_issue(bot, f)
        f.slack.set_members("C1", "U1", "U2", "U3")
        f.claude.script(Reply(text="The approval expired; nothing was filed."))

        clock.advance(seconds=601)
        await click(bot, asked.card, user="U2")

        assert issues_in(f.github) == ["Login broken"]
        assert card_text(f, asked.card) == "Expired: Create a GitHub issue in acme/widgets"
        assert "Expired: nothing was done." in card_lines(f, asked.card)
        assert cards(f.slack, "C1", asked.root) == []
        assert await approval_status(bot.store, asked.card.approval_id) == "expired"
        told = f.claude.newest_user_text()
        assert "[Approval] The approval of create_github_issue" in told
        assert "expired before anyone decided" in told

        # Clicking again does nothing more.
        await click(bot, asked.card, user="U3")
        assert issues_in(f.github) == ["Login broken"]
        assert len(f.claude.requests) == asked.requests + 1


async def test_moving_the_apps_own_clock_past_the_ttl_expires_the_card(
    fakes: Fakes, tmp_path: Path
) -> None:
    f = fakes
    clock = ShiftedClock()
    env = env_for(f, f"sqlite:///{tmp_path / 'tl.db'}", APPROVAL_TTL_SECONDS="600")
    async with run_app(env, clock=clock.now) as bot:
        asked = await comment_asks_for_an_issue(bot, f)
        f.slack.set_members("C1", "U1", "U2")

        clock.advance(seconds=601)
        await click(bot, asked.card, user="U2")

        assert issues_in(f.github) == ["Login broken"]
        assert await approval_status(bot.store, asked.card.approval_id) == "expired"


# -- (e) one action, however many clicks -----------------------------------------------------


async def test_the_same_click_delivered_twice_runs_the_action_once(
    bot: Running, fakes: Fakes
) -> None:
    f = fakes
    asked = await comment_asks_for_an_issue(bot, f)
    f.slack.set_members("C1", "U1", "U2")
    f.claude.script(Reply(text=APPROVED_ANSWER), Reply(text="A second report must not happen."))
    payload = click_payload(asked.card, user="U2")

    statuses = await asyncio.gather(send_click(bot, payload), send_click(bot, payload))
    await settled(bot)
    assert await send_click(bot, payload) == 200  # a late redelivery too
    await settled(bot)

    assert list(statuses) == [200, 200]
    assert issues_in(f.github) == ["Login broken", "Logout broken"]
    assert len(f.claude.requests) == asked.requests + 1
    assert thread_answers(f.slack, "C1", asked.root)[-1] == APPROVED_ANSWER


async def test_two_members_approving_at_once_run_the_action_once(
    bot: Running, fakes: Fakes
) -> None:
    f = fakes
    asked = await comment_asks_for_an_issue(bot, f)
    f.slack.set_members("C1", "U1", "U2", "U3")
    f.claude.script(Reply(text=APPROVED_ANSWER), Reply(text="A second report must not happen."))

    statuses = await asyncio.gather(
        send_click(bot, click_payload(asked.card, user="U2")),
        send_click(bot, click_payload(asked.card, user="U3")),
    )
    await settled(bot)

    assert list(statuses) == [200, 200]
    assert issues_in(f.github) == ["Login broken", "Logout broken"]
    assert len(f.claude.requests) == asked.requests + 1
    approval = await bot.store.get_approval(asked.card.approval_id)
    assert approval is not None and approval.decided_by in ("U2", "U3")
    assert card_text(f, asked.card).startswith(f"Approved by <@{approval.decided_by}>")
    assert [a for a in thread_answers(f.slack, "C1", asked.root) if a == APPROVED_ANSWER] == [
        APPROVED_ANSWER
    ]


async def test_members_clicking_on_two_replicas_at_once_run_the_action_once(
    fakes: Fakes, postgres_url: str
) -> None:
    f = fakes
    async with start(f, postgres_url) as a, start(f, postgres_url) as b:
        asked = await comment_asks_for_an_issue(a, f)
        f.slack.set_members("C1", "U1", "U2", "U3")
        f.claude.script(Reply(text=APPROVED_ANSWER), Reply(text="A second report must not happen."))

        statuses = await asyncio.gather(
            send_click(a, click_payload(asked.card, user="U2")),
            send_click(b, click_payload(asked.card, user="U3")),
        )
        await settled(a)
        await settled(b)

        assert list(statuses) == [200, 200]
        assert issues_in(f.github) == ["Login broken", "Logout broken"]
        assert len(f.claude.requests) == asked.requests + 1
        assert thread_answers(f.slack, "C1", asked.root).count(APPROVED_ANSWER) == 1


# -- (f) a restart between the card and the click --------------------------------------------


async def test_a_click_after_a_restart_runs_the_action_once(fakes: Fakes, store_url: str) -> None:
    f = fakes
    async with start(f, store_url) as first:
        asked = await comment_asks_for_an_issue(first, f)
    f.slack.set_members("C1", "U1", "U2", "U3")
    f.claude.script(Reply(text=APPROVED_ANSWER), Reply(text="A second report must not happen."))

    async with start(f, store_url) as second:
        await click(second, asked.card, user="U2")
        await click(second, asked.card, user="U3")

        assert issues_in(f.github) == ["Login broken", "Logout broken"]
        assert len(f.claude.requests) == asked.requests + 1
        assert thread_answers(f.slack, "C1", asked.root)[-1] == APPROVED_ANSWER
        assert card_text(f, asked.card).startswith("Approved by <@U2>")


# -- TOOL_APPROVAL for a Slack-started turn --------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "repo", "card"),
    [
        ("never", PUBLIC_REPO, False),
        ("untrusted", REPO, False),
        ("untrusted", PUBLIC_REPO, True),
        ("always", REPO, True),
    ],
)
async def test_tool_approval_decides_whether_a_slack_turn_files_at_once(
    fakes: Fakes, tmp_path: Path, mode: str, repo: str, card: bool
) -> None:
    f = fakes
    async with start(f, f"sqlite:///{tmp_path / 'tl.db'}", TOOL_APPROVAL=mode) as bot:
        f.claude.script(
            Reply(text="Filing it.", tool_calls=[issue_call("Crash on save", repo)]),
            Reply(text="Answered."),
        )
        root = new_ts()
        await bot.send_event(mention("saving crashes, please file an issue", ts=root))
        await settled(bot)

        [result] = f.claude.tool_results(-1)
        if card:
            assert issues_in(f.github, repo) == []
            assert len(cards(f.slack, "C1", root)) == 1
            assert "Waiting for approval from ada (who asked) or an approver" in result["content"]
        else:
            assert issues_in(f.github, repo) == ["Crash on save"]
            assert cards(f.slack, "C1", root) == []
            assert f"Created GitHub issue {repo}#1" in result["content"]
        assert thread_answers(f.slack, "C1", root)[-1].endswith("Answered.")


async def test_with_always_only_the_asker_or_an_approver_decides_a_slack_turns_card(
    fakes: Fakes, tmp_path: Path
) -> None:
    f = fakes
    async with start(f, f"sqlite:///{tmp_path / 'tl.db'}", TOOL_APPROVAL="always") as bot:
        f.slack.set_members("C1", "U1", "U2")
        f.claude.script(
            Reply(text="Filing it.", tool_calls=[issue_call("Crash on save")]),
            Reply(text="It waits for your approval."),
        )
        root = new_ts()
        await bot.send_event(mention("saving crashes, please file an issue", ts=root, user="U1"))
        await settled(bot)
        card = the_card(f.slack, "C1", root)

        await click(bot, card, user="U2")  # in the channel, but not who asked

        assert [m.text for m in f.slack.ephemerals("C1", "U2")] == [
            "Only <@U1> or an approver can decide this."
        ]
        assert issues_in(f.github) == []

        f.claude.script(Reply(text="Filed acme/widgets#1."))
        await click(bot, card, user="U1")

        assert issues_in(f.github) == ["Crash on save"]
        assert card_text(f, card).startswith("Approved by <@U1>")
        assert thread_answers(f.slack, "C1", root)[-1] == "Filed acme/widgets#1."


async def test_a_dms_card_sits_at_the_top_level_and_its_click_reaches_the_dm(
    fakes: Fakes, tmp_path: Path
) -> None:
    f = fakes
    async with start(f, f"sqlite:///{tmp_path / 'tl.db'}", TOOL_APPROVAL="always") as bot:
        f.claude.script(
            Reply(text="Filing it.", tool_calls=[issue_call("Crash on save")]),
            Reply(text="It waits for your approval."),
        )
        assert await bot.send_event(dm("saving crashes, please file an issue")) == 200
        await settled(bot)
        card = the_card(f.slack, "D1", None)
        assert card.thread_ts is None

        f.claude.script(Reply(text="Filed acme/widgets#1."))
        await click(bot, card, user="U1")

        assert issues_in(f.github) == ["Crash on save"]
        assert card_text(f, card).startswith("Approved by <@U1>")
        assert "[Approval] ada approved create_github_issue" in f.claude.newest_user_text()
        [*_, answer] = [m for m in f.slack.messages("D1") if m.user == f.slack.user_id]
        assert answer.text == "Filed acme/widgets#1." and answer.thread_ts is None


# -- an approval's outcome and the limits ----------------------------------------------------


async def test_an_approved_actions_outcome_reaches_the_conversation_when_the_clicker_is_over_a_rate(
    fakes: Fakes, tmp_path: Path
) -> None:
    f = fakes
    db = f"sqlite:///{tmp_path / 'tl.db'}"
    async with start(f, db, USER_TURNS_PER_HOUR="1") as bot:
        asked = await comment_asks_for_an_issue(bot, f)  # U1's one message of the hour
        f.slack.set_members("C1", "U1", "U2")

        await click(bot, asked.card, user="U1")
        assert issues_in(f.github) == ["Login broken", "Logout broken"]  # it ran
        # Someone else speaks next in the thread: Claude must know the issue was filed.
        await bot.send_event(mention("is it filed?", user="U2", thread_ts=asked.root))
        await settled(bot)

        history = "\n".join(f.claude.last_user_texts())
        assert "[Approval] ada approved create_github_issue" in history
