"""What a restarted conversation is seeded with: the thread as people see it (pure)."""

from __future__ import annotations

from app.slack.events import BotIdentity
from app.slack.history import SEED_HEADER, Said, context_block, thread_history

BOT = BotIdentity(user_id="UBOT", bot_id="BBOT", team_id="T1")


def message(ts: str, text: str, user: str | None = "U1", **extra: object) -> dict[str, object]:
    return {"type": "message", "ts": ts, "text": text, "user": user, **extra}


def test_people_and_the_bot_itself_are_kept_in_order_other_bots_and_edits_are_not() -> None:
    thread = [
        message("1700000003.000000", "answer", user="UBOT", bot_id="BBOT"),
        message("1700000001.000000", "<@UBOT> what broke?"),
        message("1700000002.000000", "a deploy bot says hi", user="UOTHER", bot_id="BOTHER"),
        message("1700000004.000000", "edited", subtype="message_changed"),
        message("1700000005.000000", "a note", user=None, bot_id="BBOT"),  # posted as the app
        message("1700000006.000000", "   "),
        message("1700000001.000000", "<@UBOT> what broke?"),  # the parent, again on a page
        message("1700000007.000000", "and this", user="U2"),
        message("1700000009.000000", "<@UBOT> now?"),  # the message being answered
    ]
    said = thread_history(thread, bot=BOT, before="1700000009.000000")
    assert said == [
        Said("U1", "what broke?"),
        Said("UBOT", "answer", by_bot=True),
        Said("UBOT", "a note", by_bot=True),
        Said("U2", "and this"),
    ]


def test_the_block_keeps_the_newest_messages_within_its_budget() -> None:
    entries = [(f"Person {i} (U{i})", f"message {i} " + "x" * 100) for i in range(50)]
    block = context_block(entries, max_chars=1_000, header=SEED_HEADER)
    assert block is not None and block.startswith(SEED_HEADER + "\n(the ")
    assert "message 49" in block and "message 0 " not in block
    assert len(block) < 1_000 + len(SEED_HEADER) + 50
    assert all(line.startswith(("- ", "> ", "[", "(")) for line in block.splitlines())
