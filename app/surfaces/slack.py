"""The Slack surface: threads and DMs of the bot's workspace.

A Slack message is the only thing that starts a conversation. Answers stream into the thread
(``SlackReply``); commands (``reset``, ``links``) are typed after a mention or in a DM; before
a turn in a channel thread, what people said there since the bot last looked is fetched and
quoted for Claude, each message under its author's cleaned name.

A place's audience is what the event said at the edge; otherwise a DM is internal and a
channel is asked of Slack (``ChannelAudiences``: shared with another organisation is public).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from app.core import Audience, ConversationKey, Inbound
from app.core.text import clean_name
from app.errors import IntegrationError
from app.slack import history
from app.slack.assistant import AssistantThreads
from app.slack.channels import ChannelAudiences
from app.slack.events import BotIdentity, command_of
from app.slack.failures import SLACK_FAILURES, describe
from app.slack.feedback import feedback_block
from app.slack.format import new_message
from app.slack.names import UserNames
from app.slack.reply import SlackReply
from app.surfaces.base import Command, OnPosted, PostedLog, PreviousMessage, Reply

log = logging.getLogger(__name__)


class SlackSurface:
    platform = "slack"
    title = "Slack"
    starts_conversations = True
    is_item = False

    def __init__(
        self,
        client: AsyncWebClient,
        names: UserNames,
        bot: Callable[[], BotIdentity],
        places: ChannelAudiences | None = None,
        *,
        assistant: AssistantThreads | None = None,
        first_time: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self._client = client
        self._names = names
        self._bot = bot
        self._places = places or ChannelAudiences(client)
        # Titles assistant threads after their first answer (``first_time``: remember_once).
        self._assistant = assistant
        self._first_time = first_time

    def item_label(self, key: ConversationKey) -> str:
        channel, thread = key.slack_place
        return f"Slack thread {channel}/{thread}" if thread else f"Slack DM {channel}"

    def author_header(self, inbound: Inbound) -> str:
        author = clean_name(inbound.author_id)
        return f"[{clean_name(inbound.author_name, author)} ({author}) in Slack]"

    async def audience(self, inbound: Inbound) -> Audience:
        if inbound.audience:
            return Audience(inbound.audience)
        if inbound.is_dm or not inbound.channel:
            return Audience.INTERNAL
        return await self._places.of(inbound.channel)

    async def place_audience(self, key: ConversationKey) -> Audience:
        channel, _ = key.slack_place
        return await self._places.of(channel)

    def command_of(self, inbound: Inbound) -> Command | None:
        return None if inbound.followed else command_of(inbound.text)

    async def prepare(self, inbound: Inbound) -> Inbound:
        return replace(inbound, author_name=await self._names.name(inbound.author_id))

    async def context(self, inbound: Inbound, previous: PreviousMessage) -> str | None:
        if inbound.is_dm or not inbound.channel:
            return None
        if not inbound.thread_ts or inbound.thread_ts == inbound.ts:
            return None  # a new thread: nothing was said before
        before = await previous()
        oldest = before.ts if before else None
        messages = await history.fetch_replies(
            self._client,
            channel=inbound.channel,
            thread_ts=inbound.thread_ts,
            latest=inbound.ts,
            oldest=oldest,
        )
        said = history.unseen_messages(
            messages, current_ts=inbound.ts, oldest=oldest, bot=self._bot()
        )
        entries = []
        for s in said:
            author = clean_name(s.user)
            entries.append(
                (f"{clean_name(await self._names.name(s.user), author)} ({author})", s.text)
            )
        return history.context_block(entries)

    async def seed(self, key: ConversationKey, *, before: str | None = None) -> str | None:
        """The thread as people see it (their messages and the bot's replies, authors named),
        newest kept within the context budget; None for a DM's top level."""
        channel, thread = key.slack_place
        if not thread:
            return None
        messages = await history.fetch_replies(
            self._client,
            channel=channel,
            thread_ts=thread,
            latest=before,
            oldest=None,
            pages=history.SEED_PAGES,
        )
        entries = []
        for s in history.thread_history(messages, bot=self._bot(), before=before):
            author = clean_name(s.user)
            if s.by_bot:
                entries.append(("You (the assistant), earlier", s.text))
            else:
                name = clean_name(await self._names.name(s.user), author)
                entries.append((f"{name} ({author})", s.text))
        return history.context_block(entries, header=history.SEED_HEADER)

    def reply(self, inbound: Inbound, log: PostedLog, on_posted: OnPosted) -> Reply:
        assert inbound.channel is not None

        async def remember(posted: dict[str, object]) -> None:
            await log.slack_posted(str(posted["ts"]))

        return SlackReply(
            self._client,
            channel=inbound.channel,
            thread_ts=inbound.thread_ts,
            team_id=inbound.team_id or self._bot().team_id,
            user_id=inbound.author_id,
            on_posted=remember,
            existing_ts=log.slack_messages,
            on_removed=log.slack_removed,
            stop_key=inbound.key,
            final_blocks=[feedback_block(log.turn_id)],
            on_finished=self._title(inbound),
        )

    def _title(self, inbound: Inbound) -> Callable[[], Awaitable[None]] | None:
        """What titles an assistant thread (a thread in the bot's DM) after an answer."""
        assistant, first_time = self._assistant, self._first_time
        channel, thread = inbound.channel, inbound.thread_ts
        if assistant is None or first_time is None or not (inbound.is_dm and channel and thread):
            return None

        async def title() -> None:
            await assistant.title_once(channel, thread, inbound.text, first_time)

        return title

    async def notify(self, inbound: Inbound, text: str) -> None:
        if inbound.channel:
            await self._post(inbound.channel, inbound.thread_ts, text)

    async def notify_key(
        self, key: ConversationKey, text: str, *, answer_of: str | None = None
    ) -> None:
        channel, thread = key.slack_place
        blocks = [feedback_block(answer_of)] if answer_of else []
        await self._post(channel, thread, text, blocks)

    async def link(self, key: ConversationKey, inbound: Inbound | None = None) -> str | None:
        if inbound is not None and inbound.channel:
            channel, thread = inbound.channel, inbound.thread_ts or inbound.ts
        else:
            channel, thread = key.slack_place
        if not thread:
            return None
        try:
            response = await self._client.chat_getPermalink(channel=channel, message_ts=thread)
        except SLACK_FAILURES:
            return None
        return str(response.get("permalink") or "") or None

    async def _post(
        self, channel: str, thread: str | None, text: str, extra: Sequence[dict[str, Any]] = ()
    ) -> None:
        message = new_message(text, thread_ts=thread)
        try:
            try:
                await self._client.chat_postMessage(
                    channel=channel, **{**message, "blocks": [*message["blocks"], *extra]}
                )
            except SlackApiError as exc:
                if not extra or exc.response.get("error") != "invalid_blocks":
                    raise
                log.warning("Slack refused the blocks under a message; it is posted without them")
                await self._client.chat_postMessage(channel=channel, **message)
        except SLACK_FAILURES as exc:
            raise IntegrationError("slack", describe(exc)) from exc
