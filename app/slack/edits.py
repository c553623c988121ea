"""A Slack message edited or deleted by its author: what Claude remembers of it changes too.

``edit_from_event`` reads ``message_changed`` (the edited message in ``event.message``) and
``message_deleted`` (``deleted_ts``) events; ``rewrite_edited`` is the pure rewrite the store
applies to the content of each transcript message recorded for that Slack message (``ref``,
the same string as ``delivery_id``). The Bolt middleware applies them against the store.

A user message is stored as ``[{"type": "text", "text": "[Name (U1) in Slack]\\n<text>"},
...]`` (maybe followed by the thread context quoted with it). The rewrite keeps the header,
replaces the body with the new text (or ``[deleted by author]``) and drops the further text
blocks. Only a message whose header names the editor is changed, so nobody can rewrite what
someone else said, and rewriting twice changes nothing more (Slack redelivers events).

Ignored: edits by someone other than the author, the bot's own messages, changes that leave
the text as it was (Slack sends ``message_changed`` for unfurls and reply counts too).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from app.slack.events import BotIdentity
from app.slack.format import strip_mentions

DELETED: Final = "[deleted by author]"

# Builds the stored form of a user message from a header and a text (``user_message``).
Render = Callable[[str, str], dict[str, Any]]


@dataclass(frozen=True)
class MessageEdit:
    """A person's own message, changed (``text``) or deleted (``text`` None)."""

    channel: str
    ts: str
    user: str | None  # the author; None when a deletion does not say
    text: str | None

    @property
    def ref(self) -> str:
        """The id the message was recorded under (``app.slack.events.delivery_id``)."""
        return f"slack:{self.channel}:{self.ts}"

    @property
    def cause(self) -> str:
        who = self.user or "its author"
        return f"Slack message {'edited' if self.text is not None else 'deleted'} by {who}"


def edit_from_event(body: dict[str, Any], *, bot: BotIdentity) -> MessageEdit | None:
    """The edit or deletion an Events API payload reports, or None (pure)."""
    if body.get("type") != "event_callback":
        return None
    event = body.get("event")
    if not isinstance(event, dict) or event.get("type") != "message":
        return None
    channel = event.get("channel")
    if not isinstance(channel, str) or not channel:
        return None
    subtype = event.get("subtype")
    previous = event.get("previous_message")
    previous = previous if isinstance(previous, dict) else {}
    if subtype == "message_changed":
        message = event.get("message")
        if not isinstance(message, dict):
            return None
        user = message.get("user")
        ts = message.get("ts") or previous.get("ts")
        text = message.get("text")
        if not (isinstance(user, str) and isinstance(ts, str) and isinstance(text, str)):
            return None
        edited = message.get("edited")
        editor = edited.get("user") if isinstance(edited, dict) else None
        if editor is not None and editor != user:
            return None  # someone else (an admin) edited it: not the author's words
        if _from_bot(message, bot) or previous.get("text") == text:
            return None
        return MessageEdit(channel, ts, user, strip_mentions(text, bot.user_id))
    if subtype == "message_deleted":
        ts = event.get("deleted_ts")
        if not isinstance(ts, str) or _from_bot(previous, bot):
            return None
        user = previous.get("user")
        return MessageEdit(channel, ts, user if isinstance(user, str) else None, None)
    return None


def _from_bot(message: dict[str, Any], bot: BotIdentity) -> bool:
    user = message.get("user")
    return bool(message.get("bot_id")) or (user is not None and user == bot.user_id)


_HEADER: Final = re.compile(r"^\[[^\n]*\((?P<user>[^()\s]+)\) in Slack\]$")


def rewrite_edited(
    content: list[dict[str, Any]], *, edit: MessageEdit, render: Render
) -> list[dict[str, Any]]:
    """The content of a stored user message after ``edit`` (pure): unchanged unless its
    header names the edit's author."""
    if not content or not isinstance(content[0], dict) or content[0].get("type") != "text":
        return content  # tool results and the like
    first = content[0]
    header, _, _ = str(first.get("text") or "").partition("\n")
    match = _HEADER.match(header)
    if match is None or (edit.user is not None and match.group("user") != edit.user):
        return content
    if edit.text is None:
        return [{**first, "text": f"{header}\n{DELETED}"}]
    others = [b for b in content[1:] if not (isinstance(b, dict) and b.get("type") == "text")]
    text = str(render(header, edit.text)["content"][0]["text"])
    return [{**first, "text": text}, *others]
