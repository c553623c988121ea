"""Display names of Slack users, looked up once and kept in a small bounded cache.

Names are chosen by the people they name, so they come out cleaned (``clean_name``): no line
breaks, brackets or ``<>``, so a name can neither pose as an author header nor ping anyone.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

from slack_sdk.web.async_client import AsyncWebClient

from app.core.text import clean_name
from app.slack.failures import SLACK_FAILURES, describe

log = logging.getLogger(__name__)


FAILURE_TTL = 60.0


class UserNames:
    """``users.info`` lookups, LRU-bounded so memory stays flat however many people write."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        size: int = 2000,
        ttl: float = 3600,
        failure_ttl: float = FAILURE_TTL,
    ) -> None:
        self._failure_ttl = failure_ttl
        self._client = client
        self._size = size
        self._ttl = ttl
        self._cache: OrderedDict[str, tuple[float, str | None]] = OrderedDict()

    async def name(self, user_id: str) -> str | None:
        """The user's display name, cleaned; None when Slack does not say (or fails)."""
        hit = self._cache.get(user_id)
        now = time.monotonic()
        if hit and now - hit[0] < self._ttl:
            self._cache.move_to_end(user_id)
            return hit[1]
        name: str | None = None
        try:
            response = await self._client.users_info(user=user_id)
            user = response.get("user") or {}
            profile = user.get("profile") or {}
            chosen = (
                profile.get("display_name")
                or profile.get("real_name")
                or user.get("real_name")
                or user.get("name")
            )
            name = (clean_name(str(chosen), fallback="") or None) if chosen else None
        except SLACK_FAILURES as exc:
            # A name is a nicety: the transcript still carries the user id. Remembered only
            # for a minute, so a passing rate limit does not hide names for an hour.
            log.warning("users.info failed for %s: %s", user_id, describe(exc))
            now -= max(self._ttl - self._failure_ttl, 0)
        self._cache[user_id] = (now, name)
        self._cache.move_to_end(user_id)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return name
