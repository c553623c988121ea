"""Where an answer, a note or a notice goes: the ``ReplyRouter``.

* An answer goes back to the surface the message came from (streamed in Slack, a comment on
  an issue or ticket). When it is posted anywhere but Slack, the session's Slack thread (its
  *home*) gets a one-line notice with a link to where it was answered.
* A one-off note (an error, a command's answer) goes where the message came from.
* A result with no originating surface (a background job) goes to the first surface of the
  session in ``route`` order: Jira, then Slack, then GitHub by default.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from app.core import ConversationKey, Inbound
from app.errors import IntegrationError
from app.store.base import KeyLink, Store
from app.surfaces.base import PostedLog, Reply, Surface, SurfaceRegistry

log = logging.getLogger(__name__)

RESULT_ROUTE: Final = ("jira", "slack", "github")


class ReplyRouter:
    def __init__(
        self,
        surfaces: SurfaceRegistry,
        store: Store,
        *,
        route: Sequence[str] = RESULT_ROUTE,
    ) -> None:
        self._surfaces = surfaces
        self._store = store
        self._route = tuple(route)

    def surface_of(self, inbound: Inbound) -> Surface:
        return self._surfaces[inbound.source]

    def reply(self, inbound: Inbound, session_id: str, log_: PostedLog) -> Reply:
        """The visible answer to ``inbound``, on its own surface."""

        surface = self.surface_of(inbound)

        async def notice_home() -> None:
            if surface is not self._surfaces.home:
                await self.notice_home(session_id, _answered_elsewhere(inbound))

        return surface.reply(inbound, log_, notice_home)

    async def notify(self, inbound: Inbound, text: str) -> None:
        """A one-off note where ``inbound`` was written; raises ``IntegrationError``."""
        surface = self._surfaces.get(inbound.source)
        if surface is not None:
            await surface.notify(inbound, text)

    async def home(self, session_id: str) -> ConversationKey | None:
        """The session's conversation on the home surface (its Slack thread), if any."""
        home = self._surfaces.home
        if home is None:
            return None
        for link in await self._store.keys_for(session_id):
            key = ConversationKey.parse(link.key)
            if key.platform == home.platform:
                return key
        return None

    async def notice_home(self, session_id: str, text: str) -> None:
        """Tell the session's Slack thread something (best effort: a failure is logged)."""
        home, key = self._surfaces.home, await self.home(session_id)
        if home is None or key is None:
            return
        try:
            await home.notify_key(key, text)
        except IntegrationError as exc:
            log.warning("%s notice not posted: %s", home.title, exc)

    async def home_link(self, inbound: Inbound, session_id: str) -> str | None:
        """A link to the session's Slack thread (for footers of filed items)."""
        home = self._surfaces.home
        if home is None:
            return None
        if self.surface_of(inbound) is home:
            return await home.link(ConversationKey.parse(inbound.key), inbound)
        key = await self.home(session_id)
        return None if key is None else await home.link(key)

    def result_destination(self, links: Sequence[KeyLink]) -> ConversationKey | None:
        """Where a result with no originating surface goes: the first configured surface of
        the session in route order (Jira > Slack > GitHub by default)."""
        keys = [ConversationKey.parse(link.key) for link in links]
        for platform in self._route:
            if platform not in self._surfaces:
                continue
            for key in keys:
                if key.platform == platform:
                    return key
        return None


def _answered_elsewhere(inbound: Inbound) -> str:
    where = f"<{inbound.item_url}|{inbound.item_ref}>" if inbound.item_url else inbound.item_ref
    who = inbound.author_name or inbound.author_id
    return f"{who} commented on {where}; I answered there."
