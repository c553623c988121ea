"""Who can read a Slack channel: the workspace only, or another organisation too.

A channel shared with another organisation (Slack Connect) is ``PUBLIC``: what is said inside
the company must not be posted there. Events usually say so themselves
(``is_ext_shared_channel``, read at the edge); when they do not, ``conversations.info`` is
asked and its answer kept for a while per channel. A failed lookup is not kept and reads as
``PUBLIC``: not knowing who reads a place is no reason to show it internal content.

=================================  =========================================
``conversations.info`` answers     audience
=================================  =========================================
``is_im``                          ``INTERNAL`` (a DM with the bot)
``is_ext_shared`` or
``is_pending_ext_shared``          ``PUBLIC`` (pending: history becomes visible on acceptance)
anything else                      ``INTERNAL`` (a workspace or org-wide channel)
an error, a timeout, no channel    ``PUBLIC``, asked again next time
=================================  =========================================
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Final

from slack_sdk.web.async_client import AsyncWebClient

from app.core import Audience
from app.slack.failures import SLACK_FAILURES, describe

log = logging.getLogger(__name__)

CACHE_SECONDS: Final = 600.0


def channel_audience(channel: Mapping[str, Any]) -> Audience:
    """The audience of a channel described by ``conversations.info`` (pure)."""
    if channel.get("is_ext_shared") or channel.get("is_pending_ext_shared"):
        return Audience.PUBLIC  # a DM with someone of another organisation too
    return Audience.INTERNAL


class ChannelAudiences:
    """``conversations.info`` per channel, answers kept ``ttl`` seconds (LRU-bounded)."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        ttl: float = CACHE_SECONDS,
        size: int = 2000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._size = size
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, Audience]] = OrderedDict()

    async def of(self, channel: str) -> Audience:
        now = self._clock()
        hit = self._cache.get(channel)
        if hit and now - hit[0] < self._ttl:
            self._cache.move_to_end(channel)
            return hit[1]
        try:
            response = await self._client.conversations_info(channel=channel)
        except SLACK_FAILURES as exc:
            # channels:read / groups:read missing shows up here as missing_scope.
            log.warning(
                "conversations.info failed for %s (%s): treating it as public",
                channel,
                describe(exc),
            )
            return Audience.PUBLIC
        info = response.get("channel")
        if not isinstance(info, dict):
            return Audience.PUBLIC
        audience = channel_audience(info)
        self._cache[channel] = (now, audience)
        self._cache.move_to_end(channel)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return audience
