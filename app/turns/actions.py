"""What a turn may do, and how much: its tools behind the write gate, the limits it must pass,
and what happens to an approval click.

* **Tools.** A turn offers the full toolbox to the organisation's people and none to people of
  another organisation (unless ``EXTERNAL_USERS=full``). Write tools go through a
  ``WriteGate``: at most ``MAX_WRITES_PER_TURN`` per turn, and an approval card first where
  ``TOOL_APPROVAL`` says so. The gate sits inside ``ReplayingTools``, so a retried delivery gets
  its earlier results back instead of asking or filing twice.
* **Limits.** Before any model call a message must pass the hourly rates and daily budgets
  (``Limits``); a refused one gets a short note and no model call. Tokens a turn spent are
  recorded after it.
* **Clicks.** An approval click is a delivery like a message; its outcome (ran, declined,
  expired) comes back as a new turn in the same conversation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from slack_sdk.web.async_client import AsyncWebClient

from app.agent.tools.base import Toolbox, ToolContext, ToolRegistry
from app.config import ActionSettings
from app.core import ConversationKey, Inbound, KeyClaim
from app.slack.events import BotIdentity
from app.slack.names import UserNames
from app.store.base import Approval, Store
from app.surfaces.base import SurfaceRegistry
from app.turns.approvals import ApprovalDecider
from app.turns.limits import Limits, Refusal
from app.turns.outcome import new_turn_id
from app.turns.routing import ReplyRouter
from app.turns.writes import CardThread, WriteGate, slack_card_thread

log = logging.getLogger("app.turn")

# The approval card thread of a conversation key (None: it has no Slack thread).
CardThreads = Callable[[ConversationKey | None], CardThread | None]


@dataclass(frozen=True)
class TurnActions:
    """The pieces above, configured once for the app (``None`` parts are switched off)."""

    settings: ActionSettings
    limits: Limits | None = None
    cards: CardThreads | None = None
    decider: ApprovalDecider | None = None
    on_asked: Callable[[Approval], None] | None = None  # an approval card was posted

    def toolbox(
        self,
        tools: Toolbox,
        *,
        store: Store,
        inbound: Inbound,
        from_comment: bool,
        may_use_tools: bool,
        home: Callable[[str], Awaitable[ConversationKey | None]],
    ) -> Toolbox:
        """The tools one turn offers (see the module doc)."""
        offered = tools if may_use_tools else ToolRegistry()
        cards = self.cards

        async def card_thread(session_id: str) -> CardThread | None:
            return None if cards is None else cards(await home(session_id))

        return WriteGate(
            offered,
            approvals=store,
            settings=self.settings,
            inbound=inbound,
            from_comment=from_comment,
            card_thread=card_thread,
            on_asked=self.on_asked,
        )

    async def admit(self, inbound: Inbound) -> Refusal | None:
        """Whether ``inbound`` may start a model call now (raises ``StoreError``)."""
        return None if self.limits is None else await self.limits.admit(inbound)

    def spend_scopes(self, inbound: Inbound) -> list[str]:
        """Where a turn's tokens are recorded (by its commit); none without limits."""
        return [] if self.limits is None else self.limits.spend_scopes(inbound)


def build_turn_actions(
    settings: ActionSettings,
    *,
    store: Store,
    slack: AsyncWebClient,
    tools: Toolbox,
    surfaces: SurfaceRegistry,
    agent: str,
    bot: Callable[[], BotIdentity],
    names: UserNames | None,
    clock: Callable[[], datetime],
    on_asked: Callable[[Approval], None] | None = None,
) -> TurnActions:
    """The app's ``TurnActions``: limits on the store, approval cards in Slack threads
    (``on_asked`` is told of each card posted)."""
    router = ReplyRouter(surfaces, store)

    async def context_for(approval: Approval) -> ToolContext:
        turn_id = new_turn_id()
        home = await router.home(approval.session_id)

        async def link_key(key: str, url: str | None) -> KeyClaim:
            return await store.register_key(key, approval.session_id, url=url, turn_id=turn_id)

        async def thread_link() -> str | None:
            surface = surfaces.home
            return None if surface is None or home is None else await surface.link(home)

        return ToolContext(
            session_id=approval.session_id,
            turn_id=turn_id,
            agent=agent,
            source_key=str(home) if home is not None else "",
            link_key=link_key,
            thread_link=thread_link,
            author_id=approval.asked_by,
        )

    return TurnActions(
        settings=settings,
        limits=Limits(store, settings, clock),
        cards=partial(slack_card_thread, slack),
        on_asked=on_asked,
        decider=ApprovalDecider(
            store=store,
            client=slack,
            settings=settings,
            agent=agent,
            tools=tools,
            context_for=context_for,
            bot=bot,
            names=names,
        ),
    )
