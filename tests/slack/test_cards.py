"""The approval card's Block Kit (``app.slack.cards``): what it shows, its buttons, its decided
and expired forms, and that nothing on it can ping, link or run long."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from app.slack.cards import (
    APPROVE_ACTION,
    DECLINE_ACTION,
    MAX_LINES,
    CardSummary,
    approval_card,
    decided_card,
    excerpt,
)

EXPIRES = datetime(2026, 1, 15, 13, 0, tzinfo=UTC)


def summary(**overrides: Any) -> CardSummary:
    fields: dict[str, Any] = {
        "action": "Create a GitHub issue",
        "target": "acme/widgets",
        "title": "Crash on save",
        "body": "Steps to reproduce:\n1. open a file\n2. save it",
        "asker": "Ada Lovelace (U1) in Slack",
    }
    return CardSummary(**(fields | overrides))


def texts(blocks: list[dict[str, Any]]) -> str:
    """Every text on the card, as Slack would read it (mrkdwn)."""
    out = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        for element in block.get("elements", []):
            text = element.get("text")
            out.append(text["text"] if isinstance(text, dict) else str(text))
    return "\n".join(out)


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_the_card_shows_what_where_the_content_and_who_asked() -> None:
    card = approval_card("a1b2", summary(), expires_at=EXPIRES)

    shown = texts(card.blocks)
    assert "*Approval needed:* Create a GitHub issue in acme/widgets" in shown
    assert "*Title:* Crash on save" in shown
    assert "> Steps to reproduce:\n> 1. open a file\n> 2. save it" in shown
    assert "Asked by Ada Lovelace (U1) in Slack" in shown
    assert "Approval `a1b2`" in shown and "<!date^1768482000^" in shown
    assert card.text == "Approval needed: Create a GitHub issue in acme/widgets"


def test_the_card_has_an_approve_and_a_decline_button_carrying_the_approval_id() -> None:
    card = approval_card("a1b2", summary(), expires_at=EXPIRES)

    assert [
        (b["text"]["text"], b.get("style"), b["action_id"], b["value"])
        for b in buttons(card.blocks)
    ] == [
        ("Approve", "primary", APPROVE_ACTION, "a1b2"),
        ("Decline", "danger", DECLINE_ACTION, "a1b2"),
    ]


def test_every_block_is_valid_block_kit() -> None:
    card = approval_card("a1b2", summary(body="x" * 5000, title="t" * 500), expires_at=EXPIRES)
    for status in ("approved", "declined", "expired"):
        card.blocks.extend(decided_card(summary(), status, "U2").blocks)

    for block in card.blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000


def test_a_public_target_is_said_so() -> None:
    card = approval_card("a1", summary(public=True), expires_at=EXPIRES)

    assert "in acme/widgets (public: anyone can read it)" in texts(card.blocks)


@pytest.mark.parametrize(
    "sneaky",
    ["<!channel>", "<!here|here>", "<!subteam^S123>", "<@U999>", "<https://evil.example|docs>"],
)
def test_nothing_on_the_card_can_ping_or_hide_a_link(sneaky: str) -> None:
    card = approval_card(
        "a1",
        summary(title=f"Title {sneaky}", body=f"body {sneaky}", asker=f"Eve {sneaky}"),
        expires_at=EXPIRES,
    )

    shown = texts(card.blocks) + card.text
    assert sneaky not in shown
    assert sneaky.replace("<", "&lt;").replace(">", "&gt;") in shown


def test_bare_group_words_are_made_inert() -> None:
    card = approval_card("a1", summary(body="hey @channel and @here"), expires_at=EXPIRES)

    shown = texts(card.blocks)
    assert "@channel" not in shown and "@here" not in shown
    assert "@\u2060channel" in shown


def test_the_untrusted_text_is_shown_verbatim() -> None:
    card = approval_card("a1", summary(), expires_at=EXPIRES)

    [section] = [b for b in card.blocks if b["type"] == "section"]
    assert section["text"]["verbatim"] is True


def test_only_the_first_lines_of_a_long_body_are_shown() -> None:
    body = "\n".join(f"line {n}" for n in range(1, 30))

    shown = excerpt(body)

    assert shown.split("\n") == [f"line {n}" for n in range(1, MAX_LINES + 1)] + ["…"]


def test_a_long_title_and_long_lines_are_cut() -> None:
    s = summary(title="word " * 100, body="y" * 1000)

    assert len(s.title) <= 150 and s.title.endswith("…")
    assert len(s.body) <= 200 and s.body.endswith("…")
    assert "\n" not in summary(title="two\nlines").title


@pytest.mark.parametrize(
    ("status", "line"),
    [
        ("approved", "Approved by <@U2>"),
        ("declined", "Declined by <@U2>: nothing was done."),
        ("expired", "Expired: nothing was done."),
    ],
)
def test_a_decided_card_has_no_buttons_and_says_what_became_of_it(status: str, line: str) -> None:
    card = decided_card(summary(), status, "U2" if status != "expired" else None)

    assert not buttons(card.blocks)
    shown = texts(card.blocks)
    assert line in shown
    assert "Create a GitHub issue in acme/widgets" in shown and "Crash on save" in shown
    assert card.text.startswith(line.split(":")[0])


def test_an_approved_action_that_failed_says_so() -> None:
    card = decided_card(summary(), "approved", "U2", failed=True)

    assert "Approved by <@U2>: it did not work, see the thread." in texts(card.blocks)


def test_a_decider_that_is_not_a_slack_id_is_not_a_mention() -> None:
    card = decided_card(summary(), "declined", "<!channel>")

    assert "<!channel>" not in texts(card.blocks)


def test_the_summary_survives_the_store_and_junk_reads_safely() -> None:
    s = summary(public=True)

    assert CardSummary.from_dict(s.to_dict()) == s
    junk = CardSummary.from_dict({"action": 3, "public": "yes", "title": None})
    assert (junk.action, junk.public, junk.title) == ("Run a write action", False, "")
