"""Following a thread (``FOLLOW_THREADS``): which channel messages without a mention are answered.

Once the bot has answered in a channel thread (a live session holds the thread's key), later
messages there from people are answered as if they mentioned it, unless someone muted the
thread (``@bot mute``; ``@bot unmute`` undoes it). Needs the ``message.channels`` (and, for
private channels, ``message.groups``) events. A message is followed only when it is:

* a person's new message (not a bot's, not an edit or a deletion, not Slack's own
  ``USLACKBOT`` notices), in a thread of a channel (never a channel's top level; DMs are
  answered anyway);
* not addressed to the bot already (a mention goes the usual way, so the ``app_mention`` and
  ``message`` events of one message still give one answer);
* not addressed to someone else: one that starts with another person's or a group's mention
  (``<@U2> can you…``, ``<!subteam^S1>``) is left to them;
* in a thread whose key resolves to a live session, and that is not muted.

The first three are read from the payload alone (``thread_message``, pure); the last needs the
store (``Following.followed``), so it raises ``StoreError`` when the store is down, and the edge
answers 503 for Slack to deliver the event again. The pipeline checks the mute once more when
the message's turn comes (a mute typed just before it is honoured).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Protocol

from app.config import ActionSettings
from app.core import Inbound
from app.slack.events import BotIdentity, inbound_from_event
from app.store.base import Session

_LEADING_MENTION = re.compile(r"^\s*<(@[UW][A-Z0-9]+|!subteam\^[A-Z0-9]+)[|>]")


class FollowStore(Protocol):
    """What following needs of the store."""

    async def resolve(self, key: str) -> Session | None: ...

    async def is_muted(self, key: str) -> bool: ...


def addressed_to_someone_else(text: str, bot_user_id: str | None) -> bool:
    """Whether ``text`` starts with a mention of a person (not the bot) or of a group."""
    match = _LEADING_MENTION.match(text)
    return match is not None and match.group(1) != f"@{bot_user_id}"


def thread_message(
    body: dict[str, Any],
    *,
    agent: str,
    bot: BotIdentity,
    max_chars: int = ActionSettings.max_message_chars,
) -> Inbound | None:
    """A person's message in a channel thread that no mention addresses (to the bot or to
    someone else), as the ``Inbound`` to answer if the bot follows the thread; else None."""
    event = body.get("event")
    if body.get("type") != "event_callback" or not isinstance(event, dict):
        return None
    if event.get("type") != "message":
        return None
    ts, thread_ts = event.get("ts"), event.get("thread_ts")
    if not isinstance(thread_ts, str) or thread_ts == ts:
        return None  # a channel's top level: only a mention starts a conversation there
    raw = event.get("text")
    text = raw if isinstance(raw, str) else ""
    if bot.user_id and f"<@{bot.user_id}" in text:
        return None  # a mention: answered the usual way
    if addressed_to_someone_else(text, bot.user_id):
        return None
    inbound = inbound_from_event(
        body, agent=agent, bot=bot, max_chars=max_chars, mentioned_only=False
    )
    if inbound is None or inbound.is_dm:
        return None
    return replace(inbound, followed=True)


class Following:
    """Decides, with the store, whether the bot answers an unmentioned thread message."""

    def __init__(self, store: FollowStore, *, agent: str) -> None:
        self._store = store
        self._agent = agent

    async def followed(
        self, body: dict[str, Any], *, bot: BotIdentity, max_chars: int
    ) -> Inbound | None:
        """The message to answer, or None; ``StoreError`` when the store cannot say."""
        inbound = thread_message(body, agent=self._agent, bot=bot, max_chars=max_chars)
        if inbound is None:
            return None
        if await self._store.resolve(inbound.key) is None:
            return None  # the bot has not answered here (or the conversation ended)
        if await self._store.is_muted(inbound.key):
            return None
        return inbound
