"""The Bolt app (HTTP and Socket Mode): the Slack edge.

A global middleware sees every payload before it is acknowledged:

* opening the App Home tab publishes the person's tab (``app.slack.home``);
* a message for the bot (with ``FOLLOW_THREADS``, also a message in a thread it follows:
  ``app.slack.follow``) is checked against the access policy (``app.slack.policy``). Refused,
  it is acknowledged and dropped (counted, and the person gets a short ephemeral note at most
  once an hour); allowed, it is recorded in the inbox, and only then acknowledged;
* an allowed message whose conversation already has ``MAX_PENDING_PER_CONVERSATION``
  deliveries waiting is acknowledged and not queued (counted as ``conversation_backlog``);
  the thread gets one short "slow down" note, at most once a minute (``BacklogNotes``);
* an edit or deletion of a person's own message rewrites what the transcript holds of it
  (``app.slack.edits``);
* the second copy of a message this process has just recorded (a mention in a thread comes
  as ``app_mention`` and as ``message``) is acknowledged without asking the store
  (``app.http.recent``); the inbox still refuses any copy it has seen;
* a click on an approval card's button (``app.slack.cards``) is recorded in the inbox in the
  lane of the card's conversation, once per click, and only then acknowledged; so is a vote on
  an answer and the reason given in the thumbs-down modal (``app.slack.feedback``), whose
  modal is opened once the vote is recorded; other interactions are acknowledged and ignored;
* someone opening the bot (``assistant_thread_started``, the DM's messages tab) is offered
  the suggested prompts (``app.slack.assistant``); every other event is acknowledged;
* any of these store calls failing answers 503, so Slack delivers the event again.

Text longer than ``MAX_MESSAGE_CHARS`` is cut when the event is parsed
(``app.slack.events.inbound_from_event``).

``/reset`` follows the same policy; a refusal is the command's answer.

This module builds the Bolt app; the listeners live in ``app.http.listeners``, one module per
feature: ``inbox`` (the global middleware), ``events``, ``interactivity``, ``commands``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from app.config import ActionSettings, TrustSettings
from app.http.listeners import (
    EVERYTHING,
    BoltDeps,
    commands,
    events,
    inbox,
    interactivity,
    recorded,
)
from app.http.listeners.inbox import BACKLOG_NOTE
from app.metrics import Metrics
from app.slack.assistant import AssistantThreads
from app.slack.events import BotIdentity
from app.slack.follow import Following
from app.slack.home import HomeTab
from app.slack.refusals import BacklogNotes
from app.store.base import Store

# The backlog note and its sender stay importable from the Slack edge's entry module.
__all__ = ["BACKLOG_NOTE", "BacklogNotes", "build_bolt_app"]


def build_bolt_app(
    *,
    client: AsyncWebClient,
    signing_secret: str | None,
    store: Store,
    agent: str,
    bot: Callable[[], BotIdentity],
    wake: Callable[[], None],
    trust: TrustSettings,
    actions: ActionSettings,
    metrics: Metrics,
    clock: Callable[[], datetime],
    following: Following | None = None,
    home: HomeTab | None = None,
    assistant: AssistantThreads | None = None,
) -> AsyncApp:
    """Wire the Bolt app from its collaborators (nothing global). ``following``: answer
    unmentioned messages in threads the bot follows (``FOLLOW_THREADS``); ``home``: publish
    a person's App Home tab when they open it."""
    deps = BoltDeps(
        client=client,
        store=store,
        agent=agent,
        bot=bot,
        wake=wake,
        trust=trust,
        actions=actions,
        metrics=metrics,
        clock=clock,
        following=following,
        home=home,
        assistant=assistant,
    )

    async def authorize(**_: Any) -> AuthorizeResult:
        # The identity comes from auth.test at start, so a Slack hiccup at request time
        # cannot turn into an acknowledged-but-unrecorded event.
        identity = bot()
        return AuthorizeResult(
            enterprise_id=None,
            team_id=identity.team_id,
            bot_token=client.token,
            bot_id=identity.bot_id,
            bot_user_id=identity.user_id,
        )

    _quiet_token_notice()
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        request_verification_enabled=signing_secret is not None,
        authorize=authorize,
        process_before_response=False,
        raise_error_for_unhandled_request=False,
    )
    inbox.register(app, deps)
    events.register(app, deps)
    interactivity.register(app, deps)
    commands.register(app, deps)
    # Every other event the app is subscribed to is acknowledged, never answered 404 (Slack
    # would retry it and eventually turn the subscription off). Keep this listener last.
    app.event(EVERYTHING)(recorded)
    return app


class _TokenNoticeFilter(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN "will be ignored" when ``authorize`` is given; here the
    same token is what ``authorize`` hands out, so the warning would only mislead operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be ignored" not in record.getMessage()


def _quiet_token_notice() -> None:
    bolt_log = logging.getLogger("slack_bolt.AsyncApp")
    if not any(isinstance(f, _TokenNoticeFilter) for f in bolt_log.filters):
        bolt_log.addFilter(_TokenNoticeFilter())
