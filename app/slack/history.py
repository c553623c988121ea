"""What people said in a Slack thread since the bot last looked: a fetch and a pure filter.

The bot is told only about mentions, yet it should know what was said around them. Before a
turn in a channel thread, the messages since the previous handled message of that thread are
fetched (``conversations.replies``, oldest first, a few pages; the newest are kept), then
filtered by ``unseen_messages``: people only (no bots, no edits or joins), not the current
message, and not other mentions of the bot (each of those is a turn of its own). What is left
reaches Claude quoted, with its author (``context_block``): data, never instructions.

When a conversation has to start over (its session was dropped), the fresh one is seeded with
the thread as people see it: ``thread_history`` keeps what people wrote and the bot's own
replies (marked as the bot's), newest kept within the budget of ``context_block``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from slack_sdk.web.async_client import AsyncWebClient

from app.core.text import quote
from app.slack.events import BotIdentity
from app.slack.failures import SLACK_FAILURES, describe
from app.slack.format import strip_mentions

log = logging.getLogger(__name__)

PER_PAGE: Final = 100  # messages per page, and the most that are passed on
PAGES: Final = 5
MAX_CHARS: Final = 20_000
CONTEXT_HEADER: Final = "[Said in this thread since you last looked, not addressed to you]"
SEED_HEADER: Final = (
    "[This conversation was restarted: its earlier context could no longer be used. What was "
    "said in this Slack thread before this message, oldest first; what you said is marked as "
    "yours]"
)
SEED_PAGES: Final = 20  # pages read to seed a restarted conversation (the newest are kept)

# Subtypes that are a person writing (anything else is an edit, a join, a bot...).
_PEOPLE_SUBTYPES: Final = (None, "file_share", "thread_broadcast")


@dataclass(frozen=True)
class Said:
    """One message someone wrote in the thread."""

    user: str
    text: str
    by_bot: bool = False  # the bot's own message (an earlier answer or note)


async def fetch_replies(
    client: AsyncWebClient,
    *,
    channel: str,
    thread_ts: str,
    latest: str | None,
    oldest: str | None,
    pages: int = PAGES,
    per_page: int = PER_PAGE,
) -> list[dict[str, Any]]:
    """The thread's messages between ``oldest`` and ``latest`` (both excluded), as Slack sent
    them; what was read before a failure is kept, a failure before anything is ``[]``."""
    messages: list[dict[str, Any]] = []
    cursor: str | None = None
    try:
        for _ in range(pages):
            response = await client.conversations_replies(
                channel=channel,
                ts=thread_ts,
                latest=latest,
                oldest=oldest,
                inclusive=False,
                limit=per_page,
                cursor=cursor,
            )
            messages.extend(response.get("messages") or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
    except SLACK_FAILURES as exc:
        log.info("thread context unavailable: %s", describe(exc))
    return messages


def unseen_messages(
    messages: Sequence[Mapping[str, Any]],
    *,
    current_ts: str | None,
    oldest: str | None,
    bot: BotIdentity,
    limit: int = PER_PAGE,
) -> list[Said]:
    """What people wrote, oldest first, not addressed to the bot (pure)."""
    unique = {str(m.get("ts")): m for m in messages}  # the parent may repeat per page
    ordered = sorted(unique.values(), key=lambda m: ts_order(str(m.get("ts"))))
    said: list[Said] = []
    for message in ordered[-limit:]:
        ts, user, text = message.get("ts"), message.get("user"), message.get("text") or ""
        if not isinstance(ts, str) or not isinstance(user, str) or ts == current_ts:
            continue
        if oldest and ts_order(ts) <= ts_order(oldest):
            continue
        if message.get("bot_id") or user == bot.user_id:
            continue
        if message.get("subtype") not in _PEOPLE_SUBTYPES:
            continue
        if bot.user_id and f"<@{bot.user_id}" in str(text):
            continue  # a mention is a turn of its own
        said.append(Said(user, str(text).strip()))
    return said


def thread_history(
    messages: Sequence[Mapping[str, Any]],
    *,
    bot: BotIdentity,
    before: str | None = None,
    limit: int = PER_PAGE * SEED_PAGES,
) -> list[Said]:
    """What people and the bot wrote in the thread before ``before``, oldest first (pure):
    other bots, edits and joins left out, mentions of the bot taken out of the text."""
    unique = {str(m.get("ts")): m for m in messages}  # the parent may repeat per page
    ordered = sorted(unique.values(), key=lambda m: ts_order(str(m.get("ts"))))
    said: list[Said] = []
    for message in ordered[-limit:]:
        ts, user, text = message.get("ts"), message.get("user"), message.get("text") or ""
        if not isinstance(ts, str) or (before and ts_order(ts) >= ts_order(before)):
            continue
        ours = bool(bot.user_id and user == bot.user_id) or bool(
            bot.bot_id and message.get("bot_id") == bot.bot_id
        )
        if not ours and (not isinstance(user, str) or message.get("bot_id")):
            continue
        if not ours and message.get("subtype") not in _PEOPLE_SUBTYPES:
            continue
        cleaned = strip_mentions(str(text), bot.user_id)
        if cleaned:
            said.append(Said(str(user or bot.user_id or ""), cleaned, by_bot=ours))
    return said


def context_block(
    entries: Sequence[tuple[str, str]],
    max_chars: int = MAX_CHARS,
    *,
    header: str = CONTEXT_HEADER,
) -> str | None:
    """The block Claude reads, from ``(author, text)`` pairs oldest first (pure).

    Each message is its author's label on a line of its own, then its text quoted line by
    line (``quote``), so nothing written in the thread can pass for an author header or for
    the bot's own words. When the whole is too long, the oldest messages are left out (and
    the block says so); a single message too long on its own keeps its end.
    """
    if not entries:
        return None
    rendered = [f"- {author}:\n{quote(text)}" for author, text in entries]
    kept: list[str] = []
    size = 0
    for item in reversed(rendered):
        if kept and size + len(item) + 1 > max_chars:
            break
        kept.append(item)
        size += len(item) + 1
    kept.reverse()
    if len(kept) == 1 and len(kept[0]) > max_chars:
        author, text = entries[-1]
        kept = [f"- {author}:\n{quote('…' + text[-max_chars:])}"]
    lines = [header]
    if len(kept) < len(rendered):
        lines.append(f"(the {len(rendered) - len(kept)} oldest messages are left out)")
    return "\n".join([*lines, *kept])


def ts_order(ts: str) -> tuple[int, int]:
    """A Slack ``ts`` as a sortable pair (its string form does not sort numerically)."""
    seconds, _, fraction = ts.partition(".")
    try:
        return int(seconds), int(fraction or 0)
    except ValueError:
        return 0, 0
