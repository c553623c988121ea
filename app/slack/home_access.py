"""Who gets a real App Home tab, and who the neutral line (``home_view.refused_view``).

The access policy decides, as for messages: someone outside ``ALLOWED_USERS`` is left out
(unless in ``APPROVERS``, who decide approvals whatever the list says), and so is someone of
another organisation when ``EXTERNAL_USERS=ignore``. ``app_home_opened`` does not say which
organisation a person is of, so that is asked of Slack (``users.info``: a stranger, or a team
that is not the bot's, from ``auth.test``) once per person and kept for ``KEEP_SECONDS``, in a
cache of at most ``MAX_PEOPLE``; only with ``EXTERNAL_USERS=ignore`` is Slack asked at all.
A Slack failure raises (the caller publishes nothing rather than guess).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from slack_sdk.web.async_client import AsyncWebClient

from app.config import Settings

KEEP_SECONDS: Final = 3600.0
MAX_PEOPLE: Final = 1000


class HomeAccess:
    """Tells whether a person's Home tab is the neutral line (see the module docstring)."""

    def __init__(
        self,
        client: AsyncWebClient,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._settings = settings
        self._clock = clock
        self._team: str | None = None
        self._outsiders: OrderedDict[str, tuple[float, bool]] = OrderedDict()

    async def left_out(self, user: str) -> bool:
        """Whether the access policy leaves ``user`` out; raises Slack's errors
        (``SLACK_FAILURES``) when it must ask Slack and cannot."""
        trust, approvers = self._settings.trust, self._settings.actions.approvers
        if trust.allowed_users and user not in trust.allowed_users and user not in approvers:
            return True
        if trust.external_users != "ignore":
            return False
        return await self._outsider(user)

    async def _outsider(self, user: str) -> bool:
        now = self._clock()
        known = self._outsiders.get(user)
        if known is not None and now - known[0] < KEEP_SECONDS:
            return known[1]
        if self._team is None:
            team = (await self._client.auth_test()).get("team_id")
            self._team = team if isinstance(team, str) and team else None
        info = (await self._client.users_info(user=user)).get("user") or {}
        team = info.get("team_id")
        outsider = bool(info.get("is_stranger")) or (
            self._team is not None and isinstance(team, str) and team != self._team
        )
        self._outsiders[user] = (now, outsider)
        self._outsiders.move_to_end(user)
        while len(self._outsiders) > MAX_PEOPLE:
            self._outsiders.popitem(last=False)
        return outsider
