"""The Bolt app (HTTP and Socket Mode): records every message to answer before Slack is
acknowledged, and /reset."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from app.errors import StoreError
from app.slack.events import (
    RESET_HELP,
    BotIdentity,
    delivery_id,
    inbound_from_event,
    plan_reset,
)
from app.store.base import Store
from app.turns.commands import reset_conversation

log = logging.getLogger(__name__)


def build_bolt_app(
    *,
    client: AsyncWebClient,
    signing_secret: str | None,
    store: Store,
    agent: str,
    bot: Callable[[], BotIdentity],
    wake: Callable[[], None],
) -> AsyncApp:
    """Wire the Bolt app from its collaborators (nothing global)."""

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

    @app.middleware
    async def record_before_ack(
        body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        inbound = inbound_from_event(body, agent=agent, bot=bot())
        if inbound is None:
            await next()
            return None
        try:
            fresh = await store.record_delivery(
                delivery_id(inbound), "slack", inbound.key, inbound.to_payload()
            )
        except StoreError as exc:
            log.error("could not record Slack event %s: %s", body.get("event_id"), exc)
            # Not acknowledged: Slack retries the delivery later.
            return BoltResponse(status=503, body="store unavailable")
        if not fresh:
            log.info("duplicate Slack delivery %s ignored", delivery_id(inbound))
            return BoltResponse(status=200, body="")
        wake()
        await next()
        return None

    async def recorded(ack: AsyncAck) -> None:
        # The middleware has stored the message; the worker answers it.
        await ack()

    app.event("app_mention")(recorded)
    app.event("message")(recorded)

    # Interactivity is enabled so Slack can deliver button clicks and shortcuts to this URL;
    # none needs an answer yet, but each is acknowledged so Slack shows the user no error.
    everything = re.compile(".*")
    app.action(everything)(recorded)
    app.shortcut(everything)(recorded)
    app.view(everything)(recorded)

    @app.command("/reset")
    async def reset_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        plan = plan_reset(command, agent=agent)
        if plan.key is None:
            await ack(text=plan.refusal or RESET_HELP)
            return
        try:
            result = await reset_conversation(
                store, plan.key, where=plan.where, cause=f"/reset by {command.get('user_id')}"
            )
        except StoreError as exc:
            log.error("/reset failed: %s", exc)
            await ack(
                text="I couldn't reset right now (my database is unavailable). Please try again."
            )
            return
        await ack(text=result.text)

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
