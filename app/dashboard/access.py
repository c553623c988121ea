"""Which conversations a viewer may see: everything, or those of their own Slack channels.

``DASHBOARD_ADMINS`` and operators signed in with ``DASHBOARD_TOKEN`` see everything of this
bot. Anyone else sees a conversation when one of its Slack keys of this bot
(``{agent}:slack:{channel}::{thread}``, ``agent`` being ``AGENT_NAME``) is in a channel they
are a member of, or is their own DM with the bot. Membership is asked of
Slack with the bot token (``users.conversations`` for the person, ``conversations.open`` for
their DM with the bot: it answers the existing DM) and kept ``MEMBERSHIP_TTL_SECONDS`` per
person, so leaving a channel hides it within a minute.

A conversation without a Slack key (a ticket or issue never discussed in Slack, a dashboard
conversation) is seen by admins only. Several bots may share one database: another bot's
conversations are nobody's here, not even an admin's (``visible_session`` checks the
session's ``agent``; lists ask the store for this bot's only). A forbidden conversation is
answered like a missing one (404), never 403, so nobody learns that it exists. When Slack
cannot tell who is in what (down, rate limited), the answer is 503: never a guess.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import aiohttp
from aiohttp import web
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from app.core.keys import ConversationKey

if TYPE_CHECKING:
    from app.dashboard.auth import Viewer
    from app.dashboard.deps import DashboardDeps

log = logging.getLogger(__name__)

MEMBERSHIP_TTL_SECONDS: Final = 60.0
MAX_CACHED_PEOPLE: Final = 1000
# users.conversations pages of 200: enough for 4,000 channels a person is in.
PAGE_SIZE: Final = 200
MAX_PAGES: Final = 20
# DMs are not asked for here: the person's DM with the bot comes from conversations.open.
CHANNEL_TYPES: Final = "public_channel,private_channel,mpim"


@dataclass(frozen=True)
class Scope:
    """What one viewer may see of bot ``agent``'s conversations: ``everything``, or those of
    ``channels``."""

    everything: bool
    channels: frozenset[str]
    agent: str

    def allows(self, keys: Iterable[str]) -> bool:
        """Whether a conversation of this bot with these linked keys is visible."""
        if self.everything:
            return True
        for key in keys:
            channel = slack_channel(key, self.agent)
            if channel is not None and channel in self.channels:
                return True
        return False


def slack_channel(key: str, agent: str) -> str | None:
    """The channel of bot ``agent``'s Slack conversation key, else None (another bot's key
    names a channel of no conversation here)."""
    try:
        parsed = ConversationKey.parse(key)
    except ValueError:
        return None
    if parsed.agent != agent or parsed.platform != "slack":
        return None
    channel, _ = parsed.slack_place
    return channel or None


async def scope_of(deps: DashboardDeps, viewer: Viewer) -> Scope:
    """The viewer's scope; 503 (``web.HTTPServiceUnavailable``) when Slack cannot say."""
    if viewer.admin:
        return Scope(True, frozenset(), deps.agent)
    if viewer.user_id is None:
        return Scope(False, frozenset(), deps.agent)
    channels = await deps.memberships.channels_of(deps.slack, viewer.user_id)
    return Scope(False, channels, deps.agent)


class Memberships:
    """Each person's channels as Slack says, cached briefly (per process, bounded)."""

    def __init__(self, ttl: float = MEMBERSHIP_TTL_SECONDS) -> None:
        self._ttl = ttl
        self._cache: OrderedDict[str, tuple[float, frozenset[str]]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def channels_of(self, slack: AsyncWebClient, user_id: str) -> frozenset[str]:
        cached = self._fresh(user_id)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        try:
            async with lock:  # one person's many tabs ask Slack once
                cached = self._fresh(user_id)
                if cached is not None:
                    return cached
                channels = await _ask_slack(slack, user_id)
                self._cache[user_id] = (time.monotonic(), channels)
                self._cache.move_to_end(user_id)
                while len(self._cache) > MAX_CACHED_PEOPLE:
                    self._cache.popitem(last=False)
                return channels
        finally:
            if not lock.locked():
                self._locks.pop(user_id, None)

    def forget(self, user_id: str) -> None:
        self._cache.pop(user_id, None)

    def _fresh(self, user_id: str) -> frozenset[str] | None:
        entry = self._cache.get(user_id)
        if entry is None or time.monotonic() - entry[0] > self._ttl:
            return None
        return entry[1]


async def _ask_slack(slack: AsyncWebClient, user_id: str) -> frozenset[str]:
    channels: set[str] = set()
    try:
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            answer = await slack.users_conversations(
                user=user_id, types=CHANNEL_TYPES, limit=PAGE_SIZE, cursor=cursor
            )
            channels.update(_ids(answer.get("channels")))
            cursor = (answer.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
    except SlackApiError as exc:
        if exc.response.get("error") not in ("user_not_found", "user_not_visible"):
            raise _unavailable(user_id, exc) from None
        log.info("dashboard viewer %s: Slack does not know them; nothing visible", user_id)
        return frozenset()
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        raise _unavailable(user_id, exc) from None
    dm = await _dm_with_bot(slack, user_id)
    return frozenset(channels | ({dm} if dm else set()))


async def _dm_with_bot(slack: AsyncWebClient, user_id: str) -> str | None:
    """The person's DM with the bot (``conversations.open`` answers the existing one), or
    None when Slack will not have one (a deactivated person, another bot)."""
    try:
        answer = await slack.conversations_open(users=user_id)
    except SlackApiError as exc:
        status = exc.response.status_code
        if status == 429 or status >= 500 or exc.response.get("error") == "ratelimited":
            raise _unavailable(user_id, exc) from None
        log.info("no DM with %s: Slack says %s", user_id, exc.response.get("error"))
        return None
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        raise _unavailable(user_id, exc) from None
    channel = answer.get("channel")
    if isinstance(channel, dict) and isinstance(channel.get("id"), str):
        return str(channel["id"])
    return None


def _ids(items: Any) -> set[str]:
    if not isinstance(items, list):
        return set()
    return {c["id"] for c in items if isinstance(c, dict) and isinstance(c.get("id"), str)}


def _unavailable(user_id: str, exc: Exception) -> web.HTTPServiceUnavailable:
    reason = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
    log.warning("channels of %s unknown: %s", user_id, reason)
    return web.HTTPServiceUnavailable(
        text="Slack could not tell which channels you are in right now. Try again in a minute.",
        headers={"Retry-After": "30"},
    )
